"""Every problem in one pass, a summary per slug, fixes that say what to change (issue 11, item 5)."""

from __future__ import annotations

import io
import json

import pytest

import hub
from conftest import image_records, run_hub, write_dataset
from hub.license import check_license


@pytest.mark.parametrize(("typo", "meant", "message"), [
    ("CC-BY-4.O", "CC-BY-4.0", "license 'CC-BY-4.O': unknown SPDX license id 'CC-BY-4.O' (did you mean 'CC-BY-4.0'?)"),
    ("Apache 2.0", "Apache-2.0", "license 'Apache 2.0': unknown SPDX license id 'Apache 2.0' (did you mean 'Apache-2.0'?)"),
    ("apache_2.0", "Apache-2.0", "license 'apache_2.0': unknown SPDX license id 'apache_2.0' (did you mean 'Apache-2.0'?)"),
    ("MIT OR Apache 2.0", "MIT OR Apache-2.0", "license 'MIT OR Apache 2.0': unknown SPDX license id 'Apache 2.0' (did you mean 'Apache-2.0'?)"),
])
def test_unknown_spdx_id_gets_did_you_mean(hub_root, typo, meant, message):
    with pytest.raises(hub.LicenseError) as err:
        check_license(typo)
    assert err.value.message == message
    assert err.value.hint == f"Write `license: {meant}` in dataset.yaml."
    write_dataset(hub_root, "acme/typo", [], license=typo)
    [problem] = hub.validate("acme/typo", root=hub_root).problems
    assert (problem.slug, problem.field, problem.message, problem.fix) == ("bad-license", "license", message, f"Write `license: {meant}` in dataset.yaml.")


def test_license_suggestions_and_no_guess():
    from hub.license import suggest_license_ids

    assert suggest_license_ids("cc by sa 4.0") == ["CC-BY-SA-4.0"]
    assert suggest_license_ids("gpl-3.O")[0] == "GPL-3.0-only"  # the id GPL-3.0 now spells
    assert suggest_license_ids("completely-made-up-terms") == []
    with pytest.raises(hub.LicenseError) as err:
        check_license("completely-made-up-terms")
    assert err.value.message == "license 'completely-made-up-terms': unknown SPDX license id 'completely-made-up-terms'"
    assert err.value.hint == "Use SPDX ids (https://spdx.org/licenses/), or LicenseRef-<name> for terms of your own."


def _speech(espeak_wav, **fields):
    import soundfile

    info = soundfile.info(io.BytesIO(espeak_wav))
    record = {"id": "u1", "audio": "raw/u1.wav", "transcript": "the kettle is boiling in the kitchen", "speaker": "s1", "language": "en",
              "duration": info.duration, "sample_rate": info.samplerate}
    return {**record, **fields}, info


def test_speech_sample_rate_and_duration_in_one_pass(hub_root, espeak_wav):
    """Both disagreements of one clip at once (the sample rate used to hide the duration)."""
    record, info = _speech(espeak_wav, sample_rate=16000, duration=9.5)
    write_dataset(hub_root, "acme/speech", [record], modality="speech", extra_files={"raw/u1.wav": espeak_wav})
    report = hub.validate("acme/speech", root=hub_root)
    assert [(p.slug, p.row, p.field, p.message) for p in report.problems] == [
        ("inconsistent-record", 1, "sample_rate", f"sample_rate says 16000 Hz, the audio is {info.samplerate} Hz"),
        ("inconsistent-record", 1, "duration", f"duration says 9.500 s, the audio lasts {info.duration:.3f} s"),
    ]


def test_video_size_fps_and_duration_in_one_pass(hub_root):
    """A clip whose size, fps and duration all disagree: three problems (the size used to hide the rest)."""
    import yaml

    from hub.demo import video_clips

    clip = next(iter(video_clips.load({"limit": 1})))
    folder = hub_root / "registry" / "acme" / "clips"
    (folder / "raw").mkdir(parents=True)
    (folder / "raw" / "c.mp4").write_bytes(clip["video"]["bytes"])
    record = {"id": "c", "video": "raw/c.mp4", "duration": 9.0, "fps": 12.5, "width": 640, "height": 180, "label": "a", "group": "g"}
    (folder / "raw" / "records.jsonl").write_text(json.dumps(record) + "\n")
    (folder / "dataset.yaml").write_text(yaml.safe_dump({
        "title": "Clips", "description": "A clip written by a test.", "modality": "video", "license": "CC-BY-3.0", "labels": ["a"],
        "source": {"format": "jsonl", "files": [{"path": "raw/records.jsonl"}]}, "split": {"group_key": "group"}}))
    report = hub.validate("acme/clips", root=hub_root)
    assert [(p.slug, p.field, p.message) for p in report.problems] == [
        ("inconsistent-record", "width", "width x height says 640x180, the video is 320x180"),
        ("inconsistent-record", "fps", "fps says 12.500, the video has 25.000 frames per second"),
        ("inconsistent-record", "duration", "duration says 9.000 s, the video lasts 2.000 s"),
    ]


def test_every_read_problem_of_a_row_at_once(hub_root, espeak_wav):
    """A row with two missing fields and a missing clip: the three problems in one run, and in the quarantine."""
    record, _ = _speech(espeak_wav, audio="raw/gone.wav")
    del record["transcript"], record["language"]
    write_dataset(hub_root, "acme/speech", [record], modality="speech")
    report = hub.validate("acme/speech", root=hub_root)
    assert [(p.slug, p.field, p.message.split(" (")[0]) for p in report.problems] == [
        ("missing-field", "transcript", "required field 'transcript' is missing"),
        ("missing-field", "language", "required field 'language' is missing"),
        ("type-error", "audio", "media file 'raw/gone.wav' does not exist"),  # (and where it looked)
    ]
    [kept] = [json.loads(line) for line in (hub_root / report.quarantine).read_text().splitlines()]
    assert [p["field"] for p in kept["problems"]] == ["transcript", "language", "audio"]


def test_every_type_problem_of_a_row_at_once(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 2, ["0", "1"])
    records[1].update(label=5, group=7)
    write_dataset(hub_root, "acme/typed", records, labels=["0", "1"], extra_files=files)
    report = hub.validate("acme/typed", root=hub_root)
    assert [(p.slug, p.row, p.field, p.message) for p in report.problems] == [
        ("type-error", 2, "label", "label: 5 is not of type 'string', 'null'"),
        ("type-error", 2, "group", "group: 7 is not of type 'string'"),
    ]
    assert report.problems[1].fix == "Give 'group' as text (Source group (photo session, document, writer); the usual group key); see schemas/image.schema.json."


def test_boxes_of_the_wrong_shape_get_the_expected_shape(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 1, ["cat"])
    records[0]["objects"] = [{"bbox": [1, 1, 2, 2], "category": "cat"}]
    write_dataset(hub_root, "acme/boxes", records, labels=["cat"], extra_files=files)
    [problem] = hub.validate("acme/boxes", root=hub_root).problems
    assert (problem.slug, problem.field) == ("type-error", "objects")
    assert problem.fix == ('Give \'objects\' as {"bbox": [[number, number, number, number], ...], "category": [text, ...]} '
                           "(COCO-style boxes: [x, y, width, height] in pixels, one category per box); see schemas/image.schema.json.")


def test_label_outside_the_set_gets_the_nearest_labels(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 3, ["cat", "dog", "cow"])
    records[0]["label"], records[1]["label"] = "cta", "Dog"
    write_dataset(hub_root, "acme/pets", records, labels=["cat", "dog", "cow"], extra_files=files)
    report = hub.validate("acme/pets", root=hub_root)
    assert [(p.row, p.fix) for p in report.problems] == [
        (1, "Did you mean 'cat'? Correct the record, or add 'cta' to `labels` in dataset.yaml (now: 'cat', 'dog', 'cow')."),
        (2, "Did you mean 'dog'? Correct the record, or add 'Dog' to `labels` in dataset.yaml (now: 'cat', 'dog', 'cow')."),
    ]


def test_300_identical_problems_are_one_summary(hub_root, digit_pngs):
    """The console: a summary per slug, then 20 detail lines (--all: every one); --json: everything."""
    records, files = image_records(digit_pngs, 300, ["0", "1"])
    for r in records:
        r["label"] = "7"
    records[0]["group"] = " "
    write_dataset(hub_root, "acme/many", records, labels=["0", "1"], extra_files=files)
    out = run_hub("validate", "acme/many", root=hub_root)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[:9] == [
        "acme/many: INVALID (0 of 300 rows valid)",
        "  301 problems of 2 kinds:",
        "  label-not-in-set x300: Label outside the label set (field 'label')",
        "      first: raw/records.jsonl row 1; raw/records.jsonl row 2; raw/records.jsonl row 3; raw/records.jsonl row 4; raw/records.jsonl row 5 and 295 more",
        "      fix: Correct the record, or add '7' to `labels` in dataset.yaml (now: '0', '1').",
        "  missing-group-key x1: Group key missing (field 'group')",
        "      first: raw/records.jsonl row 1",
        "      fix: Give every record a non-blank 'group' (records that share it stay in one split), or name another field in split.group_key.",
        "  details (the first 20 of 301; `hub validate --all` for every one):",
    ]
    assert lines[9] == "  [missing-group-key] raw/records.jsonl, row 1, field 'group': the group key 'group' (split.group_key) is missing or blank"
    assert lines[10] == "  [label-not-in-set] raw/records.jsonl, row 1, field 'label': label '7' in label is not in the label set"
    assert lines[29:] == ["  rejected rows: 300, kept in .hub/quarantine/acme/many/rejected.jsonl"]
    every = run_hub("validate", "acme/many", "--all", root=hub_root).stdout.splitlines()
    assert len(every) == 9 + 301 + 1 and every[8] == "  details (every problem):"
    as_json = json.loads(run_hub("validate", "acme/many", "--json", root=hub_root).stdout)
    assert as_json == json.loads(json.dumps(hub.validate("acme/many", root=hub_root).to_dict()))
    assert len(as_json["problems"]) == 301
    assert [(s["slug"], s["count"], s["fixes"][0]["count"]) for s in as_json["summary"]] == [("label-not-in-set", 300, 300), ("missing-group-key", 1, 1)]


def test_publish_failure_prints_the_summary(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 30, ["0", "1"])
    for r in records:
        r["label"] = "x"
    write_dataset(hub_root, "acme/pub", records, labels=["0", "1"], extra_files=files)
    out = run_hub("publish", "acme/pub", "--no-push", root=hub_root)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[1:3] == ["  30 problems of 1 kind:", "  label-not-in-set x30: Label outside the label set (field 'label')"]
    assert lines[5] == "  details (the first 20 of 30; `hub validate --all` for every one):"
    assert len(lines) == 6 + 20 + 1
    assert out.stderr.splitlines()[0] == "Error: acme/pub: 30 problems found, 30 of 30 rows rejected"
