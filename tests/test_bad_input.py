"""Bad input: every problem reported with its slug, place and message; nothing lost."""

from __future__ import annotations

import json

import pytest

import hub
from conftest import image_records, run_hub, write_dataset

LABELS = ["0", "1", "2"]


def _problems(report):
    return [(p.slug, p.file, p.row, p.field, p.message) for p in report.problems]


def test_malformed_yaml(hub_root):
    folder = hub_root / "registry" / "acme" / "broken"
    folder.mkdir(parents=True)
    (folder / "dataset.yaml").write_text("title: ok\nlabels: [a, b\nlicense: MIT\n")
    report = hub.validate("acme/broken", root=hub_root)
    assert not report.valid
    [(slug, file, row, _, message)] = _problems(report)
    assert (slug, file, row) == ("malformed-yaml", "registry/acme/broken/dataset.yaml", 3)
    assert message == "dataset.yaml is not valid YAML at line 3, column 8: expected ',' or ']', but got ':'"


def test_unknown_modality_and_bogus_license_are_both_reported(hub_root):
    write_dataset(hub_root, "acme/smell", [], modality="image", license="MIT-ish")
    path = hub_root / "registry/acme/smell/dataset.yaml"
    path.write_text(path.read_text().replace("modality: image", "modality: smell"))
    report = hub.validate("acme/smell", root=hub_root)
    assert [(p.slug, p.field, p.message) for p in report.problems] == [
        ("unknown-modality", "modality", "unknown modality 'smell': use one of speech, image, dialogue, industrial, video"),
        ("bad-license", "license", "license 'MIT-ish': unknown SPDX license id 'MIT-ish'"),
    ]


def test_schema_violation_in_row_n_of_m_is_quarantined(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 5, LABELS)
    records[2]["label"] = 5  # row 3 of 5: a number where the schema wants a class name
    write_dataset(hub_root, "acme/typed", records, labels=LABELS, extra_files=files)
    report = hub.validate("acme/typed", root=hub_root)
    assert _problems(report) == [("type-error", "raw/records.jsonl", 3, "label", "label: 5 is not of type 'string', 'null'")]
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (5, 4, 1)
    assert report.quarantine == ".hub/quarantine/acme/typed/rejected.jsonl"
    [kept] = [json.loads(line) for line in (hub_root / report.quarantine).read_text().splitlines()]
    assert kept["row"] == 3 and kept["record"]["id"] == "img-002" and kept["record"]["label"] == 5
    assert kept["problems"][0]["slug"] == "type-error"

    with pytest.raises(hub.ValidationFailed) as err:
        hub.publish("acme/typed", root=hub_root)
    assert err.value.message == "acme/typed: 1 problem found, 1 of 5 rows rejected"
    assert not (hub_root / "registry/acme/typed/versions").exists()

    published = hub.publish("acme/typed", allow_rejects=True, root=hub_root)
    assert published.manifest["rows"] == 4
    assert published.manifest["validation"] == {"rows_read": 5, "rows_rejected": 1, "problems": {"type-error": 1}}


def test_wav_that_is_not_audio(hub_root, espeak_wav):
    good = {"transcript": "the kettle is boiling in the kitchen", "speaker": "s1", "language": "en", "duration": 2.0, "sample_rate": 22050}
    import io

    import soundfile

    info = soundfile.info(io.BytesIO(espeak_wav))
    good.update(duration=info.duration, sample_rate=info.samplerate)
    records = [{"id": "ok", "audio": "raw/ok.wav", **good}, {"id": "bad", "audio": "raw/bad.wav", **dict(good, speaker="s2")}]
    write_dataset(hub_root, "acme/sounds", records, modality="speech",
                  extra_files={"raw/ok.wav": espeak_wav, "raw/bad.wav": b"RIFF....WAVEfmt this is a text file, not audio"})
    report = hub.validate("acme/sounds", root=hub_root)
    [(slug, file, row, field, message)] = _problems(report)
    assert (slug, file, row, field) == ("undecodable-audio", "raw/records.jsonl", 2, "audio")
    assert message.startswith("audio cannot be decoded: ")
    assert report.rows_valid == 1


def test_truncated_png(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 3, LABELS)
    files["raw/img-001.png"] = digit_pngs[1][: len(digit_pngs[1]) // 2]
    write_dataset(hub_root, "acme/trunc", records, labels=LABELS, extra_files=files)
    report = hub.validate("acme/trunc", root=hub_root)
    [(slug, _, row, field, message)] = _problems(report)
    assert (slug, row, field) == ("undecodable-image", 2, "image")
    assert message.startswith("image cannot be decoded: ")


@pytest.mark.parametrize("bad_id, message", [
    ("../etc", "invalid dataset id '../etc': '..' is not a valid part"),
    ("acme/../../etc", "invalid dataset id 'acme/../../etc': expected exactly one '/' (namespace/name)"),
    ("/etc/passwd", "invalid dataset id '/etc/passwd': expected exactly one '/' (namespace/name)"),
    ("acme/..", "invalid dataset id 'acme/..': '..' is not a valid part"),
    ("acme\\x/y", "invalid dataset id 'acme\\\\x/y': 'acme\\\\x' is not a valid part"),
    ("acme/x..y", "invalid dataset id 'acme/x..y': 'x..y' is not a valid part"),
    ("nodash", "invalid dataset id 'nodash': expected exactly one '/' (namespace/name)"),
])
def test_dataset_id_tricks(hub_root, bad_id, message):
    with pytest.raises(hub.InvalidDatasetId) as err:
        hub.validate(bad_id, root=hub_root)
    assert err.value.message == message
    result = run_hub("validate", bad_id, root=hub_root)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"Error: {message}"


def test_media_path_leaving_the_dataset_folder(hub_root, digit_pngs):
    (hub_root / "secret.png").write_bytes(digit_pngs[0])
    records = [{"id": "a", "image": "../../../secret.png", "label": "0", "group": "g"}]
    write_dataset(hub_root, "acme/escape", records, labels=LABELS)
    report = hub.validate("acme/escape", root=hub_root)
    assert _problems(report) == [("unsafe-path", "raw/records.jsonl", 1, "image", "path '../../../secret.png' leaves the dataset folder")]


@pytest.mark.parametrize("collide", [False, True])  # True: every id's 64-bit hash taken as repeated; values decide
def test_repeated_record_id(hub_root, digit_pngs, monkeypatch, collide):
    import numpy as np

    from hub import checks

    seen = []
    if collide:
        monkeypatch.setattr(checks, "repeated_rows", lambda hashes: seen.append(len(hashes)) or np.arange(len(hashes)))
    records, files = image_records(digit_pngs, 6, LABELS)
    records[3]["id"] = records[1]["id"]
    records[5]["id"] = records[1]["id"]
    write_dataset(hub_root, "acme/dup", records, labels=LABELS, extra_files=files)
    report = hub.validate("acme/dup", root=hub_root)
    assert _problems(report) == [
        ("duplicate-id", "raw/records.jsonl", 4, "id", "record id 'img-001' repeats the one at raw/records.jsonl row 2"),
        ("duplicate-id", "raw/records.jsonl", 6, "id", "record id 'img-001' repeats the one at raw/records.jsonl row 2"),
    ]
    assert seen == ([6] if collide else [])


@pytest.mark.parametrize("copies", [1, 5])  # 2,773 rows: the regex on every value; 13,865: once per distinct language
def test_id_and_language_patterns(hub_root, copies):
    from hub.demo.chatterbot import load

    records = [dict(r, id=f"{r['id']}-{c}", dialogue_id=f"{r['dialogue_id']}-{c}") for c in range(copies) for r in load({})]
    records[7]["language"] = "EN_us"
    records[9]["id"] = "chat/9"
    write_dataset(hub_root, "acme/chat", records, modality="dialogue", labels=sorted({r["intent"] for r in records}))
    report = hub.validate("acme/chat", root=hub_root)
    assert sorted(_problems(report), key=lambda p: p[2]) == [
        ("constraint-error", "raw/records.jsonl", 8, "language", "language 'EN_us' does not match ^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"),
        ("constraint-error", "raw/records.jsonl", 10, "id", "id 'chat/9' does not match ^[^\\s/\\\\]+$"),
    ]
    assert report.rows_valid == len(records) - 2


def test_label_outside_set_blank_text_and_missing_group(hub_root):
    turns = [{"speaker": "user", "text": "hello"}, {"speaker": "bot", "text": "hi"}]
    records = [
        {"id": "d1", "dialogue_id": "d1", "language": "en", "intent": "greeting", "turns": turns},
        {"id": "d2", "dialogue_id": "d2", "language": "en", "intent": "smalltalk", "turns": turns},
        {"id": "d3", "dialogue_id": "d3", "language": "en", "intent": "greeting", "turns": [{"speaker": "user", "text": " \u3000\t"}]},  # only (Unicode) whitespace
        {"id": "d4", "dialogue_id": "", "language": "en", "intent": "greeting", "turns": turns},
        "not an object",
        {"id": "d6", "dialogue_id": "d6", "language": "en", "turns": turns, "intnet": "greeting"},  # a typo; an extra like "mood" is kept (issue 11)
    ]
    # one valid dialogue is one group: a single split (three would leave two empty, which publishing refuses)
    write_dataset(hub_root, "acme/chat", records, modality="dialogue", labels=["greeting"], split={"group_key": "dialogue_id", "ratios": {"train": 1.0}, "seed": 3})
    report = hub.validate("acme/chat", root=hub_root)
    assert sorted(_problems(report), key=lambda p: p[2]) == [
        ("label-not-in-set", "raw/records.jsonl", 2, "intent", "label 'smalltalk' in intent is not in the label set"),
        ("blank-text", "raw/records.jsonl", 3, "turns[].text", "turns[].text is empty or blank"),
        ("missing-group-key", "raw/records.jsonl", 4, "dialogue_id", "the group key 'dialogue_id' (split.group_key) is missing or blank"),
        ("type-error", "raw/records.jsonl", 5, None, "a record must be an object, not str"),
        ("unknown-field", "raw/records.jsonl", 6, "intnet", "field 'intnet' is not in the dialogue record schema: did you mean 'intent'?"),
    ]
    assert report.rows_valid == 1
    quarantined = (hub_root / report.quarantine).read_text().splitlines()
    assert len(quarantined) == 5  # every rejected row kept, none dropped
    published = hub.publish("acme/chat", allow_rejects=True, root=hub_root)  # row problems only: allowed
    assert published.manifest["rows"] == 1 and published.manifest["validation"]["rows_rejected"] == 5


def test_invalid_json_line_is_reported_not_fatal(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 2, LABELS)
    text = json.dumps(records[0]) + "\n{not json\n" + json.dumps(records[1]) + "\n"
    write_dataset(hub_root, "acme/jsonl", text, labels=LABELS, extra_files=files)
    report = hub.validate("acme/jsonl", root=hub_root)
    assert _problems(report) == [("type-error", "raw/records.jsonl", 2, None, "not valid JSON: Expecting property name enclosed in double quotes at column 2")]
    assert report.rows_valid == 2


def test_validate_cli_exit_codes_and_fix_text(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 3, LABELS)
    write_dataset(hub_root, "acme/ok", records, labels=LABELS, extra_files=files)
    ok = run_hub("validate", "acme/ok", root=hub_root)
    assert (ok.returncode, ok.stdout) == (0, "acme/ok: valid (3 of 3 rows valid)\n")
    records[0]["label"] = "7"
    write_dataset(hub_root, "acme/ok", records, labels=LABELS, extra_files=files)
    bad = run_hub("validate", "acme/ok", root=hub_root)
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        "acme/ok: INVALID (2 of 3 rows valid)",
        "  [label-not-in-set] raw/records.jsonl, row 1, field 'label': label '7' in label is not in the label set",
        "      fix: Correct the record, or add '7' to `labels` in dataset.yaml (now: '0', '1', '2').",
        "  rejected rows: 1, kept in .hub/quarantine/acme/ok/rejected.jsonl",
    ]


# -- rows that must never be lost or crash anything (issue 20, items 9, 10, 13) ----------------------


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory):
    """One hub for the tests below (each writes a dataset of its own): `hub init` once."""
    return hub.init(tmp_path_factory.mktemp("bad-rows") / "hub")


def _dialogues(n):
    from hub.demo.chatterbot import load

    return [dict(r, id=f"d{i:04d}", dialogue_id=f"d{i:04d}") for i, r in zip(range(n), load({}))]


def _published_ids(published):
    import pyarrow.parquet as pq

    return sorted(i for path in (published.path / "data").glob("*.parquet") for i in pq.read_table(path, columns=["id"]).column("id").to_pylist())


def test_one_invalid_utf8_byte_rejects_one_line_of_1000(shared_root):
    """Item 9: the bad line is one rejected row at its true line number; the 999 others are read and published."""
    rows = _dialogues(1000)
    labels = sorted({r["intent"] for r in rows})
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in rows]
    at = lines[499].index(b'"text": "') + len(b'"text": "')
    lines[499] = lines[499][:at] + b"\xff" + lines[499][at:]
    folder = write_dataset(shared_root, "acme/utf8", [], modality="dialogue", labels=labels)
    (folder / "raw" / "records.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    report = hub.validate("acme/utf8", root=shared_root)
    assert _problems(report) == [("not-utf8", "raw/records.jsonl", 500, None, f"not UTF-8 text: byte 0xff at byte {at + 1} of the line (invalid start byte)")]
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (1000, 999, 1)
    [kept] = [json.loads(line) for line in (shared_root / report.quarantine).read_text().splitlines()]
    assert (kept["row"], kept["record"]) == (500, None)
    assert kept["line"] == lines[499].decode("utf-8", "backslashreplace") + "\n"  # the line as it was, the bad byte escaped

    published = hub.publish("acme/utf8", allow_rejects=True, root=shared_root)
    assert published.manifest["rows"] == 999
    assert published.manifest["validation"] == {"rows_read": 1000, "rows_rejected": 1, "problems": {"not-utf8": 1}}
    assert _published_ids(published) == sorted(r["id"] for i, r in enumerate(rows) if i != 499)


BAD_MEDIA = ["truncated-png", "text-as-png", "decompression-bomb", "text-as-wav", "null-turn-texts", "null-turn"]


@pytest.mark.parametrize("kind", BAD_MEDIA)
def test_allow_rejects_publishes_the_good_rows_around_bad_media(shared_root, digit_pngs, espeak_wav, kind):
    """Item 10: a rejected row's bad media or null text never reaches the split and duplicate engines."""
    from bad_inputs.cases import png_header

    dataset = f"acme/{kind}"
    if kind in ("null-turn-texts", "null-turn"):
        records = _dialogues(6)
        records[2]["turns"] = [dict(t, text=None) for t in records[2]["turns"]] if kind == "null-turn-texts" else [*records[2]["turns"], None]
        write_dataset(shared_root, dataset, records, modality="dialogue", labels=sorted({r["intent"] for r in records}))
        slug = "missing-field" if kind == "null-turn-texts" else "type-error"
    elif kind == "text-as-wav":
        import io

        import soundfile

        info = soundfile.info(io.BytesIO(espeak_wav))
        records = [{"id": f"u{i}", "audio": f"raw/u{i}.wav", "transcript": "the kettle is boiling in the kitchen", "speaker": f"s{i}",
                    "language": "en", "duration": info.duration, "sample_rate": info.samplerate} for i in range(6)]
        files = {f"raw/u{i}.wav": espeak_wav for i in range(6)}
        files["raw/u2.wav"] = b"RIFF....WAVEfmt this is a text file, not audio"
        # the same WAV under five speakers ties them into one group (exact-audio duplicates): a single split
        write_dataset(shared_root, dataset, records, modality="speech", extra_files=files, split={"group_key": "speaker", "ratios": {"train": 1.0}, "seed": 3})
        slug = "undecodable-audio"
    else:
        records, files = image_records(digit_pngs, 6, LABELS)
        files["raw/img-002.png"] = {"truncated-png": digit_pngs[2][: len(digit_pngs[2]) // 2], "text-as-png": b"not an image at all\n",
                                    "decompression-bomb": png_header(40_000, 40_000)}[kind]
        write_dataset(shared_root, dataset, records, labels=LABELS, extra_files=files)
        slug = "undecodable-image"
    published = hub.publish(dataset, allow_rejects=True, root=shared_root)
    assert published.manifest["validation"] == {"rows_read": 6, "rows_rejected": 1, "problems": {slug: 1}}
    assert _published_ids(published) == sorted(r["id"] for i, r in enumerate(records) if i != 2)


def test_an_oversized_line_is_refused_before_it_is_parsed(shared_root, monkeypatch):
    """Item 13: HUB_MAX_ROW_BYTES counts the whole row, and a longer line is never parsed."""
    import types

    import hub.sources

    rows = _dialogues(3)
    rows[1]["turns"] = [{"speaker": "user", "text": "word " * 30_000}]  # 150 kB of text, no media
    write_dataset(shared_root, "acme/huge", rows, modality="dialogue", labels=sorted({r["intent"] for r in rows}))
    size = len(json.dumps(rows[1], ensure_ascii=False).encode()) + 1
    parsed = []
    proxy = types.SimpleNamespace(**{k: getattr(json, k) for k in ("JSONDecodeError", "dumps")})
    proxy.loads = lambda text, **kw: parsed.append(len(text)) or json.loads(text, **kw)
    monkeypatch.setattr(hub.sources, "json", proxy)
    monkeypatch.setenv("HUB_MAX_ROW_BYTES", "100000")
    report = hub.validate("acme/huge", root=shared_root)
    assert _problems(report) == [("oversized-row", "raw/records.jsonl", 2, None, f"record is {size} bytes; the limit is 100000 (HUB_MAX_ROW_BYTES)")]
    assert report.rows_valid == 2
    assert len(parsed) == 2 and max(parsed) < 100_000
