"""An evaluation report as a Markdown card with SVG plots (confusion matrix, per-class bars).

The plots are SVG written directly, like `hub.plots`: every cell of the confusion matrix is a
`<rect class="cell">` carrying its true and predicted class and its count; class names are
XML-escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from hub.plots import _FONT, bar_chart

if TYPE_CHECKING:
    from hub.evaluation import EvalReport

__all__ = ["card", "confusion_svg", "plots"]

_CHAR = 6.2


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _figure(fig: dict[str, Any]) -> str:
    text = _fmt(fig.get("value"))
    if fig.get("ci95") and fig["ci95"][0] is not None:
        text += f" [{_fmt(fig['ci95'][0])}, {_fmt(fig['ci95'][1])}]"
    return text


def _groups(fig: dict[str, Any]) -> str:
    ci = fig.get("ci95_groups")
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and ci[0] is not None else "-"


def confusion_svg(title: str, rows: list[str], columns: list[str], matrix: list[list[int]]) -> str:
    """A confusion matrix heatmap: rows the true classes, columns the predicted ones."""
    cell = 28.0 if len(columns) <= 20 else 16.0
    longest = max((len(c) for c in [*rows, *columns]), default=1)
    left, top = 24 + longest * _CHAR, 40 + longest * _CHAR * 0.71
    width, height = left + cell * len(columns) + 20, top + cell * len(rows) + 40
    highest = max((v for r in matrix for v in r), default=0) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" {_FONT} font-size="11">',
           f"<title>{escape(title)}</title>", f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
           f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for j, name in enumerate(columns):
        x = left + j * cell + cell / 2
        out.append(f'<text transform="translate({x:.1f} {top - 6:.1f}) rotate(-45)" fill="#222">{escape(name)}</text>')
    for i, name in enumerate(rows):
        y = top + i * cell
        out.append(f'<text x="{left - 6:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" fill="#222">{escape(name)}</text>')
        for j, value in enumerate(matrix[i]):
            shade = int(255 - 200 * value / highest)
            colour = f"rgb({shade},{shade},255)" if i != j else f"rgb({shade},255,{shade})"
            out.append(f'<rect class="cell" data-true={quoteattr(name)} data-predicted={quoteattr(columns[j])} data-value="{value}" '
                       f'x="{left + j * cell:.1f}" y="{y:.1f}" width="{cell - 1:.1f}" height="{cell - 1:.1f}" fill="{colour}">'
                       f"<title>{escape(f'true {name}, predicted {columns[j]}: {value}')}</title></rect>")
            if value and cell >= 28:
                out.append(f'<text x="{left + j * cell + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" font-size="10" fill="#111">{value}</text>')
    out.append(f'<text x="{left + cell * len(columns) / 2:.1f}" y="{height - 12:.1f}" text-anchor="middle" fill="#444">rows: true class; columns: predicted</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def plots(report: EvalReport) -> dict[str, str]:
    """The SVG plots of a report, by file stem."""
    out = {}
    details = report.details
    per_class = details.get("per_class") or {}
    if report.kind == "classification" and per_class:
        names = list(per_class)
        series = {m: [per_class[c][m]["value"] or 0.0 for c in names] for m in ("precision", "recall", "f1")}
        out["per-class"] = bar_chart(f"{report.task}: precision, recall and F1 per class", names, series, "score", percent=True)
        conf = details["confusion"]
        out["confusion"] = confusion_svg(f"{report.dataset}@{report.version} {report.split}: confusion matrix", conf["labels"], conf["columns"], conf["matrix"])
    elif report.kind == "boxes" and per_class:
        names = list(per_class)
        out["per-class"] = bar_chart(f"{report.task}: AP per class", names, {m: [per_class[c][m] or 0.0 for c in names] for m in ("ap", "ap50", "ap75")}, "AP", percent=True)
    elif report.kind == "transcription" and details.get("by_language"):
        langs = list(details["by_language"])
        series = {m: [details["by_language"][lang].get(m) or 0.0 for lang in langs] for m in ("wer", "cer") if m in report.metrics}
        out["by-language"] = bar_chart(f"{report.task}: error rates per language", langs, series, "error rate", percent=True)
    return out


def card(report: EvalReport) -> str:
    """The Markdown card of a report."""
    d = report.to_dict()
    lines = [f"# Evaluation: {report.dataset}@{report.version}, {report.split} split, {report.task}", "",
             "| what was measured | |", "|---|---|",
             f"| dataset | `{report.dataset}` version `{report.version}` |",
             f"| manifest sha256 | `{report.manifest_sha256}` |",
             f"| split | `{report.split}`: {report.records} records, {report.coverage['labelled']} labelled |",
             f"| task | `{report.task}` (field `{report.field}`, {report.kind}) |",
             f"| predictions | `{report.predictions['path']}` ({report.predictions['format']}, {report.predictions['rows']} rows), sha256 `{report.predictions['sha256']}` |",
             f"| libraries | {', '.join(f'{k} {v}' for k, v in report.libraries.items())} |"]
    if "normalizer" in d:
        n = d["normalizer"]
        lines.append(f"| text normalizer | {n['name']} v{n['version']}: {'; '.join(n['steps'])} |")
    b = report.bootstrap
    lines.append(f"| intervals | 95% bootstrap, {b['resamples']} resamples, seed {b['seed']}, over records"
                 f"{' and over groups (' + b['groups'] + ')' if b.get('groups') else ''} |")
    lines += ["", "## Figures", "", "| metric | value [95% interval over records] | 95% interval over groups |", "|---|---|---|"]
    lines += [f"| {name} | {_figure(fig)} | {_groups(fig)} |" for name, fig in report.metrics.items()]
    if d.get("definitions"):
        lines += ["", d["definitions"]]
    per_class = d.get("per_class") or {}
    if per_class and report.kind == "classification":
        lines += ["", "## Per class", "", "| class | support | precision | recall | F1 | FNR | FPR |", "|---|---|---|---|---|---|---|"]
        for name, c in per_class.items():
            lines.append(f"| {name} | {c['support']} | {' | '.join(_figure(c[m]) for m in ('precision', 'recall', 'f1', 'fnr', 'fpr'))} |")
    elif per_class:
        lines += ["", "## Per class", "", "| class | AP | AP50 | AP75 |", "|---|---|---|---|"]
        lines += [f"| {name} | {_fmt(c['ap'])} | {_fmt(c['ap50'])} | {_fmt(c['ap75'])} |" for name, c in per_class.items()]
    if d.get("by_language"):
        lines += ["", "## Per language", "", "| language | records | WER | CER |", "|---|---|---|---|"]
        lines += [f"| {lang} | {x['records']} | {_fmt(x.get('wer'))} | {_fmt(x.get('cer'))} |" for lang, x in d["by_language"].items()]
    lines += ["", "## Coverage", ""]
    cov = report.coverage
    lines.append(f"{cov['predicted']} of {cov['labelled']} labelled records have a prediction; {cov['missing']} have none and count as wrong.")
    for p in report.problems:
        shown = ", ".join(f"`{i}`" for i in p["ids"][:10])
        lines.append(f"- **{p['slug']}**: {p['message']} ({shown}{', ...' if p['count'] > 10 else ''})")
    if report.targets:
        lines += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
        lines += [f"| `{t['target']}` | {_fmt(t['value'])} | {'yes' if t['met'] else '**no**'} |" for t in report.targets]
    names = plots(report)
    if names:
        lines += ["", "## Plots", ""] + [f"![{name}](plots/{name}.svg)" for name in names]
    return "\n".join(lines) + "\n"
