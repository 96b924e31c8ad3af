"""`hub import FORMAT PATH ns/name` (issue 11, item 6): every format written here from the demo
data (digit PNGs, espeak-ng speech of chatterbot sentences, BasicMotions), imported, validated."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
import yaml

import hub
from conftest import run_hub
from hub.importers import _extras_supported, _given_splits_supported

SENTENCES = ["good morning", "how are you", "i am fine thank you", "what is your name", "the kettle is boiling", "see you tomorrow"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return hub.init(tmp_path_factory.mktemp("import") / "hub")


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    """Six real clips: espeak-ng reading short chatterbot-style sentences, two voices."""
    folder = tmp_path_factory.mktemp("wavs")
    out = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"u{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us" if i % 2 else "en-gb", "-w", str(path), text], check=True)
        out.append(path.read_bytes())
    return out


def _splits_or_note(result, expected: dict[str, int]) -> None:
    if _given_splits_supported():
        assert result.splits == expected
        doc = yaml.safe_load((result.path / "dataset.yaml").read_text())
        assert (doc["split"]["mode"], doc["split"]["column"]) == ("given", "split")
    else:
        assert result.splits == {}
        assert "the source's official splits are not kept: this hub has no given splits (split.mode: given); the hub makes its own" in result.notes


def _records(result):
    return [json.loads(line) for line in (result.path / "raw" / "records.jsonl").read_text().splitlines()]


def test_imagefolder_with_split_and_label_folders_publishes(root, tmp_path, digit_pngs):
    for i, png in enumerate(digit_pngs[:24]):
        folder = tmp_path / "corpus" / ("train" if i < 18 else "test") / f"digit{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:03d}.png").write_bytes(png)
    result = hub.import_corpus("imagefolder", tmp_path / "corpus", "imp/digits", license="CC-BY-4.0", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    assert (result.rows, result.files, result.format) == (24, 24, "imagefolder")
    assert result.mapping["label"] == "the file's folder" and result.mapping["split"] == "the <split>/ folder"
    doc = yaml.safe_load((result.path / "dataset.yaml").read_text())
    assert (doc["modality"], doc["record"], doc["labels"], doc["license"]) == ("image", "image", ["digit0", "digit1", "digit2"], "CC-BY-4.0")
    assert "#   label <- the file's folder" in (result.path / "dataset.yaml").read_text()
    first = _records(result)[0]
    assert (first["id"], first["image"], first["label"]) == ("test_digit0_018", "raw/test/digit0/018.png", "digit0")
    _splits_or_note(result, {"train": 18, "test": 6})
    published = hub.publish("imp/digits", push=False, root=root)
    assert published.manifest["rows"] == 24


def test_imagefolder_with_metadata_csv_keeps_groups_and_extras(root, tmp_path, digit_pngs):
    corpus = tmp_path / "cells"
    corpus.mkdir()
    with open(corpus / "metadata.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file_name", "label", "slide", "cell_type"])
        for i, png in enumerate(digit_pngs[:8]):
            (corpus / f"c{i}.png").write_bytes(png)
            writer.writerow([f"c{i}.png", "round" if i % 2 else "long", f"slide-{i // 4}", "epithelial"])
    result = hub.import_corpus("auto", corpus, "imp/cells", root=root)
    assert result.format == "imagefolder"
    assert result.mapping["label"] == "label"
    assert [r["label"] for r in _records(result)][:2] == ["long", "round"]
    if _extras_supported():
        assert result.extras == ["cell_type", "slide"]  # `slide` is not a known group name: kept as an extra
        assert result.report.valid
    else:
        assert "columns not kept (this hub has no extra fields): cell_type, slide" in result.notes


def test_audiofolder_with_metadata_jsonl(root, tmp_path, wavs):
    corpus = tmp_path / "audio" / "train"
    corpus.mkdir(parents=True)
    with open(corpus / "metadata.jsonl", "w") as f:
        for i, wav in enumerate(wavs):
            (corpus / f"u{i}.wav").write_bytes(wav)
            f.write(json.dumps({"file_name": f"u{i}.wav", "transcription": SENTENCES[i], "speaker_id": f"voice{i % 2}"}) + "\n")
    result = hub.import_corpus("audiofolder", tmp_path / "audio", "imp/audio", language="en", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    assert {k: result.mapping[k] for k in ("transcript", "speaker", "language", "duration")} == {
        "transcript": "transcription", "speaker": "speaker_id", "language": "--language en", "duration": "the audio file's header"}
    assert result.fields == {"transcript": "transcription", "speaker": "speaker_id"}  # the records keep the corpus' column names
    assert yaml.safe_load((result.path / "dataset.yaml").read_text())["source"]["fields"] == result.fields
    first = _records(result)[0]
    assert (first["transcription"], first["speaker_id"], first["language"], first["sample_rate"]) == ("good morning", "voice0", "en", 22050)


def test_hf_save_to_disk_and_parquet_layout(root, tmp_path, digit_pngs):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["zero", "one"]), "writer": datasets.Value("string")})
    paths = []
    for i, png in enumerate(digit_pngs[:10]):
        paths.append(str(tmp_path / f"d{i}.png"))
        (tmp_path / f"d{i}.png").write_bytes(png)

    def part(rows):
        return datasets.Dataset.from_dict({"image": [paths[i] for i in rows], "label": [i % 2 for i in rows], "writer": [f"w{i // 2}" for i in rows]}, features=features)

    dd = datasets.DatasetDict({"train": part(range(8)), "test": part(range(8, 10))})
    dd.save_to_disk(str(tmp_path / "disk"))
    result = hub.import_corpus("hf-disk", tmp_path / "disk", "imp/hf-disk", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    assert (result.rows, result.mapping["image"], result.mapping["label"]) == (10, "image", "label")
    doc = yaml.safe_load((result.path / "dataset.yaml").read_text())
    assert doc["labels"] == ["zero", "one"]  # the ClassLabel's names, in its order
    assert [r["label"] for r in _records(result)][:3] == ["zero", "one", "zero"]
    _splits_or_note(result, {"train": 8, "test": 2})

    (tmp_path / "pq" / "data").mkdir(parents=True)
    for name, ds in dd.items():
        ds.to_parquet(str(tmp_path / "pq" / "data" / f"{name}-00000-of-00001.parquet"))
    result = hub.import_corpus("hf-parquet", tmp_path / "pq", "imp/hf-parquet", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    assert result.rows == 10 and sorted({r["label"] for r in _records(result)}) == ["one", "zero"]
    _splits_or_note(result, {"train": 8, "test": 2})


def test_csv_with_a_media_folder(root, tmp_path, wavs):
    corpus = tmp_path / "calls"
    (corpus / "clips").mkdir(parents=True)
    with open(corpus / "calls.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip", "text", "speaker", "language"])
        for i, wav in enumerate(wavs):
            (corpus / "clips" / f"c{i}.wav").write_bytes(wav)
            writer.writerow([f"clips/c{i}.wav", SENTENCES[i], f"s{i % 3}", "en"])
    result = hub.import_corpus("csv", corpus, "imp/calls", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    assert {k: result.mapping[k] for k in ("audio", "transcript", "speaker", "language")} == {"audio": "clip", "transcript": "text", "speaker": "speaker", "language": "language"}
    assert result.fields == {"transcript": "text"}


def test_kaldi_data_dirs_with_segments(root, tmp_path, wavs):
    for split, ids in (("train", range(4)), ("test", range(4, 6))):
        folder = tmp_path / "kaldi" / split
        (folder / "wav").mkdir(parents=True)
        for i in ids:
            (folder / "wav" / f"u{i}.wav").write_bytes(wavs[i])
        (folder / "wav.scp").write_text("".join(f"u{i} {split}/wav/u{i}.wav\n" for i in ids))
        (folder / "text").write_text("".join(f"u{i} {SENTENCES[i]}\n" for i in ids))
        (folder / "utt2spk").write_text("".join(f"u{i} spk{i % 2}\n" for i in ids))
    test = tmp_path / "kaldi" / "test"  # the test set as two utterances cut out of one recording
    (test / "wav.scp").write_text("rec1 test/wav/u4.wav\n")
    (test / "segments").write_text("u4a rec1 0.0 0.4\nu4b rec1 0.4 0.8\n")
    (test / "text").write_text("u4a good\nu4b morning\n")
    (test / "utt2spk").write_text("u4a spk0\nu4b spk0\n")
    result = hub.import_corpus("kaldi", tmp_path / "kaldi", "imp/kaldi", language="en", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    records = _records(result)
    assert [r["id"] for r in records] == ["u4a", "u4b", "u0", "u1", "u2", "u3"]
    assert (records[0]["transcript"], records[0]["duration"], records[0]["audio"]) == ("good", 0.4, "raw/segments/test/u4a.wav")
    _splits_or_note(result, {"train": 4, "test": 2})


def test_commonvoice_tsvs_and_clips(root, tmp_path, wavs):
    corpus = tmp_path / "cv"
    (corpus / "clips").mkdir(parents=True)
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\n"
    for name, ids in (("train.tsv", range(3)), ("dev.tsv", range(3, 4)), ("test.tsv", range(4, 6))):
        lines = [header]
        for i in ids:
            (corpus / "clips" / f"common_voice_en_{i}.wav").write_bytes(wavs[i])
            lines.append(f"client{i % 2}\tcommon_voice_en_{i}.wav\t{SENTENCES[i]}\t2\t0\t\t{'female' if i % 2 else 'male'}\t\ten\n")
        (corpus / name).write_text("".join(lines))
    result = hub.import_corpus("commonvoice", corpus, "imp/cv", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    assert result.fields == {"transcript": "sentence", "speaker": "client_id", "language": "locale", "speaker_gender": "gender"}
    first = _records(result)[0]
    assert (first["id"], first["client_id"], first["gender"], first["locale"], first["up_votes"]) == ("common_voice_en_0", "client0", "male", "en", "2")
    _splits_or_note(result, {"train": 3, "validation": 1, "test": 2})


def test_coco_detection_json_and_images(root, tmp_path, digit_pngs):
    corpus = tmp_path / "coco"
    (corpus / "images").mkdir(parents=True)
    images, annotations = [], []
    for i, png in enumerate(digit_pngs[:4]):
        (corpus / "images" / f"{i:012d}.png").write_bytes(png)
        images.append({"id": i + 1, "file_name": f"{i:012d}.png", "width": 8, "height": 8})
        annotations.append({"id": 10 + i, "image_id": i + 1, "category_id": 1 + i % 2, "bbox": [1, 1, 4, 5], "area": 20, "iscrowd": 0})
    annotations.append({"id": 99, "image_id": 1, "category_id": 2, "bbox": [0, 0, 2, 2], "area": 4, "iscrowd": 0})
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "stroke"}, {"id": 2, "name": "loop"}]}
    (corpus / "annotations").mkdir()
    (corpus / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    result = hub.import_corpus("coco", corpus, "imp/coco", root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    first = _records(result)[0]
    assert first["objects"] == {"bbox": [[1.0, 1.0, 4.0, 5.0], [0.0, 0.0, 2.0, 2.0]], "category": ["stroke", "loop"]}
    assert yaml.safe_load((result.path / "dataset.yaml").read_text())["labels"] == ["stroke", "loop"]


def test_one_sensor_csv_per_asset_cut_into_windows(root, tmp_path):
    from hub.demo.basicmotions import CHANNELS, UNITS, load

    corpus = tmp_path / "motion"
    corpus.mkdir()
    for record in list(load({"limit": 2})):
        with open(corpus / f"{record['id']}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["timestamp", *(f"{c} [{u}]" for c, u in zip(CHANNELS, UNITS)), "activity"])
            for t in range(len(record["series"][0])):
                writer.writerow([t / 10, *(record["series"][c][t] for c in range(len(CHANNELS))), record["fault"]])
    result = hub.import_corpus("sensor-csv", corpus, "imp/motion", window=30, root=root)
    assert result.report.valid, result.report.to_dict()["problems"][:3]
    records = _records(result)
    assert [len(r["series"][0]) for r in records] == [30, 30, 30, 10] * 2  # 100 samples: the last window shorter, none dropped
    assert (records[0]["channels"], records[0]["units"], records[0]["sample_rate"]) == (list(CHANNELS), list(UNITS), 10.0)
    assert records[0]["asset_id"] == "basicmotions-train-000" and records[0]["fault"] == "standing"


def test_a_folder_in_no_format_lists_what_was_looked_for_and_writes_nothing(root, tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    out = run_hub("import", "auto", str(tmp_path / "junk"), "imp/junk", root=root)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert lines[0] == f"Error: {tmp_path / 'junk'} is in none of the formats hub import reads; it looked for:"
    assert lines[1] == "  hf-disk: dataset_dict.json, or state.json and dataset_info.json"
    assert "  kaldi: wav.scp, text, utt2spk in the folder or in train/, dev/, test/ folders" in lines
    assert "  sensor-csv: CSV files, one per asset" in lines
    assert not (root / "registry" / "imp" / "junk").exists()
    staging = root / ".hub" / "import"
    assert not staging.exists() or not list(staging.iterdir())  # no staging folder left


def test_import_cli_json_and_refusals(root, tmp_path, digit_pngs):
    (tmp_path / "c" / "a").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "c" / "a" / f"{i}.png").write_bytes(digit_pngs[i])
    out = run_hub("import", "imagefolder", str(tmp_path / "c"), "imp/cli", "--license", "CC0-1.0", "--json", root=root)
    assert out.returncode == 0, out.stdout
    data = json.loads(out.stdout)
    assert (data["dataset"], data["rows"], data["format"], data["report"]["valid"]) == ("imp/cli", 3, "imagefolder", True)
    again = run_hub("import", "imagefolder", str(tmp_path / "c"), "imp/cli", root=root)
    assert (again.returncode, again.stderr.splitlines()[0]) == (1, "Error: dataset 'imp/cli' already exists at registry/imp/cli")
    typo = run_hub("import", "imagefolder", str(tmp_path / "c"), "imp/typo", "--license", "CC-BY-4.O", root=root)
    assert typo.stderr.splitlines() == ["Error: license 'CC-BY-4.O': unknown SPDX license id 'CC-BY-4.O' (did you mean 'CC-BY-4.0'?)", "Hint: Pass --license 'CC-BY-4.0'."]
    assert not (root / "registry" / "imp" / "typo").exists()
    wrong = run_hub("import", "kaldi", str(tmp_path / "c"), "imp/wrong", root=root)
    assert wrong.stderr.splitlines()[0] == f"Error: {tmp_path / 'c'} is not a kaldi folder: wav.scp, text, utt2spk in the folder or in train/, dev/, test/ folders"
    assert not (root / "registry" / "imp" / "wrong").exists()
