"""Agreement and resolution rules (pure functions; the round trips are in test_annotate.py)."""

from __future__ import annotations

from itertools import combinations

import pytest

from hub.labelstudio.agreement import agreement, krippendorff_alpha, pair_score, wer
from hub.labelstudio.config import ResultError, from_results, label_config, task_spec, to_results
from hub.labelstudio.resolve import Vote, resolve


def test_krippendorff_alpha_matches_the_textbook_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal data: alpha = 0.743
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1],
             [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=0.001)
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None  # one value only: undefined


def test_wer_and_pair_scores():
    assert wer("the cat sat", "the cat sat down") == pytest.approx(1 / 3)
    assert wer("Hello, world!", "hello world") == 0.0
    boxes = {"bbox": [[0, 0, 10, 10], [20, 20, 5, 5]], "category": ["a", "b"]}
    shifted = {"bbox": [[1, 1, 10, 10], [40, 40, 5, 5]], "category": ["a", "b"]}
    assert pair_score("boxes", boxes, boxes) == 1.0
    assert pair_score("boxes", boxes, shifted) == 0.5  # one of two boxes matched at IoU >= 0.5
    spans = [{"start": 0.0, "end": 2.0, "label": "x"}]
    assert pair_score("spans", spans, [{"start": 0.5, "end": 2.0, "label": "x"}]) == 1.0
    assert pair_score("spans", spans, [{"start": 0.5, "end": 2.0, "label": "y"}]) == 0.0


def test_agreement_per_task_and_annotator():
    result = agreement("choice", {"r1": [("p", "a"), ("q", "a")], "r2": [("p", "a"), ("q", "b")], "r3": [("p", "c")]})
    assert result["per_task"] == {"r1": 1.0, "r2": 0.0} and result["tasks_compared"] == 2 and result["overall"] == 0.5
    assert result["per_annotator"] == {"p": {"score": 0.5, "pairs": 2}, "q": {"score": 0.5, "pairs": 2}}


def test_resolution_rules():
    votes = [Vote(1, "p", "2026-01-01", "a"), Vote(2, "q", "2026-01-03", "b"), Vote(3, "r", "2026-01-02", "a", reviewer=True)]
    assert resolve("choice", votes, "majority")[0].value == "a"
    assert resolve("choice", votes[:2], "majority") == (None, "conflict")
    assert resolve("choice", votes[:2], "latest")[0].annotation == 2
    assert resolve("choice", votes, "reviewer") == (votes[2], "reviewer")
    assert resolve("text", [Vote(1, "p", "", "Hello world."), Vote(2, "q", "", "hello world")], "majority")[1] == "majority"


@pytest.mark.parametrize("record,task,value", [
    ("speech", "transcription", "the kettle is boiling"),
    ("speech", "speaker-segments", [{"start": 0.0, "end": 1.5, "label": "spk1"}]),
    ("image", "classification", "3"),
    ("image", "boxes", {"bbox": [[1.0, 2.0, 3.0, 4.0]], "category": ["3"]}),
    ("dialogue", "intent", "3"),
    ("sensor", "anomaly-spans", [{"start": 0.5, "end": 2.0, "label": "3"}]),
    ("inspection", "defect", "3"),
])
def test_results_round_trip_and_configs(record, task, value):
    spec = task_spec(record, task)
    labels = ["spk1"] if task == "speaker-segments" else ["1", "2", "3"]
    assert from_results(spec, to_results(spec, value, (8, 8)), labels, (8, 8)) == value
    xml = label_config(spec, labels, channels=["acc_x", "acc_y"])
    assert xml.startswith("<View>") and f'name="{spec.control}"' in xml and f'toName="{spec.object}"' in xml
    with pytest.raises(ResultError):
        from_results(spec, [{"from_name": "other", "to_name": spec.object, "type": spec.result_type, "value": {}}], labels)


@pytest.mark.parametrize("record,task", [("speech", "speaker-segments"), ("sensor", "anomaly-spans")])
def test_span_times_are_kept_at_the_precision_pull_compares(record, task):
    """A time is stored as `pull` compares it: a kept value is never taken for unchanged, nor the reverse."""
    from hub.labelstudio.bridge import _norm

    spec = task_spec(record, task)
    result = [{"from_name": spec.control, "to_name": spec.object, "type": spec.result_type,
               "value": {"start": 0.12345, "end": 1.0006, spec.result_type: ["a"]}}]
    spans = from_results(spec, result, ["a"])
    assert spans == [{"start": 0.123, "end": 1.001, "label": "a"}]
    assert _norm(spans) == spans


def test_pairwise_wer_is_jiwer_exact_not_floored():
    import jiwer

    pairs = {"r1": [("p", "yes"), ("q", "yes it is a cat")], "r2": [("p", "the cat"), ("q", "the dog"), ("r", "a cat")]}
    result = agreement("text", pairs)
    expected = {}
    for task, values in pairs.items():
        wers = [(jiwer.wer(a, b) + jiwer.wer(b, a)) / 2 for (_, a), (_, b) in combinations(values, 2)]
        expected[task] = wers
    assert result["per_task_wer"] == {task: pytest.approx(sum(w) / len(w)) for task, w in expected.items()}
    assert result["per_task_wer"]["r1"] == pytest.approx(2.4)  # (4/1 + 4/5) / 2, above 1: not floored
    every_pair = [w for wers in expected.values() for w in wers]
    assert result["mean_pairwise_wer"] == pytest.approx(sum(every_pair) / len(every_pair))
    assert pair_score("text", "yes", "yes it is a cat") == pytest.approx(1 - 2.4)
