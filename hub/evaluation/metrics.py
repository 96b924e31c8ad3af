"""The scoring engines, one per kind of labelled field, each computing its figures with the
library its field uses (never re-implemented where one exists):

| kind           | fields                               | library            | figures                                  |
|----------------|--------------------------------------|--------------------|------------------------------------------|
| classification | label, defect, intent, fault         | scikit-learn       | accuracy, macro P/R/F1; per class P/R/F1, FNR, FPR; confusion matrix |
| transcription  | transcript                           | jiwer              | WER, CER (after `NORMALIZER`)            |
| boxes          | objects                              | pycocotools        | COCO mAP@[.5:.95], AP50, AP75; per class |
| spans          | anomalies                            | scikit-learn       | event-wise P/R/F1, point-adjusted F1     |
| segments       | segments (speakers)                  | pyannote.metrics   | diarization error rate and its parts     |

Record types pick an engine for each of their tasks (`RecordType.evaluations`) and may hand
it what only they know (a speech record's language, a sensor window's time grid).

A record without a usable prediction (missing, disqualified as a duplicate, or a class
outside the label set) is scored as wrong: no class, an empty transcript, no boxes, no spans.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from hub.evaluation.bootstrap import figures, group_sums

__all__ = ["ENGINES", "NORMALIZER", "SHAPES", "Scoring", "normalize_text"]

NORMALIZER = {
    "name": "hub-text",
    "version": 1,
    "steps": ["Unicode NFKC", "case-fold", "delete Unicode punctuation (categories P*)", "collapse whitespace to one space", "strip"],
}
# languages written without spaces between words: their transcripts are scored by CER only
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu"})
NONE = "(none)"  # the confusion matrix column of records with no valid prediction
_GROUP_CELLS = 20_000_000  # groups x confusion cells held at once for the per-group bootstrap


@dataclass
class Scoring:
    """A split's labelled records and their predictions, aligned, for one task."""

    field: str
    ids: list[str]
    truth: list[Any]  # the labelled field of each record, class names decoded
    predictions: list[Any]  # the prediction of each record, in the task's shape; None: no usable prediction
    labels: list[str]  # the dataset's label set
    groups: np.ndarray | None  # each record's group index, when the split has a group key
    columns: dict[str, list[Any]] = field(default_factory=dict)  # other columns the task reads
    resamples: int = 1000
    seed: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, slug: str, message: str, ids: list[str]) -> None:
        self.problems.append({"slug": slug, "message": message, "count": len(ids), "ids": ids})


# -- prediction shapes ---------------------------------------------------------------------


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, not {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} is {value!r}: scores and coordinates must be finite numbers")
    return float(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"the prediction must be {what} (a string), not {type(value).__name__} {value!r}")
    return value


def _structured(value: Any) -> Any:
    if isinstance(value, str):  # a CSV cell holds JSON text
        import json

        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the prediction is text that is not JSON ({exc.msg} at character {exc.pos})") from None
    return value


def boxes_shape(value: Any) -> dict[str, list[Any]]:
    """{"bbox": [[x, y, w, h], ...], "category": [...], "score": [...]} from either accepted form."""
    value = _structured(value)
    if isinstance(value, list):
        if not all(isinstance(b, dict) for b in value):
            raise ValueError("a list of boxes must hold objects with bbox, category and score")
        value = {"bbox": [b.get("bbox") for b in value], "category": [b.get("category") for b in value], "score": [b.get("score") for b in value]}
    if not isinstance(value, dict) or not all(isinstance(value.get(k), list) for k in ("bbox", "category", "score")):
        raise ValueError(f"the prediction must be boxes with scores, not {type(value).__name__} {str(value)[:60]!r}")
    if not len(value["bbox"]) == len(value["category"]) == len(value["score"]):
        raise ValueError(f"bbox, category and score have {len(value['bbox'])}, {len(value['category'])} and {len(value['score'])} entries: one each per box")
    bbox = []
    for i, b in enumerate(value["bbox"]):
        if not isinstance(b, list) or len(b) != 4:
            raise ValueError(f"box {i}: bbox must be [x, y, width, height], not {b!r}")
        x, y, w, h = (_finite(v, f"box {i}'s bbox") for v in b)
        if w < 0 or h < 0:
            raise ValueError(f"box {i}: width and height must not be negative, got {w} and {h}")
        bbox.append([x, y, w, h])
    score = [_finite(s, f"box {i}'s score") for i, s in enumerate(value["score"])]
    category = [_text(c, f"box {i}'s category") for i, c in enumerate(value["category"])]
    return {"bbox": bbox, "category": category, "score": score}


def spans_shape(value: Any) -> list[dict[str, Any]]:
    """[{"start": s, "end": s, "label": name}, ...]."""
    value = _structured(value)
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise ValueError(f"the prediction must be a list of spans {{start, end, label}}, not {type(value).__name__} {str(value)[:60]!r}")
    out = []
    for i, s in enumerate(value):
        start, end = _finite(s.get("start"), f"span {i}'s start"), _finite(s.get("end"), f"span {i}'s end")
        if end < start:
            raise ValueError(f"span {i} ends ({end}) before it starts ({start})")
        out.append({"start": start, "end": end, "label": _text(s.get("label"), f"span {i}'s label")})
    return out


SHAPES: dict[str, tuple[Callable[[Any], Any], str]] = {
    "classification": (lambda v: _text(v, "a class name"), 'a class name (a string): {"id": "...", "prediction": "cat"}'),
    "transcription": (lambda v: _text(v, "a transcript"), 'a transcript (a string): {"id": "...", "prediction": "the kettle is boiling"}'),
    "boxes": (boxes_shape, ('boxes with scores: {"id": "...", "prediction": {"bbox": [[x, y, width, height]], "category": ["cat"], "score": [0.9]}} '
                            "(or a list of {bbox, category, score}; in CSV, that JSON as text)")),
    "segments": (spans_shape, 'speaker segments in seconds: {"id": "...", "prediction": [{"start": 0.0, "end": 2.5, "label": "spk-1"}]} (in CSV, that JSON as text)'),
    "spans": (spans_shape, 'spans in seconds: {"id": "...", "prediction": [{"start": 1.0, "end": 2.5, "label": "spike"}]} (in CSV, that JSON as text)'),
}


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _f1(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    return _rate(2 * p * r, p + r)


# -- classification ------------------------------------------------------------------------


def classification(s: Scoring) -> dict[str, Any]:
    """Accuracy, macro and per-class precision/recall/F1, FNR, FPR and the confusion matrix
    (scikit-learn). Macro figures average the classes that occur in the labels or predictions."""
    import sklearn
    from sklearn.metrics import accuracy_score, confusion_matrix, multilabel_confusion_matrix, precision_recall_fscore_support

    k = len(s.labels)
    index = {name: i for i, name in enumerate(s.labels)}
    truth = np.fromiter((index[t] for t in s.truth), dtype=np.int64, count=len(s.truth))
    pred = np.fromiter((index.get(p, k) if p is not None else k for p in s.predictions), dtype=np.int64, count=len(s.predictions))
    outside = [(i, p) for i, p in enumerate(s.predictions) if p is not None and p not in index] if (pred == k).any() else []
    if outside:
        names = sorted({p for _, p in outside})
        s.problem("unknown-label", f"{len(outside)} predictions name a class outside the label set ({', '.join(map(repr, names[:10]))}"
                                   f"{', ...' if len(names) > 10 else ''}); they count as wrong", [s.ids[i] for i, _ in outside])
    present = sorted(set(np.unique(truth).tolist()) | (set(np.unique(pred).tolist()) - {k}))
    precision, recall, f1, support = precision_recall_fscore_support(truth, pred, labels=present, zero_division=0)
    macro = precision_recall_fscore_support(truth, pred, labels=present, average="macro", zero_division=0)
    mcm = multilabel_confusion_matrix(truth, pred, labels=present)  # per class [[tn, fp], [fn, tp]]
    cm = confusion_matrix(truth, pred, labels=list(range(k + 1)))
    point = {"accuracy": accuracy_score(truth, pred), "macro_precision": macro[0], "macro_recall": macro[1], "macro_f1": macro[2]}
    for j, c in enumerate(present):
        tn, fp, fn, tp = mcm[j].ravel()
        name = s.labels[c]
        point |= {f"precision[{name}]": precision[j], f"recall[{name}]": recall[j], f"f1[{name}]": f1[j],
                  f"fnr[{name}]": _rate(fn, fn + tp).item(), f"fpr[{name}]": _rate(fp, fp + tn).item()}
    side = k + 1
    cells = truth * side + pred

    def stat(sums: np.ndarray) -> dict[str, np.ndarray]:
        m = sums.reshape(len(sums), side, side)
        n = m.sum(axis=(1, 2))
        tp = m[:, present, present]
        predicted = m[:, :, present].sum(axis=1)
        actual = m[:, present, :].sum(axis=2)
        p, r = _rate(tp, predicted), _rate(tp, actual)
        f = _f1(p, r)
        fp, fn = predicted - tp, actual - tp
        tn = n[:, None] - tp - fp - fn
        out = {"accuracy": _rate(np.trace(m, axis1=1, axis2=2), n), "macro_precision": p.mean(axis=1), "macro_recall": r.mean(axis=1), "macro_f1": f.mean(axis=1)}
        for j, c in enumerate(present):
            name = s.labels[c]
            out |= {f"precision[{name}]": p[:, j], f"recall[{name}]": r[:, j], f"f1[{name}]": f[:, j],
                    f"fnr[{name}]": _rate(fn[:, j], actual[:, j]), f"fpr[{name}]": _rate(fp[:, j], fp[:, j] + tn[:, j])}
        return out

    counts = np.bincount(cells, minlength=side * side)
    group_table, groups_note = None, None
    if s.groups is not None and len(s.groups):
        n_groups = int(s.groups.max()) + 1
        if n_groups == len(truth):
            group_table, groups_note = None, "each record is its own group: the interval over groups is the one over records"
        elif n_groups * side * side <= _GROUP_CELLS:
            group_table = np.bincount(s.groups * side * side + cells, minlength=n_groups * side * side).reshape(n_groups, side * side)
        else:
            groups_note = f"no interval over groups: {n_groups} groups x {side * side} confusion cells is more than the {_GROUP_CELLS} held at once"
    notes = [groups_note] if groups_note else []
    figs = figures(point, None, counts, group_table, stat, s.resamples, s.seed, notes)
    headline = {name: figs.pop(name) for name in ("accuracy", "macro_precision", "macro_recall", "macro_f1")}
    per_class = {}
    for j, c in enumerate(present):
        name = s.labels[c]
        per_class[name] = {m: figs[f"{m}[{name}]"] for m in ("precision", "recall", "f1", "fnr", "fpr")} | {"support": int(support[j])}
    return {
        "metrics": headline,
        "per_class": per_class,
        "confusion": {"labels": s.labels, "columns": [*s.labels, NONE], "matrix": cm[:k].tolist()},
        "groups_note": "; ".join(notes) or None,
        "libraries": {"scikit-learn": sklearn.__version__},
    }


# -- transcription -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _punctuation() -> dict[int, None]:
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)).startswith("P")}


def normalize_text(text: str) -> str:
    """`text` under the hub's transcript normalizer (`NORMALIZER`, version 1)."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_punctuation())
    return " ".join(text.split())


def _edit_counts(output: Any) -> tuple[np.ndarray, np.ndarray]:
    """(errors, reference length) of every sentence of a jiwer WordOutput/CharacterOutput."""
    errors = np.zeros(len(output.alignments), dtype=np.int64)
    for i, chunks in enumerate(output.alignments):
        e = 0
        for c in chunks:
            if c.type == "substitute" or c.type == "delete":
                e += c.ref_end_idx - c.ref_start_idx
            elif c.type == "insert":
                e += c.hyp_end_idx - c.hyp_start_idx
        errors[i] = e
    lengths = np.fromiter((len(r) for r in output.references), dtype=np.int64, count=len(output.references))
    return errors, lengths


def transcription(s: Scoring) -> dict[str, Any]:
    """Corpus WER and CER (jiwer) after `NORMALIZER`: errors summed over the records, divided by
    the reference words (characters). WER leaves out languages written without spaces."""
    import jiwer

    refs = [normalize_text(t) for t in s.truth]
    hyps = [normalize_text(p) if p is not None else "" for p in s.predictions]
    languages = [str(lang or "").split("-")[0].lower() for lang in s.columns.get("language", [""] * len(refs))]
    spaced = np.array([lang not in NO_SPACE_LANGUAGES for lang in languages])
    chars = jiwer.process_characters(refs, hyps)
    c_err, c_len = _edit_counts(chars)
    w_err, w_len = np.zeros(len(refs), np.int64), np.zeros(len(refs), np.int64)
    point: dict[str, float | None] = {"cer": chars.cer}
    if spaced.any():
        keep = np.flatnonzero(spaced)
        words = jiwer.process_words([refs[i] for i in keep], [hyps[i] for i in keep])
        w_err[keep], w_len[keep] = _edit_counts(words)
        point = {"wer": words.wer, **point}
    table = np.stack([w_err, w_len, c_err, c_len], axis=1)

    def stat(sums: np.ndarray) -> dict[str, np.ndarray]:
        out = {"cer": sums[:, 2] / sums[:, 3]}
        if "wer" in point:
            out["wer"] = sums[:, 0] / sums[:, 1]
        return out

    group_table = group_sums(table, s.groups) if s.groups is not None and len(s.groups) else None
    notes: list[str] = []
    metrics = figures(point, table, np.ones(len(table)), group_table, stat, s.resamples, s.seed, notes)
    by_language = {}
    for lang in sorted(set(languages)):
        rows = np.array([x == lang for x in languages])
        entry: dict[str, Any] = {"records": int(rows.sum())}
        if lang not in NO_SPACE_LANGUAGES and w_len[rows].sum():
            entry["wer"] = round(float(w_err[rows].sum() / w_len[rows].sum()), 6)
        if c_len[rows].sum():
            entry["cer"] = round(float(c_err[rows].sum() / c_len[rows].sum()), 6)
        by_language[lang] = entry
    return {
        "metrics": metrics,
        "primary": "wer" if "wer" in point else "cer",
        "by_language": by_language,
        "normalizer": NORMALIZER,
        "groups_note": "; ".join(notes) or None,
        "libraries": {"jiwer": _version("jiwer")},
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# -- boxes ---------------------------------------------------------------------------------

_COCO_FIGURES = ("map", "ap50", "ap75")


def _coco_inputs(s: Scoring) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    index = {name: i + 1 for i, name in enumerate(s.labels)}
    images, annotations, detections, outside, unlabelled = [], [], [], [], []
    for r, (truth, pred) in enumerate(zip(s.truth, s.predictions)):
        images.append({"id": r + 1})
        for b, c in zip(truth.get("bbox") or [], truth.get("category") or []):
            if c not in index:
                unlabelled.append(s.ids[r])
                continue
            annotations.append({"id": len(annotations) + 1, "image_id": r + 1, "category_id": index[c], "bbox": list(map(float, b)),
                                "area": float(b[2]) * float(b[3]), "iscrowd": 0})
        for b, c, score in zip(*(pred or {}).values()) if pred else ():
            if c not in index:
                outside.append(s.ids[r])
                continue
            detections.append({"image_id": r + 1, "category_id": index[c], "bbox": b, "score": score})
    if unlabelled:
        s.problem("unlabelled-box", f"{len(unlabelled)} true boxes have no class; they are not scored", unlabelled)
    gt = {"images": images, "annotations": annotations, "categories": [{"id": i, "name": n} for n, i in index.items()]}
    return gt, detections, outside


def _coco_figures(ev: Any, k: int) -> tuple[dict[str, float], dict[int, dict[str, float | None]]]:
    """mAP@[.5:.95], AP50, AP75 overall and per category from an accumulated COCOeval (area
    all, 100 detections), averaged over the categories that have ground truth."""
    precision = ev.eval["precision"][:, :, :, 0, -1]  # (iou thresholds, recall points, categories)

    def mean(p: np.ndarray) -> float | None:
        p = p[p > -1]
        return float(p.mean()) if p.size else None

    per = {c: {"ap": mean(precision[:, :, c]), "ap50": mean(precision[0, :, c]), "ap75": mean(precision[5, :, c])} for c in range(k)}
    return {"map": mean(precision), "ap50": mean(precision[0]), "ap75": mean(precision[5])}, per


def boxes(s: Scoring) -> dict[str, Any]:
    """COCO box AP (pycocotools' COCOeval, iouType bbox): mAP over IoU .50:.05:.95, AP50, AP75,
    each per class; the bootstrap resamples images and accumulates COCOeval's per-image matches."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_data, detections, outside = _coco_inputs(s)
    if outside:
        s.problem("unknown-label", f"{len(outside)} predicted boxes name a class outside the label set; they are not scored", outside)
    k = len(s.labels)
    quiet = contextlib.redirect_stdout(io.StringIO())  # pycocotools prints its progress
    with quiet:
        gt = COCO()
        gt.dataset = gt_data
        gt.createIndex()
        dt = gt.loadRes(detections) if detections else COCO()
        if not detections:
            dt.dataset = {"images": gt_data["images"], "annotations": [], "categories": gt_data["categories"]}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [ev.params.areaRng[0]], ["all"], [100]
        ev.evaluate()
        ev.accumulate()
    point, per = _coco_figures(ev, k)
    if not detections:  # COCOeval leaves -1 ("no data") where nothing was detected: nothing found is AP 0
        point = {name: (0.0 if v is not None else None) for name, v in point.items()}
        per = {c: {m: (0.0 if v is not None else None) for m, v in f.items()} for c, f in per.items()}
    images = len(s.truth)
    evaluated = list(ev.evalImgs)
    n_cats = len(ev.params.catIds)
    rng = np.random.default_rng(s.seed)
    boot: dict[str, list[float]] = {name: [] for name in _COCO_FIGURES}
    if detections and s.resamples > 0:
        with quiet:
            for _ in range(s.resamples):
                pick = rng.integers(0, images, size=images)
                ev.evalImgs = [evaluated[c * images + i] for c in range(n_cats) for i in pick]
                ev.params.imgIds = ev._paramsEval.imgIds = (pick + 1).tolist()
                ev.accumulate()
                figs, _ = _coco_figures(ev, k)
                for name in _COCO_FIGURES:
                    boot[name].append(np.nan if figs[name] is None else figs[name])
    from hub.evaluation.bootstrap import interval

    metrics = {name: {"value": None if point[name] is None else round(point[name], 6)} for name in _COCO_FIGURES}
    if detections and s.resamples > 0:
        for name in _COCO_FIGURES:
            metrics[name]["ci95"] = interval(np.array(boot[name]))
    per_class = {s.labels[c]: {m: (None if v is None else round(v, 6)) for m, v in f.items()} for c, f in per.items() if f["ap"] is not None}
    return {"metrics": metrics, "per_class": per_class, "groups_note": "boxes: intervals over images only", "libraries": {"pycocotools": _version("pycocotools")}}


# -- spans ---------------------------------------------------------------------------------


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["label"] == b["label"] and a["start"] < b["end"] and b["start"] < a["end"]


def spans(s: Scoring) -> dict[str, Any]:
    """Event-wise and point-adjusted scores of labelled time spans.

    - event-wise: a predicted span is correct when it overlaps a true span of the same label;
      a true span is found when a predicted span of its label overlaps it. Precision = correct
      predicted spans / predicted spans, recall = found true spans / true spans.
    - point-adjusted (Xu et al., 2018): each record's samples (t = k / sample_rate) are
      anomalous inside any true span, predicted inside any predicted span, labels aside; every
      sample of a true span counts as predicted when any one of them is; then precision,
      recall and F1 over all samples (scikit-learn).
    """
    from sklearn.metrics import precision_recall_fscore_support

    outside = [s.ids[r] for r, pred in enumerate(s.predictions) for span in pred or () if span["label"] not in s.labels]
    if outside:
        s.problem("unknown-label", f"{len(outside)} predicted spans name a label outside the label set; they match no true span", outside)
    rates = s.columns.get("sample_rate") or [None] * len(s.truth)
    lengths = s.columns.get("length") or [None] * len(s.truth)
    table = np.zeros((len(s.truth), 7))
    true_points, pred_points = [], []
    for r, (truth, pred) in enumerate(zip(s.truth, s.predictions)):
        pred = pred or []
        correct = sum(any(_overlaps(p, t) for t in truth) for p in pred)
        found = sum(any(_overlaps(p, t) for p in pred) for t in truth)
        table[r, :4] = correct, len(pred), found, len(truth)
        if rates[r] and lengths[r]:
            t = np.arange(int(lengths[r])) / float(rates[r])
            actual = np.zeros(len(t), bool)
            hit = np.zeros(len(t), bool)
            for span in pred:
                hit |= (t >= span["start"]) & (t < span["end"])
            adjusted = hit.copy()
            for span in truth:
                inside = (t >= span["start"]) & (t < span["end"])
                actual |= inside
                if (hit & inside).any():
                    adjusted |= inside
            true_points.append(actual)
            pred_points.append(adjusted)
            table[r, 4:] = (actual & adjusted).sum(), (~actual & adjusted).sum(), (actual & ~adjusted).sum()
    p_event, r_event = _rate(table[:, 0].sum(), table[:, 1].sum()).item(), _rate(table[:, 2].sum(), table[:, 3].sum()).item()
    point = {"event_precision": p_event, "event_recall": r_event, "event_f1": _f1(np.array(p_event), np.array(r_event)).item()}
    if true_points:
        y_true, y_pred = np.concatenate(true_points), np.concatenate(pred_points)
        pa = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
        point |= {"pa_precision": pa[0], "pa_recall": pa[1], "pa_f1": pa[2]}

    def stat(sums: np.ndarray) -> dict[str, np.ndarray]:
        p, r = _rate(sums[:, 0], sums[:, 1]), _rate(sums[:, 2], sums[:, 3])
        out = {"event_precision": p, "event_recall": r, "event_f1": _f1(p, r)}
        if true_points:
            pp, pr = _rate(sums[:, 4], sums[:, 4] + sums[:, 5]), _rate(sums[:, 4], sums[:, 4] + sums[:, 6])
            out |= {"pa_precision": pp, "pa_recall": pr, "pa_f1": _f1(pp, pr)}
        return out

    group_table = group_sums(table, s.groups) if s.groups is not None and len(s.groups) else None
    notes: list[str] = []
    return {"metrics": figures(point, table, np.ones(len(table)), group_table, stat, s.resamples, s.seed, notes), "groups_note": "; ".join(notes) or None,
            "definitions": spans.__doc__.split("\n\n", 1)[1].strip(), "libraries": {"scikit-learn": _version("scikit-learn")}}


# -- speaker segments ----------------------------------------------------------------------


def segments(s: Scoring) -> dict[str, Any]:
    """Diarization error rate (pyannote.metrics): (false alarm + missed detection + speaker
    confusion) / reference speech, each record's predicted speakers mapped to its reference
    speakers one to one (the mapping that errs least), over the record's whole duration (its
    UEM), no collar, overlapping speech scored."""
    import warnings

    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    durations = s.columns.get("duration") or [None] * len(s.truth)
    table = np.zeros((len(s.truth), 4))  # false alarm, missed detection, confusion, total

    def annotation(spans: list[dict[str, Any]]) -> Annotation:
        out = Annotation()
        for i, span in enumerate(spans):
            if span["end"] > span["start"]:
                out[Segment(span["start"], span["end"]), i] = span["label"]
        return out

    for r, (truth, pred) in enumerate(zip(s.truth, s.predictions)):
        reference = annotation(truth)
        extent = durations[r] or max([x["end"] for x in [*truth, *(pred or [])]], default=0.0)
        uem = Timeline([Segment(0.0, float(extent))]) if extent else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = metric(reference, annotation(pred or []), uem=uem, detailed=True)
        table[r] = parts["false alarm"], parts["missed detection"], parts["confusion"], parts["total"]
    totals = table.sum(axis=0)
    point = {"der": abs(metric) if totals[3] else None, "false_alarm": _rate(totals[0], totals[3]).item(),
             "missed_detection": _rate(totals[1], totals[3]).item(), "confusion": _rate(totals[2], totals[3]).item()}

    def stat(sums: np.ndarray) -> dict[str, np.ndarray]:
        return {"der": sums[:, :3].sum(axis=1) / sums[:, 3], "false_alarm": _rate(sums[:, 0], sums[:, 3]),
                "missed_detection": _rate(sums[:, 1], sums[:, 3]), "confusion": _rate(sums[:, 2], sums[:, 3])}

    notes: list[str] = []
    group_table = group_sums(table, s.groups) if s.groups is not None and len(s.groups) else None
    return {"metrics": figures(point, table, np.ones(len(table)), group_table, stat, s.resamples, s.seed, notes), "groups_note": "; ".join(notes) or None,
            "definitions": segments.__doc__.replace("\n    ", " "), "libraries": {"pyannote.metrics": _version("pyannote.metrics"), "pyannote.core": _version("pyannote.core")}}


ENGINES: dict[str, Callable[[Scoring], dict[str, Any]]] = {"classification": classification, "transcription": transcription, "boxes": boxes, "spans": spans, "segments": segments}
