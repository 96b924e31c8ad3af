"""Label configs derived from a dataset's record type, the task and its label set, and the
conversions between a record's field and Label Studio results (both ways).

Each record type lists its tasks (`RecordType.tasks`: the record field each fills, its
agreement kind and Label Studio result type) and draws the data it shows
(`RecordType.object_tag`); the control tags and the results are the same for every type:

| result type      | control tag              | record field value                 | agreement |
|------------------|--------------------------|------------------------------------|-----------|
| textarea         | TextArea                 | text                               | text      |
| choices          | Choices                  | a label                            | choice    |
| rectanglelabels  | RectangleLabels          | {bbox: [[x, y, w, h]], category}   | boxes     |
| labels           | Labels (audio spans)     | [{start, end, label}]              | spans     |
| timeserieslabels | TimeSeriesLabels         | [{start, end, label}]              | spans     |
| timelinelabels   | TimelineLabels (video)   | [{start, end, label}]              | spans     |

TimelineLabels count in frames (1 is the first, ranges inclusive) at the frame rate the task
gives the Video tag (`framerate="$fps"`): frame f covers seconds (f - 1) / fps to f / fps.
"""

from __future__ import annotations

import math
from typing import Any

from hub import records
from hub.records.base import TaskSpec, quoteattr

__all__ = ["ResultError", "TASKS", "TaskSpec", "from_results", "label_config", "quoteattr", "task_spec", "tasks_for", "to_results"]

# (record type, task) -> spec, in registry order (a type's first task is its default)
TASKS: dict[tuple[str, str], TaskSpec] = {(s.record, s.name): s for t in records.RECORD_TYPES.values() for s in t.tasks}


def task_spec(record: str, task: str | None) -> TaskSpec:
    """The spec of `task` for `record` (the first listed when `task` is None); KeyError if none."""
    if task is None:
        return next(s for (r, _), s in TASKS.items() if r == record)
    return TASKS[(record, task)]


def tasks_for(record: str) -> list[str]:
    return [name for (r, name) in TASKS if r == record]


def _own_keys(labels: list[str]) -> bool:
    """Whether every label is one digit: then each label is its own hotkey. Label Studio's
    automatic hotkeys number the labels in order (key 1 for the first), which puts label "2"
    on key 3 when the labels are 0-9. Other labels keep that numbering: a letter as its own
    key could take one of the editor's (r draws a rectangle)."""
    return all(len(v) == 1 and v in "0123456789" for v in labels) and len(set(labels)) == len(labels)


def _choices(labels: list[str], tag: str = "Choice") -> str:
    hotkey = _own_keys(labels)
    return "\n".join(f"    <{tag} value={quoteattr(v)}" + (f" hotkey={quoteattr(v)}" if hotkey else "") + "/>" for v in labels)


def _control(spec: TaskSpec, labels: list[str]) -> str:
    c, o = quoteattr(spec.control), quoteattr(spec.object)
    if spec.result_type == "textarea":
        return f'  <TextArea name={c} toName={o} rows="3" editable="true" maxSubmissions="1" required="true"/>'
    if spec.result_type == "choices":
        return f'  <Choices name={c} toName={o} choice="single" showInline="true" required="true">\n{_choices(labels)}\n  </Choices>'
    tag = {"labels": "Labels", "rectanglelabels": "RectangleLabels", "timeserieslabels": "TimeSeriesLabels", "timelinelabels": "TimelineLabels"}[spec.result_type]
    return f"  <{tag} name={c} toName={o}>\n{_choices(labels, 'Label')}\n  </{tag}>"


# Result types whose control tag comes before the object tag (labels drawn over a timeline)
_CONTROL_FIRST = ("labels", "timeserieslabels", "timelinelabels")


def label_config(spec: TaskSpec, labels: list[str], *, channels: list[str] | None = None) -> str:
    """The Label Studio XML config for `spec` with `labels` (speakers for speaker segments)."""
    shown = records.get(spec.record).object_tag(spec, channels=channels)
    control = _control(spec, labels)
    body = f"{control}\n{shown}" if spec.result_type in _CONTROL_FIRST else f"{shown}\n{control}"
    return f"<View>\n  <Header value={quoteattr('Record $record_id')}/>\n{body}\n</View>\n"


class ResultError(ValueError):
    """A Label Studio result that does not fit the task's label config."""


def _result(spec: TaskSpec, value: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"from_name": spec.control, "to_name": spec.object, "type": spec.result_type, "value": value, **extra}


def to_results(spec: TaskSpec, value: Any, size: tuple[int, int] | None = None, fps: float | None = None) -> list[dict[str, Any]]:
    """Label Studio results (for a prediction) that say `value`; [] when there is nothing to say
    (`size`: an image's, for boxes; `fps`: a video's frame rate, for timeline segments)."""
    if value is None:
        return []
    if spec.result_type == "timelinelabels":
        if not fps:
            return []
        frames = [(round(s["start"] * fps) + 1, round(s["end"] * fps), s["label"]) for s in value]
        return [_result(spec, {"ranges": [{"start": first, "end": max(first, last)}], "timelinelabels": [label]}) for first, last, label in frames]
    if spec.kind == "text":
        return [_result(spec, {"text": [value]})]
    if spec.kind == "choice":
        return [_result(spec, {"choices": [value]})]
    if spec.kind == "boxes":
        width, height = size or (0, 0)
        if not width or not height:
            return []
        return [_result(spec, {"x": 100 * x / width, "y": 100 * y / height, "width": 100 * w / width, "height": 100 * h / height, "rotation": 0,
                               "rectanglelabels": [cat]}, original_width=width, original_height=height, image_rotation=0)
                for (x, y, w, h), cat in zip(value["bbox"], value["category"])]
    key = spec.result_type
    out = []
    for span in value:
        v = {"start": span["start"], "end": span["end"], key: [span["label"]]}
        if key == "timeserieslabels":
            v["instant"] = False
        out.append(_result(spec, v))
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def from_results(spec: TaskSpec, results: list[dict[str, Any]], labels: list[str], size: tuple[int, int] | None = None, fps: float | None = None) -> Any:
    """The record field's value that Label Studio `results` say.

    Raises `ResultError` when a result does not fit the config (unknown control, a label not
    in the label set, a malformed value) and returns None when they say nothing.
    """
    mine = []
    for r in results:
        if r.get("from_name") != spec.control or r.get("type") != spec.result_type:
            raise ResultError(f"result from control {r.get('from_name')!r} of type {r.get('type')!r} is not part of the {spec.record} {spec.name} config")
        mine.append(r.get("value") or {})
    if not mine:
        return None
    allowed = set(labels) if labels else None

    def check_label(label: Any) -> str:
        if not isinstance(label, str) or (allowed is not None and label not in allowed):
            raise ResultError(f"label {label!r} is not in the label set")
        return label

    if spec.kind == "text":
        texts = [t for v in mine for t in (v.get("text") or [])]
        if not all(isinstance(t, str) for t in texts):
            raise ResultError("a transcript is not text")
        text = " ".join(t.strip() for t in texts if t.strip())
        return text or None
    if spec.kind == "choice":
        choices = [c for v in mine for c in (v.get("choices") or [])]
        if len(choices) != 1:
            raise ResultError(f"expected one choice, got {len(choices)}")
        return check_label(choices[0])
    if spec.kind == "boxes":
        boxes, cats = [], []
        for r, v in zip(results, mine):
            width = r.get("original_width") or (size or (0, 0))[0]
            height = r.get("original_height") or (size or (0, 0))[1]
            coords = [v.get(k) for k in ("x", "y", "width", "height")]
            names = v.get(spec.result_type) or []
            if not (width and height and all(_finite(c) for c in coords) and len(names) == 1):
                raise ResultError(f"malformed box {v!r}")
            x, y, w, h = coords
            boxes.append([round(x * width / 100, 3), round(y * height / 100, 3), round(w * width / 100, 3), round(h * height / 100, 3)])
            cats.append(check_label(names[0]))
        return {"bbox": boxes, "category": cats}
    spans = []
    for v in mine:
        if spec.result_type == "timelinelabels":  # frame ranges, in seconds
            names, ranges = v.get("timelinelabels") or [], v.get("ranges") or []
            if not fps or len(names) != 1 or not ranges:
                raise ResultError(f"malformed timeline segment {v!r}" + ("" if fps else " (the task gives no frame rate)"))
            for r in ranges:
                if not (_finite(r.get("start")) and _finite(r.get("end"))) or r["start"] < 1 or r["end"] < r["start"]:
                    raise ResultError(f"malformed frame range {r!r}")
                spans.append({"start": round((r["start"] - 1) / fps, 3), "end": round(r["end"] / fps, 3), "label": check_label(names[0])})
            continue
        names = v.get(spec.result_type) or []
        if not (_finite(v.get("start")) and _finite(v.get("end")) and len(names) == 1) or v["end"] < v["start"]:
            raise ResultError(f"malformed span {v!r}")
        # three decimals, as boxes: the precision `pull` compares values at (`bridge._norm`), so a kept change is seen
        spans.append({"start": round(float(v["start"]), 3), "end": round(float(v["end"]), 3), "label": check_label(names[0])})
    return sorted(spans, key=lambda s: (s["start"], s["end"], s["label"]))
