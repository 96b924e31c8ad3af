"""Real corpora as they come (issue 11): columns named their own way, extra columns, no
durations or sizes, media paths relative to the records file; each publishes with only a
`source.fields` mapping in dataset.yaml, and `datasets` loads the extra columns.

The corpora are the demo data (espeak-ng speech, scikit-learn digits, chatterbot dialogues,
BasicMotions windows, the Big Buck Bunny clips) written out the way other tools write them.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile
import yaml

import hub
from hub.validation import validate as validate_table

RATIOS = {"train": 0.6, "validation": 0.2, "test": 0.2}
VOICES = ["en-us", "en-gb", "en-sc", "es", "en-us+f3", "en-gb+m3"]
SENTENCES = ["the kettle is boiling", "close the window please"]


def _entry(folder: Path, *, modality: str, source: dict[str, Any], labels: list[str], record: str | None = None, **split: Any) -> None:
    doc = {"title": f"Corpus {folder.name}", "description": "A corpus as it came, mapped.", "modality": modality, "license": "CC0-1.0",
           "source": source, "labels": labels, "split": {"ratios": RATIOS, "seed": 5, **split}}
    if record:
        doc["record"] = record
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _png(pixels: Any, size: tuple[int, int]) -> bytes:
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((pixels * 255 / 16).astype(np.uint8), mode="L").resize(size).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> dict[str, bytes]:
    """Real speech: two sentences in six espeak-ng voices."""
    folder = tmp_path_factory.mktemp("voices")
    out = {}
    for v, voice in enumerate(VOICES):
        for s, text in enumerate(SENTENCES):
            path = folder / f"{v}-{s}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
            out[f"{v}-{s}"] = path.read_bytes()
    return out


def _speech(folder: Path, wavs: dict[str, bytes]) -> None:
    """Common Voice-like: `client_id`, `path`, `sentence`, `locale`, plus `up_votes`; no duration or sample rate."""
    rows = []
    for key, wav in wavs.items():
        v, s = key.split("-")
        (folder / "raw" / "cv" / "clips").mkdir(parents=True, exist_ok=True)
        (folder / "raw" / "cv" / "clips" / f"{key}.wav").write_bytes(wav)
        rows.append({"utt": f"utt-{key}", "client_id": f"voice-{v}", "path": f"clips/{key}.wav", "sentence": SENTENCES[int(s)],
                     "locale": "es" if VOICES[int(v)] == "es" else "en", "up_votes": int(v) + int(s)})
    _jsonl(folder / "raw" / "cv" / "validated.jsonl", rows)
    _entry(folder, modality="speech", labels=[], stratify_key=None, group_key="speaker", source={
        "format": "jsonl", "files": [{"path": "raw/cv/validated.jsonl"}],
        "fields": {"id": "utt", "audio": "path", "transcript": "sentence", "speaker": "client_id", "language": "locale"}})


def _images(folder: Path, digits: Any) -> None:
    """YOLO-like boxes (relative centre and size) in a list of objects; a photographer per image."""
    rows = []
    for i in range(30):
        (folder / "raw" / "shots").mkdir(parents=True, exist_ok=True)
        (folder / "raw" / "shots" / f"{i}.png").write_bytes(_png(digits.images[i], (40, 32)))
        rows.append({"name": f"digit-{i}", "file": f"{i}.png", "class": str(digits.target[i]), "session": f"s{i % 6}", "photographer": f"p{i % 3}",
                     "annotations": [{"bbox": [0.5, 0.5, 0.5, 0.25], "category": str(digits.target[i])}]})
    _jsonl(folder / "raw" / "shots" / "labels.jsonl", rows)
    _entry(folder, modality="image", labels=[str(d) for d in range(10)], group_key="group", source={
        "format": "jsonl", "files": [{"path": "raw/shots/labels.jsonl"}],
        "fields": {"id": "name", "image": "file", "label": "class", "group": "session",
                   "objects": {"column": "annotations", "format": "cxcywh", "relative": True}}})


def _inspection(folder: Path, digits: Any) -> None:
    """A Parquet file as a Hugging Face export names it: `label`, `module`, `cell_type`."""
    rows = []
    for i in range(30):
        rows.append({"uid": f"cell-{i}", "picture": {"bytes": _png(digits.images[i], (32, 32)), "path": f"cell-{i}.png"},
                     "label": ["good", "crack"][i % 2], "module": f"module-{i % 6}", "cell_type": ["mono", "poly"][i % 2]})
    (folder / "raw" / "hf").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "raw" / "hf" / "train.parquet")
    _entry(folder, modality="industrial", record="inspection", labels=["good", "crack"], group_key="asset_id", source={
        "format": "parquet", "files": [{"path": "raw/hf/train.parquet"}],
        "fields": {"id": "uid", "image": "picture", "defect": "label", "asset_id": "module"}})


def _dialogues(folder: Path) -> None:
    """Chat exports: `conversation`, `category`, `messages`, with the `prompt` they came from."""
    from hub.demo.chatterbot import load

    rows = [{"conversation": d["id"], "thread": d["dialogue_id"], "lang": d["language"], "category": d["intent"], "messages": d["turns"],
             "prompt": f"topic {d['intent']}"} for d in load({"limit": 40})]
    _jsonl(folder / "raw" / "chats.jsonl", rows)
    labels = sorted({r["category"] for r in rows})
    _entry(folder, modality="dialogue", labels=labels, group_key="dialogue_id", source={
        "format": "jsonl", "files": [{"path": "raw/chats.jsonl"}],
        "fields": {"id": "conversation", "dialogue_id": "thread", "language": "lang", "intent": "category", "turns": "messages"}})


def _sensors(folder: Path) -> None:
    """One window per line: `{channel: samples}` and `{channel: unit}`, a `recorded_at` time, grouped by production `line` (an extra)."""
    from hub.demo.basicmotions import load

    rows = []
    for i, w in enumerate(load({"limit": 30})):
        rows.append({"window": w["id"], "machine": f"pump-{i % 10}", "line": f"line-{i % 5}", "rate_hz": w["sample_rate"], "label": w["fault"],
                     "signals": dict(zip(w["channels"], w["series"])), "signal_units": dict(zip(w["channels"], w["units"])),
                     "recorded_at": f"2024-01-01T00:{i:02d}:00"})
    _jsonl(folder / "raw" / "windows.jsonl", rows)
    _entry(folder, modality="industrial", record="sensor", labels=sorted({r["label"] for r in rows}), group_key="line", source={
        "format": "jsonl", "files": [{"path": "raw/windows.jsonl"}],
        "fields": {"id": "window", "asset_id": "machine", "sample_rate": "rate_hz", "fault": "label",
                   "series": {"column": "signals", "units": "signal_units"}}})


def _videos(folder: Path) -> None:
    """The clips as MP4 files next to their list, without duration, fps or size."""
    from hub.demo.video_clips import load

    rows = []
    for clip in load({}):
        (folder / "raw" / "v" / "mp4").mkdir(parents=True, exist_ok=True)
        (folder / "raw" / "v" / "mp4" / f"{clip['id']}.mp4").write_bytes(clip["video"]["bytes"])
        rows.append({"clip": clip["id"], "file": f"mp4/{clip['id']}.mp4", "scene": clip["label"], "shot": clip["group"], "camera": "cam-a"})
    _jsonl(folder / "raw" / "v" / "clips.jsonl", rows)
    _entry(folder, modality="video", labels=sorted(r["scene"] for r in rows), group_key="group", stratify_key=None, source={
        "format": "jsonl", "files": [{"path": "raw/v/clips.jsonl"}],
        "fields": {"id": "clip", "video": "file", "label": "scene", "group": "shot"}})


CORPORA = {  # dataset -> (the extra columns, with their published dtype)
    "acme/voices": {"up_votes": "int64"},
    "acme/photos": {"photographer": "string"},
    "acme/cells": {"cell_type": "string"},
    "acme/chats": {"prompt": "string"},
    "acme/pumps": {"line": "string", "recorded_at": "string"},
    "acme/clips": {"camera": "string"},
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, wavs) -> Path:
    from sklearn.datasets import load_digits

    root = hub.init(tmp_path_factory.mktemp("corpora") / "hub")
    digits = load_digits()
    registry = root / "registry"
    _speech(registry / "acme" / "voices", wavs)
    _images(registry / "acme" / "photos", digits)
    _inspection(registry / "acme" / "cells", digits)
    _dialogues(registry / "acme" / "chats")
    _sensors(registry / "acme" / "pumps")
    _videos(registry / "acme" / "clips")
    return root


@pytest.mark.parametrize("dataset", list(CORPORA))
def test_corpus_publishes_with_its_extras(corpora, dataset):
    import datasets

    report = hub.validate(dataset, root=corpora)
    assert [(p.slug, p.message) for p in report.problems] == []
    assert report.extras == {"kept": CORPORA[dataset], "dropped": []}
    published = hub.publish(dataset, root=corpora)
    loaded = datasets.load_dataset("parquet", data_dir=str(published.path / "data"))
    for name, dtype in CORPORA[dataset].items():
        assert loaded["train"].features[name] == datasets.Value(dtype)
    card = (published.path / "README.md").read_text(encoding="utf-8")
    assert all(f"name: {name}" in card for name in CORPORA[dataset])  # the card's dataset_info lists them


def test_speech_durations_and_sample_rates_come_from_the_audio(corpora, wavs):
    validated = validate_table(corpora, "acme/voices")
    rows = {r["id"]: r for r in validated.table.to_pylist()}
    assert len(rows) == len(wavs)
    for key, wav in wavs.items():
        info = soundfile.info(io.BytesIO(wav))
        assert rows[f"utt-{key}"]["sample_rate"] == info.samplerate
        assert rows[f"utt-{key}"]["duration"] == pytest.approx(info.frames / info.samplerate, abs=1e-4)
        assert rows[f"utt-{key}"]["audio"]["path"] == f"clips/{key}.wav"  # as the records file names it


def test_video_duration_fps_and_size_come_from_the_clip(corpora):
    from hub.records.video import probe

    validated = validate_table(corpora, "acme/clips")
    assert (validated.report.problems, validated.table.num_rows) == ([], 3)
    for row in validated.table.to_pylist():
        info = probe(row["video"]["bytes"])
        assert (row["width"], row["height"], row["fps"]) == (info.width, info.height, pytest.approx(info.fps, abs=1e-3))
        assert row["duration"] == pytest.approx(info.duration, abs=1e-3)


def test_relative_centre_boxes_become_pixel_xywh(corpora):
    validated = validate_table(corpora, "acme/photos")
    row = validated.table.to_pylist()[0]
    assert row["objects"]["bbox"] == [[10.0, 12.0, 20.0, 8.0]]  # 40x32 image: centre (20, 16), size 20x8


def test_channel_dicts_become_channels_units_and_series(corpora):
    from hub.demo.basicmotions import load

    first = next(iter(load({"limit": 1})))
    row = {r["id"]: r for r in validate_table(corpora, "acme/pumps").table.to_pylist()}[first["id"]]
    assert (row["channels"], row["units"]) == (first["channels"], first["units"])
    assert row["series"] == [pytest.approx(s, rel=1e-6) for s in first["series"]]


def test_group_key_may_be_an_extra_field(corpora):
    validated = validate_table(corpora, "acme/pumps", assign_splits=True)
    assignment = validated.split_assignment()
    by_line: dict[str, set[int]] = {}
    for line, split in zip(validated.table.column("line").to_pylist(), assignment.index):
        by_line.setdefault(line, set()).add(int(split))
    assert all(len(splits) == 1 for splits in by_line.values())  # a production line stays in one split


# -- small corpora for the rules ---------------------------------------------------------------


def _utterances(root: Path, wavs: dict[str, bytes], fields: dict[str, Any], rows: list[dict[str, Any]] | None = None, **source: Any) -> Path:
    folder = root / "registry" / "acme" / "rules"
    for key, wav in wavs.items():
        (folder / "raw" / "clips").mkdir(parents=True, exist_ok=True)
        (folder / "raw" / "clips" / f"{key}.wav").write_bytes(wav)
    if rows is None:
        rows = [{"utt": f"u-{k}", "wav": f"clips/{k}.wav", "text": SENTENCES[int(k[-1])], "spk": f"v{k[0]}", "language": "en"} for k in wavs]
    _jsonl(folder / "raw" / "list.jsonl", rows)
    _entry(folder, modality="speech", labels=[], group_key="speaker", source={"format": "jsonl", "files": [{"path": "raw/list.jsonl"}], "fields": fields, **source})
    return folder


def _problems(report) -> list[tuple[str, str | None, int | None, str | None, str]]:
    return [(p.slug, p.file, p.row, p.field, p.message) for p in report.problems]


BASE = {"id": "utt", "audio": "wav", "transcript": "text", "speaker": "spk"}


def test_milliseconds_become_seconds(hub_root, wavs):
    rows = [{"utt": f"u-{k}", "wav": f"clips/{k}.wav", "text": "hello", "spk": f"v{k[0]}", "language": "en",
             "length_ms": round(soundfile.info(io.BytesIO(w)).duration * 1000)} for k, w in wavs.items()]
    _utterances(hub_root, wavs, {**BASE, "duration": {"column": "length_ms", "unit": "ms"}}, rows)
    validated = validate_table(hub_root, "acme/rules")
    assert validated.report.problems == []
    durations = dict(zip(validated.table.column("id").to_pylist(), validated.table.column("duration").to_pylist()))
    assert durations["u-0-0"] == pytest.approx(rows[0]["length_ms"] / 1000, abs=1e-3)


def test_a_mapped_column_no_record_has(hub_root, wavs):
    _utterances(hub_root, wavs, {**BASE, "speaker": "spkr"})
    report = hub.validate("acme/rules", root=hub_root)
    message = "source.fields.speaker names column 'spkr', which no record has: did you mean 'spk'? (columns: utt, wav, text, spk, language)"
    assert ("bad-mapping", "registry/acme/rules/dataset.yaml", None, "source.fields.speaker", message) in _problems(report)


def test_two_columns_for_one_field(hub_root, wavs):
    rows = [{"utt": f"u-{k}", "wav": f"clips/{k}.wav", "text": "hello", "spk": f"v{k[0]}", "speaker": "someone", "language": "en"} for k in wavs]
    _utterances(hub_root, wavs, BASE, rows)
    report = hub.validate("acme/rules", root=hub_root)
    assert _problems(report) == [("bad-mapping", "registry/acme/rules/dataset.yaml", None, "source.fields.speaker",
                                  "source.fields maps column 'spk' to 'speaker', but the records also have a column 'speaker' (first at raw/list.jsonl row 1): "
                                  "two columns for one field; map the other one to a name of its own (e.g. `speaker_original: speaker`) or remove it")]


def test_a_mapped_field_of_the_wrong_type(hub_root, wavs):
    rows = [{"utt": f"u-{k}", "wav": f"clips/{k}.wav", "text": "hello", "spk": f"v{k[0]}", "language": "en", "rate": "22k"} for k in wavs]
    _utterances(hub_root, wavs, {**BASE, "sample_rate": "rate"}, rows)
    report = hub.validate("acme/rules", root=hub_root)
    assert _problems(report)[0] == ("type-error", "raw/list.jsonl", 1, "sample_rate",
                                    "sample_rate: '22k' is not of type 'integer' (column 'rate' via source.fields.sample_rate)")
    assert report.rows_valid == 0


def test_a_transform_for_another_kind_of_field(hub_root, wavs):
    _utterances(hub_root, wavs, {**BASE, "transcript": {"column": "text", "unit": "ms"}})
    report = hub.validate("acme/rules", root=hub_root)
    assert _problems(report)[0] == ("bad-mapping", "registry/acme/rules/dataset.yaml", None, "source.fields.transcript",
                                  "source.fields.transcript: `unit` converts numbers, and 'transcript' is not a number field")


def test_a_unit_that_does_not_fit_the_values(hub_root, wavs):
    rows = [{"utt": f"u-{k}", "wav": f"clips/{k}.wav", "text": "hello", "spk": f"v{k[0]}", "language": "en", "length": "1.5 s"} for k in wavs]
    _utterances(hub_root, wavs, {**BASE, "duration": {"column": "length", "unit": "ms"}}, rows)
    report = hub.validate("acme/rules", root=hub_root)
    assert _problems(report)[0] == ("bad-mapping", "raw/list.jsonl", 1, "duration", "column 'length' (source.fields.duration) holds '1.5 s': `unit: ms` needs a number")


def _boxes(root: Path, pngs: list[bytes], boxes: list, spec: dict[str, Any]) -> None:
    folder = root / "registry" / "acme" / "boxes"
    rows = []
    for i, png in enumerate(pngs[:6]):
        (folder / "raw" / "img").mkdir(parents=True, exist_ok=True)
        (folder / "raw" / "img" / f"{i}.png").write_bytes(png)
        rows.append({"id": f"b{i}", "image": f"img/{i}.png", "group": f"g{i}", "boxes": [{"bbox": boxes[i % len(boxes)], "category": "1"}]})
    _jsonl(folder / "raw" / "labels.jsonl", rows)
    _entry(folder, modality="image", labels=["1"], group_key="group", source={"format": "jsonl", "files": [{"path": "raw/labels.jsonl"}],
                                                                           "fields": {"objects": {"column": "boxes", **spec}}})


@pytest.mark.parametrize("spec, boxes, message", [
    ({"format": "xyxy"}, [[1, 1, 4, 4], [5, 5, 2, 2]],
     "column 'boxes' (source.fields.objects): box 0 [5, 5, 2, 2] ends before it starts (x2 < x1 or y2 < y1): not `format: xyxy` (is it xywh?)"),
    ({"relative": True}, [[0.1, 0.1, 0.5, 0.5], [2, 2, 4, 4]],
     "column 'boxes' (source.fields.objects): box 0 [2, 2, 4, 4] has values outside 0..1: not relative (drop `relative: true`)"),
    ({"category": "label"}, [[1, 1, 2, 2]],
     "column 'boxes' (source.fields.objects) holds an object with keys ['bbox', 'category']: expected a list of {'bbox': [4 numbers], 'label': label} objects"),
])
def test_a_box_transform_that_does_not_fit(hub_root, digit_pngs, spec, boxes, message):
    _boxes(hub_root, digit_pngs, boxes, spec)
    report = hub.validate("acme/boxes", root=hub_root)
    first = _problems(report)[0]
    assert first[0] == "bad-mapping" and first[3] == "objects" and first[4] == message


def test_xyxy_boxes_become_xywh(hub_root, digit_pngs):
    _boxes(hub_root, digit_pngs, [[1, 2, 5, 7]], {"format": "xyxy"})
    validated = validate_table(hub_root, "acme/boxes")
    assert validated.report.problems == []
    assert validated.table.to_pylist()[0]["objects"]["bbox"] == [[1.0, 2.0, 4.0, 5.0]]


def test_channel_dicts_without_a_unit(hub_root):
    folder = hub_root / "registry" / "acme" / "flow"
    rows = [{"id": f"w{i}", "asset_id": f"a{i}", "sample_rate": 10.0, "signals": {"flow": [0.0, 1.0], "pressure": [1.0, 2.0]}, "units": {"flow": "L/s"}} for i in range(5)]
    _jsonl(folder / "raw" / "w.jsonl", rows)
    _entry(folder, modality="industrial", record="sensor", labels=[], group_key="asset_id", source={
        "format": "jsonl", "files": [{"path": "raw/w.jsonl"}], "fields": {"series": {"column": "signals", "units": "units"}}})
    report = hub.validate("acme/flow", root=hub_root)
    assert _problems(report)[0] == ("bad-mapping", "raw/w.jsonl", 1, "units", "column 'units' gives no unit for channel 'pressure' (units for: flow)")


def test_two_maps_writing_one_field(hub_root):
    folder = hub_root / "registry" / "acme" / "flow"
    rows = [{"id": f"w{i}", "asset_id": f"a{i}", "sample_rate": 10.0, "signals": {"flow": [0.0, 1.0]}, "names": ["flow"]} for i in range(5)]
    _jsonl(folder / "raw" / "w.jsonl", rows)
    _entry(folder, modality="industrial", record="sensor", labels=[], group_key="asset_id", source={
        "format": "jsonl", "files": [{"path": "raw/w.jsonl"}], "fields": {"series": {"column": "signals", "units": {"flow": "L/s"}}, "channels": "names"}})
    report = hub.validate("acme/flow", root=hub_root)
    assert ("bad-mapping", "registry/acme/flow/dataset.yaml", None, "source.fields.channels",
            "source.fields: columns 'signals' and 'names' are both mapped to 'channels': map one column per field") in _problems(report)


def test_extras_drop(hub_root, wavs):
    rows = [{"utt": f"u-{k}", "wav": f"clips/{k}.wav", "text": "hello", "spk": f"v{k[0]}", "language": "en", "votes": 3, "client": "x"} for k in wavs]
    _utterances(hub_root, wavs, BASE, rows, extras="drop")
    validated = validate_table(hub_root, "acme/rules")
    assert validated.report.problems == []
    assert validated.report.extras == {"kept": {}, "dropped": ["votes", "client"]}
    assert "votes" not in validated.table.column_names
    assert validated.report.to_dict()["extras"] == {"kept": {}, "dropped": ["votes", "client"]}


def test_extra_values_of_mixed_types_are_kept_as_json_text(hub_root, wavs):
    rows = [{"utt": f"u-{k}", "wav": f"clips/{k}.wav", "text": "hello", "spk": f"v{k[0]}", "language": "en", "meta": 3 if i % 2 else "n/a"}
            for i, k in enumerate(wavs)]
    _utterances(hub_root, wavs, BASE, rows)
    validated = validate_table(hub_root, "acme/rules")
    assert validated.report.extras == {"kept": {"meta": "string"}, "dropped": []}
    assert validated.table.column("meta").to_pylist()[:2] == ['"n/a"', "3"]


def test_group_key_naming_no_column(hub_root, wavs):
    folder = _utterances(hub_root, wavs, BASE)
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc["split"]["group_key"] = "session"
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc))
    report = hub.validate("acme/rules", root=hub_root)
    assert _problems(report) == [("bad-split-policy", "registry/acme/rules/dataset.yaml", None, "split.group_key",
                                  "split.group_key 'session' is neither a field of speech records nor a column of the source "
                                  "(fields: id, audio, transcript, speaker, speaker_gender, language, duration, sample_rate, label, segments)")]


def test_paths_resolve_next_to_the_records_file_then_in_the_folder(hub_root, wavs):
    key = next(iter(wavs))
    folder = hub_root / "registry" / "acme" / "rules"
    (folder / "raw" / "shared").mkdir(parents=True)
    (folder / "raw" / "shared" / "a.wav").write_bytes(wavs[key])
    (folder / "top.wav").write_bytes(wavs[key])
    rows = [{"utt": "u-near", "wav": f"clips/{key}.wav"}, {"utt": "u-up", "wav": "shared/a.wav"}, {"utt": "u-folder", "wav": "top.wav"},
            {"utt": "u-dotdot", "wav": "../top.wav"}, {"utt": "u-out", "wav": "../../../../secret.wav"}, {"utt": "u-none", "wav": "clips/none.wav"}]
    rows = [dict(r, text="hello", spk=f"s{i}", language="en") for i, r in enumerate(rows)]
    _utterances(hub_root, wavs, BASE, rows)
    validated = validate_table(hub_root, "acme/rules")
    assert sorted(validated.table.column("id").to_pylist()) == ["u-dotdot", "u-folder", "u-near", "u-up"]
    assert _problems(validated.report) == [
        ("unsafe-path", "raw/list.jsonl", 5, "audio", "path '../../../../secret.wav' leaves the dataset folder"),
        ("type-error", "raw/list.jsonl", 6, "audio",
         "media file 'clips/none.wav' does not exist (looked for raw/clips/none.wav, next to the records file, and clips/none.wav in the dataset folder) (column 'wav' via source.fields.audio)"),
    ]


def test_a_link_next_to_the_records_file_that_leaves_the_folder(hub_root, wavs, tmp_path):
    outside = tmp_path / "outside.wav"
    outside.write_bytes(next(iter(wavs.values())))
    folder = _utterances(hub_root, wavs, BASE, [{"utt": "u", "wav": "clips/link.wav", "text": "hello", "spk": "s", "language": "en"}])
    (folder / "raw" / "clips" / "link.wav").symlink_to(outside)
    report = hub.validate("acme/rules", root=hub_root)
    assert _problems(report) == [("unsafe-path", "raw/list.jsonl", 1, "audio", "path 'clips/link.wav' leaves the dataset folder (through a link)")]


def test_the_dataset_page_previews_the_extra_fields(corpora):
    import httpx

    from conftest import uvicorn_thread
    from hub.server import create_app

    hub.publish("acme/chats", root=corpora, skip_unchanged=True)
    with uvicorn_thread(create_app(corpora)) as url:
        page = httpx.get(f"{url}/datasets/acme/chats", timeout=30)
    assert page.status_code == 200
    assert '<th>prompt <span class="type muted">string</span></th>' in page.text  # the extra column, with its type
    assert "topic " in page.text  # a value of the extra column


def test_the_viewer_filters_on_an_extra_field(corpora):
    """Issue #16: filters on class labels and extra fields; `prompt` is the chat corpus' own column."""
    import html

    import httpx
    import pyarrow.parquet as pq

    from conftest import uvicorn_thread
    from hub.server import create_app

    published = hub.publish("acme/chats", root=corpora, skip_unchanged=True)
    rows = [r for f in published.manifest["files"] if f["split"] == "test" for r in pq.read_table(published.path / f["path"]).to_pylist()]
    value = rows[0]["prompt"]
    with uvicorn_thread(create_app(corpora)) as url:
        page = httpx.get(f"{url}/datasets/acme/chats", timeout=30).text
        chosen = httpx.get(f"{url}/datasets/acme/chats", params={"split": "test", "prompt": value}, timeout=30).text
        unknown = httpx.get(f"{url}/datasets/acme/chats", params={"prompt": "no such topic"}, timeout=30)
    assert '<label>prompt <select name="prompt"><option value="">any</option>' in page
    matching = sum(1 for r in rows if r["prompt"] == value)
    rows_word, verb = ("rows", "hold") if matching != 1 else ("row", "holds")
    assert f"<h2>Preview: test <span class=\"muted\">({matching} {rows_word} {verb} prompt {value}, 1–{matching} shown, version {published.version})</span></h2>" in html.unescape(chosen)
    assert unknown.status_code == 400 and "prompt has no value &#39;no such topic&#39;" in unknown.text


def test_hub_validate_lists_the_extra_fields(corpora):
    from conftest import run_hub

    console = run_hub("validate", "acme/chats", root=corpora)
    assert console.returncode == 0, console.stderr
    assert "  extra fields kept: prompt (string)" in console.stdout.splitlines()
    as_json = json.loads(run_hub("validate", "acme/chats", "--json", root=corpora).stdout)
    assert as_json["extras"] == {"kept": {"prompt": "string"}, "dropped": []} == hub.validate("acme/chats", root=corpora).extras


def test_rows_without_an_extra_group_key_are_rejected(hub_root):
    folder = hub_root / "registry" / "acme" / "lines"
    rows = [{"id": f"w{i}", "asset_id": f"a{i}", "channels": ["flow"], "units": ["L/s"], "sample_rate": 10.0, "series": [[0.0, float(i)]],
             "line": None if i == 2 else f"line-{i % 3}"} for i in range(6)]
    _jsonl(folder / "raw" / "w.jsonl", rows)
    _entry(folder, modality="industrial", record="sensor", labels=[], group_key="line", source={"format": "jsonl", "files": [{"path": "raw/w.jsonl"}]})
    validated = validate_table(hub_root, "acme/lines")
    assert _problems(validated.report) == [("missing-group-key", "raw/w.jsonl", 3, "line", "the group key 'line' (split.group_key) is missing or blank")]
    assert validated.report.rows_read == 6 and validated.report.rows_valid == 5


def test_a_categorical_parquet_column_is_published_as_text(hub_root, digit_pngs):
    folder = hub_root / "registry" / "acme" / "categories"
    rows = [{"id": f"c{i}", "image": {"bytes": png, "path": f"{i}.png"}, "group": f"g{i}", "site": ["north", "south"][i % 2]} for i, png in enumerate(digit_pngs[:6])]
    table = pa.Table.from_pylist(rows)
    table = table.set_column(3, "site", table.column("site").dictionary_encode())  # as pandas writes a categorical
    (folder / "raw").mkdir(parents=True)
    pq.write_table(table, folder / "raw" / "shots.parquet")
    _entry(folder, modality="image", labels=[], group_key="group", source={"format": "parquet", "files": [{"path": "raw/shots.parquet"}]})
    published = hub.publish("acme/categories", root=hub_root)
    assert published.report.extras == {"kept": {"site": "string"}, "dropped": []}
    assert pq.read_schema(next((published.path / "data").glob("train-*.parquet"))).field("site").type == pa.string()


# -- nested extra fields: keys inside a record's objects that the schema does not name ------------

EMOTIONS = ["curious", "calm", "amused"]


def _chats_with_moods(root: Path, *, fmt: str = "jsonl", edit: Any = None, **source: Any) -> Path:
    """The chatterbot dialogues with an `emotion` in every user turn (as a chat export keeps it)
    and a `confidence` in some bot turns, under the dataset's own field names otherwise."""
    from hub.demo.chatterbot import load

    rows = []
    for i, d in enumerate(load({"limit": 40})):
        turns = []
        for j, turn in enumerate(d["turns"]):
            turn = dict(turn)
            if turn["speaker"] == "user":
                turn["emotion"] = EMOTIONS[(i + j) % 3]
            elif i % 4 == 0:
                turn["confidence"] = round(0.5 + i / 100, 2)
            turns.append(turn)
        rows.append({**d, "turns": turns})
    if edit is not None:
        rows = edit(rows)
    folder = root / "registry" / "acme" / "moods"
    (folder / "raw").mkdir(parents=True)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), folder / "raw" / "chats.parquet")
    else:
        _jsonl(folder / "raw" / "chats.jsonl", rows)
    _entry(folder, modality="dialogue", labels=sorted({r["intent"] for r in rows}), group_key="dialogue_id",
           source={"format": fmt, "files": [{"path": f"raw/chats.{fmt}"}], **source})
    return folder


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_nested_extra_fields_are_published_in_their_struct(hub_root, fmt):
    import datasets

    _chats_with_moods(hub_root, fmt=fmt)
    report = hub.validate("acme/moods", root=hub_root)
    assert _problems(report) == []
    assert report.extras == {"kept": {"turns[].emotion": "string", "turns[].confidence": "double"}, "dropped": []}
    published = hub.publish("acme/moods", root=hub_root)
    loaded = datasets.load_dataset("parquet", data_dir=str(published.path / "data"))
    turn = loaded["train"].features["turns"].feature
    assert list(turn) == ["speaker", "text", "intent", "emotion", "confidence"]  # the schema's keys, then the extras
    assert (turn["emotion"], turn["confidence"]) == (datasets.Value("string"), datasets.Value("float64"))
    rows = [r for split in loaded.values() for r in split]
    assert len(rows) == 40
    user_turns = [t for r in rows for t in r["turns"] if t["speaker"] == "user"]
    assert {t["emotion"] for t in user_turns} == set(EMOTIONS)
    assert all(t["confidence"] is None for t in user_turns)
    assert {t["emotion"] for r in rows for t in r["turns"] if t["speaker"] == "bot"} == {None}
    assert sorted({t["confidence"] for r in rows for t in r["turns"] if t["confidence"] is not None}) == [0.5, 0.54, 0.58, 0.62, 0.66, 0.7, 0.74, 0.78, 0.82, 0.86]
    card = (published.path / "README.md").read_text(encoding="utf-8")
    assert "name: emotion" in card and "name: confidence" in card  # the card's dataset_info lists them in the turn


def test_nested_extra_fields_drop(hub_root):
    from conftest import run_hub

    _chats_with_moods(hub_root, extras="drop")
    validated = validate_table(hub_root, "acme/moods")
    assert _problems(validated.report) == []
    assert validated.report.extras == {"kept": {}, "dropped": ["turns[].emotion", "turns[].confidence"]}
    assert validated.table.schema.field("turns").type.value_type.names == ["speaker", "text", "intent"]
    console = run_hub("validate", "acme/moods", root=hub_root)
    assert "  extra fields dropped (source.extras: drop): turns[].emotion, turns[].confidence" in console.stdout.splitlines()


def test_hub_validate_lists_the_nested_extra_fields(hub_root):
    from conftest import run_hub

    _chats_with_moods(hub_root)
    console = run_hub("validate", "acme/moods", root=hub_root)
    assert console.returncode == 0, console.stderr
    assert "  extra fields kept: turns[].emotion (string), turns[].confidence (double)" in console.stdout.splitlines()
    as_json = json.loads(run_hub("validate", "acme/moods", "--json", root=hub_root).stdout)
    assert as_json["extras"] == {"kept": {"turns[].emotion": "string", "turns[].confidence": "double"}, "dropped": []}


def test_a_nested_key_that_is_likely_a_typo(hub_root):
    def misspell(rows):
        rows[2]["turns"][1] = {"speaker": "bot", "text": rows[2]["turns"][1]["text"], "intnet": "ai"}
        return rows

    _chats_with_moods(hub_root, edit=misspell)
    validated = validate_table(hub_root, "acme/moods")
    assert _problems(validated.report) == [("unknown-field", "raw/chats.jsonl", 3, "turns[].intnet",
                                            "field 'intnet' in turns[1] is not in the dialogue record schema: did you mean 'intent'?")]
    assert "turns[].intnet" not in validated.report.extras["kept"]


def test_nested_extra_values_of_mixed_types_are_kept_as_json_text(hub_root):
    def mix(rows):
        rows[0]["turns"][0]["emotion"] = {"valence": 0.8}
        return rows

    _chats_with_moods(hub_root, edit=mix)
    validated = validate_table(hub_root, "acme/moods")
    assert validated.report.extras["kept"]["turns[].emotion"] == "string"
    first = validated.table.column("turns").to_pylist()[0]
    assert [t["emotion"] for t in first[:2]] == ['{"valence": 0.8}', None]
    assert validated.table.column("turns").to_pylist()[1][0]["emotion"] == '"calm"'


def test_a_nested_extra_text_is_read_for_personal_data(hub_root):
    def note(rows):
        rows[1]["turns"][1]["note"] = "escalate to ana.lopez@correo.es"
        return rows

    _chats_with_moods(hub_root, edit=note)
    report = hub.validate("acme/moods", root=hub_root)
    assert [(p.slug, p.row, p.field, p.message) for p in report.problems] == [
        ("pii-email", 2, "turns[].note", "EMAIL at characters 12-31 of turns[1].note (the value is not shown)")]


def test_the_dataset_page_shows_the_nested_extra_fields(hub_root):
    import httpx

    from conftest import uvicorn_thread
    from hub.server import create_app

    _chats_with_moods(hub_root)
    hub.publish("acme/moods", root=hub_root)
    with uvicorn_thread(create_app(hub_root)) as url:
        page = httpx.get(f"{url}/datasets/acme/moods", timeout=30)
    assert page.status_code == 200
    assert '<span class="turn-extra muted">(emotion: ' in page.text  # a user turn's emotion, beside its text
    assert '<span class="turn-extra muted">(confidence: 0.' in page.text  # a bot turn's confidence
