"""`hub eval` / `hub.evaluate`: real models and real demo data, each figure checked against the
library that defines it, computed here independently (scikit-learn, jiwer, pycocotools)."""

from __future__ import annotations

import contextlib
import glob
import io
import json
from pathlib import Path

import jiwer
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from sklearn import metrics as skm

import hub
from conftest import run_hub, write_dataset


def split_table(root: Path, dataset: str, split: str, version: str = "1.0.0") -> pa.Table:
    files = sorted(glob.glob(str(root / "registry" / dataset / "versions" / version / "data" / f"{split}-*.parquet")))
    return pa.concat_tables([pq.read_table(f) for f in files])


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def close(figure: dict, expected: float) -> None:
    assert figure["value"] == pytest.approx(expected, abs=1e-6)
    low, high = figure["ci95"]
    assert low - 1e-6 <= figure["value"] <= high + 1e-6


# -- classification: a scikit-learn classifier on demo/digits ----------------------------------


def digits(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
    images = np.stack([np.asarray(Image.open(io.BytesIO(b["bytes"])), dtype=np.float64).ravel() for b in table.column("image").to_pylist()])
    return table.column("id").to_pylist(), images, np.asarray(table.column("label").to_pylist())


@pytest.fixture(scope="module")
def digit_predictions(demo_root, tmp_path_factory):
    """A k-nearest-neighbours classifier fitted on the train split, its predictions on test: all
    but the last two records, plus one id that is not in the split."""
    from sklearn.neighbors import KNeighborsClassifier

    _, x_train, y_train = digits(split_table(demo_root, "demo/digits", "train"))
    ids, x_test, y_test = digits(split_table(demo_root, "demo/digits", "test"))
    predicted = KNeighborsClassifier(n_neighbors=3).fit(x_train, y_train).predict(x_test)
    rows = [{"id": i, "prediction": str(p)} for i, p in zip(ids[:-2], predicted[:-2])] + [{"id": "digits-99999", "prediction": "3"}]
    path = write_jsonl(tmp_path_factory.mktemp("eval") / "digits.jsonl", rows)
    return path, ids, y_test.astype(str), predicted.astype(str)


def test_digits_classifier_figures_are_scikit_learns(demo_root, digit_predictions):
    path, ids, truth, predicted = digit_predictions
    report = hub.evaluate("demo/digits@1.0.0", path, split="test", root=demo_root)
    scored = np.concatenate([predicted[:-2], ["(none)", "(none)"]])  # the two missing records count as wrong
    labels = [str(i) for i in range(10)]
    assert report.metrics["accuracy"]["value"] == pytest.approx(skm.accuracy_score(truth, scored), abs=1e-6)
    p, r, f, _ = skm.precision_recall_fscore_support(truth, scored, labels=labels, average="macro", zero_division=0)
    close(report.metrics["macro_precision"], p)
    close(report.metrics["macro_recall"], r)
    close(report.metrics["macro_f1"], f)
    per_class = report.details["per_class"]
    mcm = skm.multilabel_confusion_matrix(truth, scored, labels=labels)
    recall = skm.recall_score(truth, scored, labels=labels, average=None, zero_division=0)
    for j, name in enumerate(labels):
        (tn, fp), (fn, tp) = mcm[j]
        assert per_class[name]["recall"]["value"] == pytest.approx(recall[j], abs=1e-6)
        assert per_class[name]["fnr"]["value"] == pytest.approx(fn / (fn + tp), abs=1e-6)
        assert per_class[name]["fpr"]["value"] == pytest.approx(fp / (fp + tn), abs=1e-6)
        assert per_class[name]["support"] == fn + tp
    confusion = skm.confusion_matrix(truth, scored, labels=[*labels, "(none)"])[:10].tolist()
    assert report.details["confusion"] == {"labels": labels, "columns": [*labels, "(none)"], "matrix": confusion}
    assert report.problems == [
        {"slug": "missing-prediction", "message": "2 of the split's 180 labelled records have no prediction; they count as wrong", "count": 2, "ids": ids[-2:]},
        {"slug": "unknown-id", "message": "1 predicted ids are not records of the test split; they are not scored", "count": 1, "ids": ["digits-99999"]},
    ]
    assert report.coverage == {"labelled": 180, "predicted": 178, "missing": 2, "duplicate_ids": 0, "unknown_ids": 1, "unlabelled": 0}


def test_the_report_binds_what_was_measured(demo_root, digit_predictions):
    import hashlib

    path = digit_predictions[0]
    report = hub.evaluate("demo/digits@1.0.0", path, root=demo_root, resamples=200, seed=7)
    manifest = demo_root / "registry/demo/digits/versions/1.0.0/manifest.json"
    d = report.to_dict()
    assert (d["dataset"], d["version"], d["split"], d["records"], d["task"], d["field"]) == ("demo/digits", "1.0.0", "test", 180, "classification", "label")
    assert d["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert d["predictions"] == {"path": str(path), "format": "jsonl", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "rows": 179}
    assert d["libraries"]["scikit-learn"] == __import__("sklearn").__version__
    assert d["bootstrap"] == {"resamples": 200, "seed": 7, "level": 0.95, "unit": "record", "groups": "group",
                              "groups_note": "each record is its own group: the interval over groups is the one over records"}
    again = hub.evaluate("demo/digits@1.0.0", path, root=demo_root, resamples=200, seed=7)
    assert again.to_dict() == d  # seeded: the same intervals
    other = hub.evaluate("demo/digits@1.0.0", path, root=demo_root, resamples=200, seed=8)
    assert other.metrics["accuracy"]["value"] == d["metrics"]["accuracy"]["value"]


def test_cli_json_is_the_library_report_and_targets_set_the_exit_code(demo_root, digit_predictions, tmp_path):
    path = digit_predictions[0]
    result = run_hub("eval", "demo/digits@1.0.0", "--predictions", str(path), "--target", "accuracy>=0.5", "--target", "fnr[8]<=100%",
                     "--json", "--out", str(tmp_path / "out"), root=demo_root)
    assert result.returncode == 0, result.stderr
    report = hub.evaluate("demo/digits@1.0.0", path, root=demo_root, targets=["accuracy>=0.5", "fnr[8]<=100%"])
    assert json.loads(result.stdout) == json.loads(json.dumps(report.to_dict()))
    assert [t["met"] for t in report.targets] == [True, True] and report.passed
    assert json.loads((tmp_path / "out/report.json").read_text()) == json.loads(result.stdout)
    card = (tmp_path / "out/card.md").read_text()
    assert card.startswith("# Evaluation: demo/digits@1.0.0, test split, classification\n")
    assert f"| manifest sha256 | `{report.manifest_sha256}` |" in card
    assert "![confusion](plots/confusion.svg)" in card and "![per-class](plots/per-class.svg)" in card
    svg = (tmp_path / "out/plots/confusion.svg").read_text()
    assert svg.count('<rect class="cell"') == 10 * 11
    missed = run_hub("eval", "demo/digits@1.0.0", "--predictions", str(path), "--target", "accuracy>=0.999", root=demo_root)
    assert missed.returncode == 1
    accuracy = report.metrics["accuracy"]["value"]
    assert f"  target accuracy>=0.999: MISSED ({accuracy})" in missed.stdout.splitlines()
    text = missed.stdout.splitlines()
    assert text[0] == "demo/digits@1.0.0 test (180 records), task classification: 178 of 180 labelled records predicted"


def test_bootstrap_over_groups_differs_from_over_records(demo_root, tmp_path):
    """demo/chatterbot-dialogue's dialogues are their own groups, so score demo/espeak-speech's
    train split (8 records a speaker): the interval over speakers is the wider one."""
    table = split_table(demo_root, "demo/espeak-speech", "train")
    rows = [{"id": r["id"], "prediction": r["transcript"] if r["speaker"].endswith("m3") or i % 2 else "wrong words"}
            for i, r in enumerate(table.select(["id", "transcript", "speaker"]).to_pylist())]
    report = hub.evaluate("demo/espeak-speech@1.0.0", write_jsonl(tmp_path / "p.jsonl", rows), split="train", root=demo_root)
    wer = report.metrics["wer"]
    assert report.bootstrap["groups"] == "speaker"
    assert wer["ci95_groups"][1] - wer["ci95_groups"][0] > 0
    assert wer["ci95_groups"] != wer["ci95"]


@pytest.mark.parametrize("dataset, task, field", [("demo/basicmotions", "fault", "fault"), ("demo/video-clips", "classification", "label")])
def test_sensor_faults_and_video_labels_are_scored_like_scikit_learn(demo_root, tmp_path, dataset, task, field):
    table = split_table(demo_root, dataset, "test").select(["id", field])
    labels = json.loads((demo_root / "registry" / dataset / "versions/1.0.0/manifest.json").read_text())["labels"]
    truth = [labels[i] for i in table.column(field).to_pylist()]
    predicted = [labels[0] if i % 3 == 0 else t for i, t in enumerate(truth)]
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": i, "prediction": p} for i, p in zip(table.column("id").to_pylist(), predicted)])
    report = hub.evaluate(f"{dataset}@1.0.0", path, root=demo_root)
    assert (report.task, report.field) == (task, field)
    assert report.metrics["accuracy"]["value"] == pytest.approx(skm.accuracy_score(truth, predicted), abs=1e-6)
    present = sorted(set(truth) | set(predicted))
    close(report.metrics["macro_f1"], skm.f1_score(truth, predicted, labels=present, average="macro", zero_division=0))


# -- transcription: demo/espeak-speech with known edits, against jiwer -------------------------

JIWER_NORMALIZER = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])


def test_espeak_transcripts_with_known_edits_match_jiwer(demo_root, tmp_path):
    table = split_table(demo_root, "demo/espeak-speech", "train").select(["id", "transcript"])
    refs, hyps, rows = [], [], []
    for i, r in enumerate(table.to_pylist()):
        words = r["transcript"].split()
        if i % 3 == 0:
            words = words[1:]  # a deletion
        elif i % 3 == 1:
            words = [*words, "um"]  # an insertion
        elif len(words) > 1:
            words[1] = "XYZ"  # a substitution
        refs.append(r["transcript"])
        hyps.append(" ".join(words).upper())  # case is normalized away
        rows.append({"id": r["id"], "prediction": hyps[-1]})
    path = tmp_path / "asr.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    report = hub.evaluate("demo/espeak-speech@1.0.0", path, split="train", root=demo_root)
    expected_wer = jiwer.wer(refs, hyps, reference_transform=jiwer.Compose([JIWER_NORMALIZER, jiwer.ReduceToListOfListOfWords()]),
                             hypothesis_transform=jiwer.Compose([JIWER_NORMALIZER, jiwer.ReduceToListOfListOfWords()]))
    expected_cer = jiwer.cer(refs, hyps, reference_transform=jiwer.Compose([JIWER_NORMALIZER, jiwer.ReduceToListOfListOfChars()]),
                             hypothesis_transform=jiwer.Compose([JIWER_NORMALIZER, jiwer.ReduceToListOfListOfChars()]))
    close(report.metrics["wer"], expected_wer)
    close(report.metrics["cer"], expected_cer)
    words = sum(len(JIWER_NORMALIZER(r).split()) for r in refs)
    edits = sum(1 for i in range(len(refs)) if i % 3 != 2 or len(refs[i].split()) > 1)
    assert report.metrics["wer"]["value"] == pytest.approx(edits / words, abs=1e-6)
    assert report.details["normalizer"]["version"] == 1 and report.details["primary"] == "wer"
    assert report.libraries["jiwer"] == "4.0.0"
    assert set(report.details["by_language"]) == {"en", "es"}
    assert hub.evaluation.normalize_text("Ｈｅｌｌｏ,   World!  ¿Qué?") == "hello world qué"


def test_chinese_transcripts_are_scored_by_cer_and_speaker_segments_by_der(hub_root, espeak_wav, tmp_path):
    sentences = ["今天天气很好", "我们去吃饭吧", "这个问题很难", "请再说一遍", "谢谢你的帮助", "明天见"]
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(espeak_wav))
    records, files = [], {}
    for i, sentence in enumerate(sentences):
        buffer = io.BytesIO()
        soundfile.write(buffer, samples * (1 - 0.05 * i), rate, format="WAV")  # six different recordings
        files[f"raw/{i}.wav"] = buffer.getvalue()
        duration = round(len(samples) / rate, 3)
        records.append({"id": f"zh-{i}", "audio": f"raw/{i}.wav", "transcript": sentence, "speaker": f"spk-{i % 3}", "language": "zh",
                        "duration": duration, "sample_rate": rate, "segments": [{"start": 0.0, "end": 1.0, "label": "A"}, {"start": 1.0, "end": duration, "label": "B"}]})
    write_dataset(hub_root, "acme/zh", records, modality="speech", extra_files=files,
                  split={"group_key": "speaker", "ratios": {"train": 0.5, "test": 0.5}, "seed": 1}, languages=["zh"])
    hub.publish("acme/zh", root=hub_root)
    table = split_table(hub_root, "acme/zh", "test").select(["id", "transcript"]).to_pylist()
    hyps = [r["transcript"][:-1] + "。" for r in table]  # the last character dropped (the 。 is punctuation)
    path = write_jsonl(tmp_path / "zh.jsonl", [{"id": r["id"], "prediction": h} for r, h in zip(table, hyps)])
    report = hub.evaluate("acme/zh@1.0.0", path, root=hub_root)
    assert list(report.metrics) == ["cer"] and report.details["primary"] == "cer"
    expected = jiwer.cer([r["transcript"] for r in table], [h[:-1] for h in hyps])
    close(report.metrics["cer"], expected)
    # speaker segments: the second speaker starts 0.25 s late in the prediction, speakers renamed
    test = split_table(hub_root, "acme/zh", "test").select(["id", "segments", "duration"]).to_pylist()
    guessed = {r["id"]: [{"start": 0.0, "end": 1.25, "label": "x"}, {"start": 1.25, "end": r["duration"], "label": "y"}] for r in test}
    path = write_jsonl(tmp_path / "who.jsonl", [{"id": i, "prediction": p} for i, p in guessed.items()])
    report = hub.evaluate("acme/zh@1.0.0", path, task="speaker-segments", root=hub_root)
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    der = DiarizationErrorRate()
    for r in test:
        ref, hyp = Annotation(), Annotation()
        for s in r["segments"]:
            ref[Segment(s["start"], s["end"])] = s["label"]
        for s in guessed[r["id"]]:
            hyp[Segment(s["start"], s["end"])] = s["label"]
        der(ref, hyp, uem=Timeline([Segment(0, r["duration"])]))
    close(report.metrics["der"], abs(der))
    assert report.metrics["der"]["value"] == pytest.approx(0.25 * len(test) / sum(r["duration"] for r in test), abs=1e-5)
    assert report.libraries["pyannote.metrics"] == "4.2.0"


# -- intents: demo/chatterbot-dialogue, a CSV with a class outside the label set --------------


def test_dialogue_intents_from_csv(demo_root, tmp_path):
    table = split_table(demo_root, "demo/chatterbot-dialogue", "test").select(["id", "intent"])
    labels = json.loads((demo_root / "registry/demo/chatterbot-dialogue/versions/1.0.0/manifest.json").read_text())["labels"]
    ids = table.column("id").to_pylist()
    truth = [labels[i] for i in table.column("intent").to_pylist()]
    predicted = [t if i % 5 else "food" for i, t in enumerate(truth)]
    predicted[1] = "weather"  # not a class of the dataset
    path = tmp_path / "intents.csv"
    path.write_text("id,prediction\n" + "".join(f'{i},"{p}"\n' for i, p in zip(ids, predicted)), encoding="utf-8")
    report = hub.evaluate("demo/chatterbot-dialogue@1.0.0", path, root=demo_root)
    assert report.task == "intent" and report.predictions["format"] == "csv"
    scored = ["(none)" if p == "weather" else p for p in predicted]
    present = sorted(set(truth) | set(scored) - {"(none)"})
    assert report.metrics["accuracy"]["value"] == pytest.approx(skm.accuracy_score(truth, scored), abs=1e-6)
    close(report.metrics["macro_f1"], skm.f1_score(truth, scored, labels=present, average="macro", zero_division=0))
    assert report.problems == [{"slug": "unknown-label", "message": "1 predictions name a class outside the label set ('weather'); they count as wrong",
                                "count": 1, "ids": [ids[1]]}]


# -- boxes: known IoUs, against pycocotools ----------------------------------------------------


def test_boxes_map_matches_pycocotools(hub_root, digit_pngs, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    records, files = [], {}
    for i in range(16):
        files[f"raw/{i}.png"] = digit_pngs[i]
        records.append({"id": f"b{i:02d}", "image": f"raw/{i}.png", "group": f"g{i}",
                        "objects": {"bbox": [[1.0, 1.0, 4.0, 4.0], [4.0, 4.0, 3.0, 3.0]], "category": ["cat", "dog" if i % 2 else "cat"]}})
    write_dataset(hub_root, "acme/boxes", records, labels=["cat", "dog"], extra_files=files,
                  split={"group_key": "group", "ratios": {"train": 0.5, "test": 0.5}, "seed": 1})
    hub.publish("acme/boxes", root=hub_root)
    table = split_table(hub_root, "acme/boxes", "test").select(["id", "objects"]).to_pylist()
    rows, images, annotations, detections = [], [], [], []
    shifts = [0.0, 1.0, 2.0, 0.5]  # IoU of a 4x4 box shifted by dx: (4 - dx) * 4 / (32 - (4 - dx) * 4): 1, 0.6, 0.333, 0.778
    for n, r in enumerate(table):
        dx = shifts[n % 4]
        boxes = {"bbox": [[1.0 + dx, 1.0, 4.0, 4.0], [4.0, 4.0, 3.0, 3.0]], "category": ["cat", "dog" if n % 3 else "cat"], "score": [0.9, 0.4 + n / 100]}
        rows.append({"id": r["id"], "prediction": boxes})
        images.append({"id": n + 1})
        for b, c in zip(r["objects"]["bbox"], r["objects"]["category"]):
            annotations.append({"id": len(annotations) + 1, "image_id": n + 1, "category_id": 1 + c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0})
        for b, c, s in zip(boxes["bbox"], boxes["category"], boxes["score"]):
            detections.append({"image_id": n + 1, "category_id": 1 + ["cat", "dog"].index(c), "bbox": b, "score": s})
    path = tmp_path / "boxes.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    report = hub.evaluate("acme/boxes@1.0.0", path, task="boxes", root=hub_root)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(detections), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    close(report.metrics["map"], ev.stats[0])
    close(report.metrics["ap50"], ev.stats[1])
    close(report.metrics["ap75"], ev.stats[2])
    assert 0 < ev.stats[0] < 1 and report.libraries["pycocotools"] == "2.0.11"
    assert set(report.details["per_class"]) == {"cat", "dog"}
    nan = tmp_path / "nan.jsonl"
    nan.write_text(f'{{"id": "{rows[0]["id"]}", "prediction": {{"bbox": [[1, 1, 2, 2]], "category": ["cat"], "score": [NaN]}}}}\n')
    with pytest.raises(hub.errors.PredictionsError) as excinfo:
        hub.evaluate("acme/boxes@1.0.0", nan, task="boxes", root=hub_root)
    assert excinfo.value.message == f"predictions file {nan}, line 1 (id {rows[0]['id']!r}): box 0's score is nan: scores and coordinates must be finite numbers"
    assert excinfo.value.hint.startswith('A boxes prediction is boxes with scores: {"id": "...", "prediction": {"bbox": [[x, y, width, height]]')


def test_a_true_box_without_a_class_is_reported_not_a_crash():
    from hub.evaluation.metrics import Scoring, boxes

    truth = [{"bbox": [[1.0, 1.0, 4.0, 4.0], [0.0, 0.0, 2.0, 2.0]], "category": ["cat", None]}]
    pred = [{"bbox": [[1.0, 1.0, 4.0, 4.0]], "category": ["cat"], "score": [0.9]}]
    scoring = Scoring("objects", ["b0"], truth, pred, ["cat"], None, resamples=20)
    result = boxes(scoring)
    assert result["metrics"]["map"]["value"] == 1.0
    assert scoring.problems == [{"slug": "unlabelled-box", "message": "1 true boxes have no class; they are not scored", "count": 1, "ids": ["b0"]}]


# -- sensor anomaly spans: event-wise and point-adjusted ---------------------------------------


def test_sensor_spans_event_wise_and_point_adjusted(hub_root, tmp_path):
    records = []
    for i in range(8):
        records.append({"id": f"w{i}", "asset_id": f"pump-{i}", "channels": ["vib"], "units": ["g"], "sample_rate": 10.0,
                        "series": [[float((i * k) % 7) for k in range(20)]], "fault": "normal", "anomalies": [{"start": 0.5, "end": 1.0, "label": "spike"}]})
    write_dataset(hub_root, "acme/pumps", records, modality="industrial", labels=["normal", "spike"],
                  split={"group_key": "asset_id", "ratios": {"train": 0.5, "test": 0.5}, "seed": 1})
    hub.publish("acme/pumps", root=hub_root)
    ids = split_table(hub_root, "acme/pumps", "test").column("id").to_pylist()
    # record 0: a span overlapping the truth's end (0.9-1.2 s); record 1: one far off (1.5-1.8 s); the rest: none
    spans = {ids[0]: [{"start": 0.9, "end": 1.2, "label": "spike"}], ids[1]: [{"start": 1.5, "end": 1.8, "label": "spike"}]}
    path = write_jsonl(tmp_path / "spans.jsonl", [{"id": i, "prediction": spans.get(i, [])} for i in ids])
    report = hub.evaluate("acme/pumps@1.0.0", path, task="anomaly-spans", root=hub_root)
    n = len(ids)
    close(report.metrics["event_precision"], 1 / 2)
    close(report.metrics["event_recall"], 1 / n)
    close(report.metrics["event_f1"], 2 * 0.5 * (1 / n) / (0.5 + 1 / n))
    t = np.arange(20) / 10.0
    truth = np.concatenate([(t >= 0.5) & (t < 1.0)] * n)
    pred = np.zeros((n, 20), bool)
    pred[0] = ((t >= 0.9) & (t < 1.2)) | ((t >= 0.5) & (t < 1.0))  # adjusted: the whole true span found
    pred[1] = (t >= 1.5) & (t < 1.8)
    close(report.metrics["pa_f1"], skm.f1_score(truth, pred.ravel()))
    close(report.metrics["pa_precision"], skm.precision_score(truth, pred.ravel()))
    assert "point-adjusted" in report.details["definitions"]


# -- the pull cache ----------------------------------------------------------------------------


def test_a_pulled_version_scores_as_the_registry(served, digit_predictions, tmp_path):
    path = digit_predictions[0]
    pulled = hub.evaluate("demo/digits@1.0.0", path, endpoint=served.url, cache_dir=tmp_path, resamples=100)
    local = hub.evaluate("demo/digits@1.0.0", path, root=served.root, resamples=100)
    assert pulled.source == {"kind": "cache", "path": str(tmp_path / "demo/digits/1.0.0")}
    assert pulled.metrics == local.metrics and pulled.manifest_sha256 == local.manifest_sha256


# -- bad input ---------------------------------------------------------------------------------


def bad_file(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("name, content, message, hint", [
    ("p.txt", "digits-00004 4\n", "p.txt: .txt is not a predictions format (JSONL, CSV or Parquet)",
     "Save the predictions as .jsonl (one JSON object a line), .csv or .parquet, with `id` and `prediction` columns."),
    ("p.parquet", "id,prediction\n", "p.parquet: is named .parquet but is not a Parquet file (no PAR1 magic bytes)",
     "Write it with pyarrow or pandas `to_parquet`, or rename it to what it is."),
    ("p.csv", "record,prediction\ndigits-00004,4\n", "p.csv: has no `id` column (its columns: record, prediction)",
     "Write one row per record with an `id` (the record id) and a `prediction` column."),
    ("p.jsonl", '{"id": "digits-00004", "prediction": "4"}\n{"id": "digits-00010", "label": "4"}\n', "p.jsonl: line 2 has no `prediction` (it has 'id', 'label')",
     "Write one row per record with an `id` (the record id) and a `prediction` column."),
    ("p.jsonl", '{"id": "digits-00004", "prediction": "4"}\n\n{"id": "x", "prediction": 4\n', "p.jsonl: line 3 is not JSON (Expecting ',' delimiter, column 28)",
     'JSONL holds one JSON object per line, e.g. {"id": "rec-1", "prediction": "cat"}.'),
    ("p.jsonl", '{"id": 4, "prediction": "4"}\n', "p.jsonl: line 1: the id is 4, not a record id (a non-empty string)",
     "Use the records' `id` values as the split's shards hold them, as strings."),
    ("p.jsonl", '{"id": "digits-00004", "prediction": "4"}\n{"id": "digits-00010", "prediction": 4}\n',
     "p.jsonl, line 2 (id 'digits-00010'): the prediction must be a class name (a string), not int 4",
     'A classification prediction is a class name (a string): {"id": "...", "prediction": "cat"}.'),
    ("p.jsonl", '\n{"id": "digits-00004", "prediction": 4}\n{"id": "digits-00010", "prediction": 5}\n',  # read by pyarrow, the line still found
     "p.jsonl, line 2 (id 'digits-00004'): the prediction must be a class name (a string), not int 4",
     'A classification prediction is a class name (a string): {"id": "...", "prediction": "cat"}.'),
])
def test_unusable_predictions_files_are_clear_errors(demo_root, tmp_path, name, content, message, hint):
    path = bad_file(tmp_path, name, content)
    with pytest.raises(hub.errors.PredictionsError) as excinfo:
        hub.evaluate("demo/digits@1.0.0", path, root=demo_root)
    assert excinfo.value.message == f"predictions file {tmp_path}/{message}"
    assert excinfo.value.hint == hint


@pytest.mark.parametrize("prediction, message", [
    ("3 boxes", "the prediction is text that is not JSON (Extra data at character 2)"),
    ({"bbox": [[1, 1, 2, 2]], "category": ["cat"], "score": [float("nan")]}, "box 0's score is nan: scores and coordinates must be finite numbers"),
    ({"bbox": [[1, 1, 2]], "category": ["cat"], "score": [0.5]}, "box 0: bbox must be [x, y, width, height], not [1, 1, 2]"),
    ({"bbox": [[1, 1, 2, 2]], "category": ["cat", "dog"], "score": [0.5]}, "bbox, category and score have 1, 2 and 1 entries: one each per box"),
    ([{"start": 2.0, "end": 1.0, "label": "x"}], "box 0: bbox must be [x, y, width, height], not None"),
    (7, "the prediction must be boxes with scores, not int '7'"),
])
def test_box_predictions_of_the_wrong_shape(prediction, message):
    from hub.evaluation.metrics import boxes_shape

    with pytest.raises(ValueError) as excinfo:
        boxes_shape(prediction)
    assert str(excinfo.value) == message


def test_duplicate_ids_count_as_wrong(demo_root, tmp_path):
    ids = split_table(demo_root, "demo/digits", "test").select(["id", "label"]).to_pylist()
    rows = [{"id": r["id"], "prediction": str(r["label"])} for r in ids] + [{"id": ids[0]["id"], "prediction": str(ids[0]["label"])}]
    report = hub.evaluate("demo/digits@1.0.0", write_jsonl(tmp_path / "p.jsonl", rows), root=demo_root, resamples=0)
    assert report.metrics["accuracy"] == {"value": round((len(ids) - 1) / len(ids), 6)}
    assert report.problems == [{"slug": "duplicate-id", "message": "1 ids are predicted more than once; no prediction is picked for them, so their records count as wrong",
                                "count": 1, "ids": [ids[0]["id"]]}]


@pytest.mark.parametrize("kwargs, message, hint", [
    ({"task": "speaker"}, "image records have no evaluation task 'speaker'", "Pass --task with one of: classification, boxes."),
    ({"split": "holdout"}, "demo/digits@1.0.0 has no split 'holdout' (splits: train, validation, test)", "Pass --split with one of the version's splits."),
    ({"targets": ["accuracy at least 0.9"]}, "target 'accuracy at least 0.9' is not `metric OP number`",
     'Write e.g. "wer<=0.04", "accuracy>=0.96" (or 96%), "fnr[tumor]<0.01"; OP is one of <=, >=, <, >, ==.'),
    ({"targets": ["wer<=0.04"]}, "the classification report has no figure 'wer'",
     "Name one of: accuracy, macro_precision, macro_recall, macro_f1, precision[0], recall[0], f1[0], fnr[0], fpr[0] (per class: metric[class])."),
    ({"task": "boxes"}, "no record of demo/digits@1.0.0's test split is labelled in 'objects': there is nothing to score the boxes task on",
     "Pick another task (--task) or split (--split)."),
])
def test_unknown_tasks_splits_and_targets(demo_root, digit_predictions, kwargs, message, hint):
    with pytest.raises(hub.HubError) as excinfo:
        hub.evaluate("demo/digits@1.0.0", digit_predictions[0], root=demo_root, resamples=10, **kwargs)
    assert (excinfo.value.message, excinfo.value.hint) == (message, hint)


def test_cli_error_is_the_message_and_hint(demo_root, tmp_path):
    path = bad_file(tmp_path, "p.txt", "x")
    result = run_hub("eval", "demo/digits@1.0.0", "--predictions", str(path), root=demo_root)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Error: predictions file {path}: .txt is not a predictions format (JSONL, CSV or Parquet)",
                                          "Hint: Save the predictions as .jsonl (one JSON object a line), .csv or .parquet, with `id` and `prediction` columns."]
