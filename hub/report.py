"""Validation reports: every problem found, each with a slug, a place and a fix.

Modelled on frictionless: validation never stops at the first problem; the caller decides
whether to raise (`Report.raise_for_problems`). Each slug has a title and a fix text here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hub.errors import ValidationFailed

__all__ = ["DETAIL_LIMIT", "PROBLEM_TYPES", "Problem", "Report", "render_report"]

_PII_FIX = "Remove the personal data from the record, or set `pii: redact` in dataset.yaml to publish it replaced by a typed placeholder (hub.pii)."

# slug -> (title, how to fix)
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "malformed-yaml": ("Malformed YAML", "Fix the YAML syntax at the line given (indentation, quotes, colons)."),
    "entry-schema": ("dataset.yaml does not match its schema", "Edit dataset.yaml; schemas/dataset.schema.json lists the fields."),
    "unknown-modality": ("Unknown modality", "Use one of: speech, image, dialogue, industrial."),
    "unknown-record": ("Record type does not fit the modality", "Pick a record type of the modality (industrial: sensor or inspection)."),
    "bad-license": ("License is not a valid SPDX expression", "Use SPDX ids (https://spdx.org/licenses/) or LicenseRef-<name>."),
    "bad-split-policy": ("Split policy is inconsistent", "Name a group_key/stratify_key that the record schema has; ratios must sum to 1."),
    "source-error": ("Source could not be read", "Check the source section of dataset.yaml and the files it names."),
    "checksum-mismatch": ("Source file changed", "The file's sha256 differs from dataset.yaml: restore the file or update the checksum."),
    "unsafe-path": ("Path leaves the dataset folder", "Use paths relative to the dataset folder, without '..' or absolute paths; replace a link that points outside the folder with a copy of the file."),
    "oversized-row": ("Record too large", "Split the record, or raise HUB_MAX_ROW_BYTES if it is genuine."),
    "type-error": ("Value has the wrong type or shape", "Make the field match the record schema in schemas/."),
    "missing-field": ("Required field missing", "Add the field to every record (see the record schema)."),
    "unknown-field": ("Field not in the record schema", "Remove the field or rename it to one the schema has."),
    "constraint-error": ("Value out of range", "Make the value satisfy the record schema's constraint."),
    "blank-text": ("Text is empty", "Give a non-blank value, or remove the record."),
    "duplicate-id": ("Record id repeated", "Record ids must be unique: rename or remove the later record."),
    "missing-group-key": ("Group key missing", "Every record needs a value in the split policy's group_key field."),
    "label-not-in-set": ("Label outside the label set", "Add the label to `labels` in dataset.yaml or correct the record."),
    "undecodable-audio": ("Audio cannot be decoded", "Re-export the file as WAV, FLAC or OGG; check it plays."),
    "undecodable-image": ("Image cannot be decoded", "Re-export the file as PNG or JPEG; check it opens."),
    "undecodable-video": ("Video cannot be decoded", "Re-export the clip whole (e.g. `ffmpeg -i in -c:v libx264 out.mp4`); check it plays to the end."),
    "inconsistent-record": ("Fields disagree with each other", "Make the fields consistent (e.g. one unit and one series per channel)."),
    "not-utf8": ("Line is not UTF-8 text", "Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or fix the bytes on that line."),
    "too-deep": ("Record nested too deeply", "Records nest arrays and objects at most 64 levels deep (the schemas need 4): fix the line."),
    "duplicate-key": ("Key repeated in one object", "Give each key once per object: a JSON reader keeps only the last value, and the hub will not guess."),
    "bad-box": ("Box outside its image or of no size", "Give boxes as [x, y, width, height] in pixels (COCO), inside the image, with width and height "
                "above 0; convert [x1, y1, x2, y2] boxes to that form."),
    "bad-mapping": ("source.fields does not fit the data", "Fix source.fields in dataset.yaml: name columns the records have, one column per field, "
                    "and a transform that fits the values (README: Bring your corpus)."),
    "bad-span": ("Span ends before it starts", "Give start and end in seconds from the start of the record, with end >= start (swap them if reversed)."),
    "time-gap": ("Record in a time split's gap", "A time split leaves out records that end within split.gap of the next split's start: publish with "
                 "--allow-rejects to leave them out (they stay in quarantine), or make split.gap smaller."),
    "license-incompatible": ("Derived license drops a parent's terms", "Declare a license that keeps the terms of every parent the message names "
                             "(a parent's own ShareAlike or NonCommercial license usually does), or derive from other parents."),
    "license-unknown": ("Parent's license terms are unknown", "Read the parent's license; if it allows this use, derive again with --accept-license-risk."),
    "record-license-invalid": ("Record license is not a valid SPDX expression", "Give the record's `license` as an SPDX expression (https://spdx.org/licenses/), "
                               "LicenseRef-<name> for other terms, or leave it empty for the dataset's license."),
    "record-attribution-missing": ("Record's license requires attribution, and it has none", "Say in the record's `attribution` whom to credit "
                                   "(its author or source), or correct its `license`."),
    **{f"pii-{kind}": (f"{title} in free text", _PII_FIX) for kind, title in (
        ("email", "Email address"), ("phone", "Phone number"), ("cn-mobile", "Chinese mobile number"), ("cn-resident-id", "Chinese resident ID number"),
        ("credit-card", "Credit card number"), ("iban", "IBAN"), ("ip-address", "IP address"))},
}


@dataclass
class Problem:
    slug: str
    message: str
    file: str | None = None
    row: int | None = None  # 1-based position in the source
    field: str | None = None
    record_id: str | None = None
    hint: str | None = None  # what to change in this dataset (the expected shape, the nearest values); else the slug's fix

    @property
    def title(self) -> str:
        return PROBLEM_TYPES[self.slug][0]

    @property
    def fix(self) -> str:
        return self.hint or PROBLEM_TYPES[self.slug][1]

    @property
    def where(self) -> str:
        parts = [self.file or "?"]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["hint"]
        return {**data, "title": self.title, "fix": self.fix}


@dataclass
class Report:
    """What validating one dataset found."""

    dataset: str
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    rows_valid: int = 0
    quarantine: str | None = None  # path of the rejected rows, when there are any
    totals: dict[str, int] = field(default_factory=dict)  # every problem, counted by slug
    keep: int = 1000  # problems kept per slug; the quarantine file has every rejected row
    extras: dict[str, Any] = field(default_factory=dict)  # the source's extra fields: {"kept": {name: Arrow type}, "dropped": [names]} (hub.mapping)
    notices: list[dict[str, str]] = field(default_factory=list)  # not problems: what a changed split policy will and will not change (hub.split_rules)

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_valid

    @property
    def valid(self) -> bool:
        return not self.problems

    def add(self, slug: str, message: str, **where: Any) -> Problem:
        if slug not in PROBLEM_TYPES:
            raise KeyError(f"unknown problem slug {slug!r}")
        problem = Problem(slug, message, **where)
        self.totals[slug] = self.totals.get(slug, 0) + 1
        if self.totals[slug] <= self.keep:
            self.problems.append(problem)
        return problem

    def counts(self) -> dict[str, int]:
        """Every problem found, by slug (`problems` keeps at most `keep` of each)."""
        return dict(self.totals)

    def summary(self, first: int = 5) -> list[dict[str, Any]]:
        """One item per slug, most frequent first: how many, the first rows, and the fixes.

        `fixes` are the distinct fixes of the slug's problems with how many problems each
        covers, most common first (at most 3; e.g. one "did you mean" per unknown label).
        """
        by_slug: dict[str, list[Problem]] = {}
        for p in self.problems:
            by_slug.setdefault(p.slug, []).append(p)
        items = []
        for slug, problems in by_slug.items():
            fixes: dict[str, int] = {}
            for p in problems:
                fixes[p.fix] = fixes.get(p.fix, 0) + 1
            ranked = sorted(fixes.items(), key=lambda kv: -kv[1])
            items.append({
                "slug": slug,
                "title": PROBLEM_TYPES[slug][0],
                "count": self.totals.get(slug, len(problems)),
                "fields": sorted({p.field for p in problems if p.field}),
                "first": [{"file": p.file, "row": p.row, "field": p.field, "message": p.message} for p in problems[:first]],
                "fixes": [{"fix": fix, "count": n} for fix, n in ranked[:3]],
                "other_fixes": max(0, len(ranked) - 3),
            })
        return sorted(items, key=lambda item: -item["count"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "valid": self.valid,
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "quarantine": self.quarantine,
            "counts": self.counts(),
            "extras": self.extras,
            "notices": self.notices,
            "summary": self.summary(),
            "problems": [p.to_dict() for p in self.problems],
        }

    def raise_for_problems(self) -> None:
        """Raise `ValidationFailed` carrying this report if any problem was found."""
        if self.problems:
            n = sum(self.totals.values())
            summary = f"{self.dataset}: {n} problem{'s' if n != 1 else ''} found"
            if self.rows_rejected:
                summary += f", {self.rows_rejected} of {self.rows_read} rows rejected"
            raise ValidationFailed(summary, report=self)


DETAIL_LIMIT = 20  # problem lines the console shows after the summary (`hub validate --all`: every one)


def _where(p: dict[str, Any]) -> str:
    return (f"{p['file'] or '?'}{', row ' + str(p['row']) if p['row'] is not None else ''}"
            f"{', field ' + repr(p['field']) if p['field'] else ''}")


def render_report(report: dict[str, Any], limit: int | None = DETAIL_LIMIT) -> list[str]:
    """The console form of a report (`Report.to_dict()`): a status line, one summary per slug
    (count, first rows, fixes), then the problems one per line, the first `limit` (None: all).
    A few problems, each of its own kind, are listed without the summary, each with its fix."""
    lines = [f"{report['dataset']}: {'valid' if report['valid'] else 'INVALID'} ({report['rows_valid']} of {report['rows_read']} rows valid)"]
    extras = report.get("extras") or {}
    if extras.get("kept"):
        lines.append("  extra fields kept: " + ", ".join(f"{name} ({kind})" for name, kind in extras["kept"].items()))
    if extras.get("dropped"):
        lines.append("  extra fields dropped (source.extras: drop): " + ", ".join(extras["dropped"]))
    lines += [f"  notice: {n['message']}" for n in report.get("notices") or []]
    total = sum(report["counts"].values())
    summary = report.get("summary") or []
    problems = report["problems"]
    if len(problems) == total and all(item["count"] == 1 for item in summary) and (limit is None or total <= limit):
        summary = []  # a few problems of different kinds: each line with its fix says it all
    if summary:
        lines.append(f"  {total} problem{'s' if total != 1 else ''} of {len(summary)} kind{'s' if len(summary) != 1 else ''}:")
    summarised: set[str] = set()
    for item in summary:
        fields = f" (field{'s' if len(item['fields']) > 1 else ''} {', '.join(repr(f) for f in item['fields'][:3])}{', ...' if len(item['fields']) > 3 else ''})" if item["fields"] else ""
        lines.append(f"  {item['slug']} x{item['count']}: {item['title']}{fields}")
        rows = [f"{f['file'] or '?'} row {f['row']}" if f["row"] is not None else (f["file"] or "?") for f in item["first"]]
        if rows and any(f["row"] is not None for f in item["first"]):
            more = item["count"] - len(rows)
            lines.append(f"      first: {'; '.join(rows)}{f' and {more} more' if more > 0 else ''}")
        for fix in item["fixes"]:
            share = f" ({fix['count']} of them)" if len(item["fixes"]) > 1 else ""
            lines.append(f"      fix{share}: {fix['fix']}")
            summarised.add(fix["fix"])
        if item["other_fixes"]:
            lines.append(f"      ({item['other_fixes']} other fixes: see the details)")
    shown = problems if limit is None else problems[:limit]
    if summary:
        head = "every problem" if len(shown) == total else f"the first {len(shown)} of {total}"
        lines.append(f"  details ({head}{'' if len(shown) == total else '; `hub validate --all` for every one'}):")
    for p in shown:
        lines.append(f"  [{p['slug']}] {_where(p)}: {p['message']}")
        if p["fix"] not in summarised:
            lines.append(f"      fix: {p['fix']}")
    if len(shown) < total and len(shown) == len(problems) and limit is None:
        lines.append(f"  ... and {total - len(shown)} more of the same kinds (the report keeps the first of each kind)")
    if report["quarantine"]:
        lines.append(f"  rejected rows: {report['rows_rejected']}, kept in {report['quarantine']}")
    return lines
