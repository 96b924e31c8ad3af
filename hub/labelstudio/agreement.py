"""Inter-annotator agreement, computed by the hub (the open-source Label Studio does not).

One measure per kind of label:

| kind        | per task                                 | whole project                      |
|-------------|------------------------------------------|------------------------------------|
| `choice`    | share of annotator pairs that agree      | Krippendorff's alpha (nominal)     |
| `text`      | mean pairwise word error rate (WER)      | mean WER over all pairs and per task |
| `boxes`     | mean pairwise F1 of IoU-matched boxes    | mean of the tasks' F1              |
| `spans`     | mean pairwise F1 of overlap-matched spans| mean of the tasks' F1              |

Per annotator: the mean of that annotator's pairwise scores against the others (agreement,
1 - WER for text). Only tasks with two or more usable annotations count. WER is jiwer's
(edits / reference words, not floored: it exceeds 1 when the hypothesis is longer), averaged
over both directions of a pair.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from itertools import combinations
from typing import Any

__all__ = ["agreement", "krippendorff_alpha", "pair_score", "wer"]

IOU_THRESHOLD = 0.5


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference` (case and punctuation ignored)."""
    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)


def _iou_box(a: list[float], b: list[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _iou_span(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else float(a == b)


def _matched_f1(a: list[tuple[Any, str]], b: list[tuple[Any, str]], iou) -> float:
    """F1 of greedy one-to-one matching: same label and IoU >= 0.5."""
    if not a and not b:
        return 1.0
    pairs = sorted(((iou(x[0], y[0]), i, j) for i, x in enumerate(a) for j, y in enumerate(b) if x[1] == y[1]), reverse=True)
    used_a, used_b, matched = set(), set(), 0
    for score, i, j in pairs:
        if score < IOU_THRESHOLD:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            matched += 1
    return 2 * matched / (len(a) + len(b))


def pair_score(kind: str, a: Any, b: Any) -> float:
    """Agreement of two annotations' values (in [0, 1]; for text 1 - WER, below 0 when WER > 1)."""
    if kind == "choice":
        return float(a == b)
    if kind == "text":
        return 1.0 - (wer(a, b) + wer(b, a)) / 2
    if kind == "boxes":
        return _matched_f1([(box, cat) for box, cat in zip(a["bbox"], a["category"])], [(box, cat) for box, cat in zip(b["bbox"], b["category"])], _iou_box)
    if kind == "spans":
        return _matched_f1([((s["start"], s["end"]), s["label"]) for s in a], [((s["start"], s["end"]), s["label"]) for s in b], _iou_span)
    raise ValueError(f"unknown agreement kind {kind!r}")


def krippendorff_alpha(units: list[list[Any]]) -> float | None:
    """Krippendorff's alpha for nominal data; `units` holds each task's values (2+ each).

    None when it is undefined (no pairable values, or only one value was ever used).
    """
    coincidence: Counter = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, j in combinations(range(m), 2):
            coincidence[(values[i], values[j])] += 1 / (m - 1)
            coincidence[(values[j], values[i])] += 1 / (m - 1)
    n_c: Counter = Counter()
    for (c, _), count in coincidence.items():
        n_c[c] += count
    n = sum(n_c.values())
    if n <= 1 or len(n_c) < 2:
        return None
    observed = sum(count for (c, k), count in coincidence.items() if c != k) / n
    expected = (n * n - sum(v * v for v in n_c.values())) / (n * (n - 1))
    return round(1.0 - observed / expected, 6) if expected else None


def agreement(kind: str, tasks: dict[Any, list[tuple[str, Any]]]) -> dict[str, Any]:
    """Agreement figures over `tasks`: task -> [(annotator, value), ...] of usable annotations.

    Returns {"measure", "overall", "tasks_compared", "per_task": {task: score},
    "per_annotator": {annotator: {"score", "pairs"}}} (plus "alpha" for choices).
    """
    per_task: dict[Any, float] = {}
    all_scores: list[float] = []
    annotator_scores: dict[str, list[float]] = defaultdict(list)
    for task, values in tasks.items():
        if len(values) < 2:
            continue
        scores = []
        for (who_a, a), (who_b, b) in combinations(values, 2):
            score = pair_score(kind, a, b)
            scores.append(score)
            all_scores.append(score)
            annotator_scores[who_a].append(score)
            annotator_scores[who_b].append(score)
        per_task[task] = round(sum(scores) / len(scores), 6)
    measure = {"choice": "pairwise agreement; Krippendorff's alpha (nominal)", "text": "1 - pairwise WER",
               "boxes": "F1 of boxes matched at IoU >= 0.5", "spans": "F1 of spans matched at overlap IoU >= 0.5"}[kind]
    result: dict[str, Any] = {
        "measure": measure,
        "tasks_compared": len(per_task),
        "overall": round(sum(per_task.values()) / len(per_task), 6) if per_task else None,
        "per_task": per_task,
        "per_annotator": {who: {"score": round(sum(s) / len(s), 6), "pairs": len(s)} for who, s in sorted(annotator_scores.items())},
    }
    if kind == "choice":
        result["alpha"] = krippendorff_alpha([[v for _, v in values] for values in tasks.values() if len(values) >= 2])
    if kind == "text":
        result["mean_pairwise_wer"] = round(1 - sum(all_scores) / len(all_scores), 6) if all_scores else None
        result["per_task_wer"] = {task: round(1 - score, 6) for task, score in per_task.items()}
    return result
