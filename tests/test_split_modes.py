"""Split modes: the corpus' own (given) splits, certified with their leaks named; time splits
with boundaries and a gap, on a one-asset sensor series from real BasicMotions recordings."""

from __future__ import annotations

import json
import math

import datasets
import pytest
from conftest import image_records, run_hub, write_dataset

import hub

LABELS = [str(i) for i in range(10)]
GIVEN = {"mode": "given", "column": "split", "group_key": "group", "ratios": {"train": 0.8, "validation": 0.1, "test": 0.1}}


def _given_records(digit_pngs):
    """30 real digit images in 15 groups, with the corpus' own split per group, and two planted leaks:
    one record of group g10 (validation) marked train, and a copy of img-003 (train) in test under another group."""
    records, files = image_records(digit_pngs, 30, LABELS)
    for r in records:
        g = int(r["group"][1:])
        r["split"] = "train" if g < 10 else "validation" if g < 13 else "test"
    records[20]["split"] = "train"  # img-020, group g10: its partner img-021 is in validation
    records.append({"id": "copy-of-003", "image": "raw/img-003.png", "label": records[3]["label"], "group": "g-copy", "split": "test"})
    return records, files


def test_given_split_with_planted_leaks_is_refused_then_published_with_allow_leaks(hub_root, digit_pngs):
    records, files = _given_records(digit_pngs)
    write_dataset(hub_root, "acme/given", records, labels=LABELS, extra_files=files, split=GIVEN)
    assert hub.validate("acme/given", root=hub_root).valid  # the data is fine: the leaks are the split's

    with pytest.raises(hub.LeakageError) as caught:
        hub.publish("acme/given", root=hub_root)
    assert caught.value.message == (
        "acme/given: the splits leak: 1 group (group) and 2 duplicate clusters cross the given splits: "
        "group 'g10' in train (1), validation (1); exact-image img-003, copy-of-003 in train, test; near-image img-003, copy-of-003 in train, test")
    assert "--allow-leaks" in caught.value.hint
    leaks = caught.value.certificate["leaks"]
    assert leaks["groups"] == [{"group": "g10", "rows": {"train": 1, "validation": 1}, "ids": ["img-020", "img-021"]}]
    assert [c["ids"] for c in leaks["duplicate_clusters"]] == [["img-003", "copy-of-003"], ["img-003", "copy-of-003"]]
    assert leaks["splits"]["test"] == {"rows": 5, "rows_leaking": 1, "share": 0.2}
    assert not (hub_root / "registry/acme/given/versions/1.0.0").exists()

    published = hub.publish("acme/given", root=hub_root, allow_leaks=True)
    assert {k: v["rows"] for k, v in published.manifest["splits"].items()} == {"train": 21, "validation": 5, "test": 5}
    certificate = published.manifest["certificate"]
    assert not certificate["holds"] and certificate["mode"] == "given" and certificate["column"] == "split"
    card = (published.path / "README.md").read_text(encoding="utf-8")
    assert "Splits are the corpus' own, from the column `split`" in card
    assert "**These splits leak** (published with --allow-leaks): 1 group (`group`) and 2 duplicate clusters lie in more than one split." in card
    assert "- test: 1 of 5 rows (20.0%) share a group or a duplicate with another split" in card
    ds = datasets.load_dataset(str(published.path))  # the official split is kept, as a column too
    assert set(ds["test"]["id"]) == {r["id"] for r in records if r["split"] == "test"}
    assert set(ds["test"]["split"]) == {"test"}


def test_given_split_cli_exit_codes(hub_root, digit_pngs):
    records, files = _given_records(digit_pngs)
    write_dataset(hub_root, "acme/given", records, labels=LABELS, extra_files=files, split=GIVEN)
    refused = run_hub("publish", "acme/given", "--no-push", root=hub_root)
    assert refused.returncode == 1
    assert "Error: acme/given: the splits leak: 1 group (group) and 2 duplicate clusters cross the given splits" in refused.stderr
    allowed = run_hub("publish", "acme/given", "--no-push", "--allow-leaks", root=hub_root)
    assert allowed.returncode == 0, allowed.stderr
    assert ("  the splits leak (--allow-leaks): 1 group (group) and 2 duplicate clusters cross them; "
            "train: 2 of 21 rows, validation: 1 of 5 rows, test: 1 of 5 rows (the card has the ids)") in allowed.stdout
    manifest = json.loads((hub_root / "registry/acme/given/versions/1.0.0/manifest.json").read_text(encoding="utf-8"))
    assert manifest["certificate"]["leaks"]["groups_crossing"] == 1


def test_given_split_without_leaks_holds_and_bad_split_names_are_rows_problems(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 20, LABELS)
    for r in records:
        r["split"] = "train" if int(r["group"][1:]) < 6 else "test"
    records[19]["split"] = "dev"
    write_dataset(hub_root, "acme/given", records, labels=LABELS, extra_files=files, split={**GIVEN, "ratios": {"train": 0.7, "test": 0.3}})
    report = hub.validate("acme/given", root=hub_root)
    assert [(p.slug, p.row, p.message) for p in report.problems] == [("constraint-error", 20, "split must be one of train, test")]
    published = hub.publish("acme/given", root=hub_root, allow_rejects=True)
    assert published.manifest["certificate"]["holds"]
    assert {k: v["rows"] for k, v in published.manifest["splits"].items()} == {"train": 12, "test": 7}


# -- time splits ------------------------------------------------------------------------------


def _stream_windows(first: int, last: int) -> list[dict]:
    """One smartwatch (one asset): the 80 BasicMotions recordings played end to end (8,000 samples at
    10 Hz), cut into windows of 100 samples every 50 (so neighbours overlap by half); windows
    `first` to `last - 1`, each with its start in seconds."""
    from hub.demo.basicmotions import load

    recordings = list(load({}))
    stream = [[x for r in recordings for x in r["series"][c]] for c in range(6)]
    out = []
    for i in range(first, last):
        offset = 50 * i
        out.append({"id": f"watch-{i:03d}", "asset_id": "watch-1", "channels": recordings[0]["channels"], "units": recordings[0]["units"],
                    "sample_rate": 10.0, "series": [ch[offset: offset + 100] for ch in stream], "fault": recordings[offset // 100]["fault"],
                    "start": offset / 10})
    return out


TIME = {"mode": "time", "time_key": "start", "gap": 5, "group_key": "asset_id", "ratios": {"train": 0.6, "validation": 0.2, "test": 0.2}}
SENSOR_LABELS = ["badminton", "running", "standing", "walking"]


def test_time_split_of_one_asset_boundaries_gap_and_growth(hub_root):
    windows = _stream_windows(0, 139)  # 139 windows: the last starts at 690 s
    write_dataset(hub_root, "acme/watch", windows, modality="industrial", labels=SENSOR_LABELS, split=TIME)
    report = hub.validate("acme/watch", root=hub_root)
    # cut by rows: validation begins at window 83 (415 s), test at 111 (555 s); the windows ending after 410 s and 550 s are left out
    assert [(p.slug, p.record_id) for p in report.problems] == [
        ("time-gap", "watch-081"), ("time-gap", "watch-082"), ("time-gap", "watch-109"), ("time-gap", "watch-110")]
    assert report.problems[0].message == ("the record runs from 405 to 415 s, within the gap of 5 s before validation begins at 415 s (split.gap): "
                                          "it is left out of every split so that no window crosses the boundary")
    assert report.quarantine == ".hub/quarantine/acme/watch/rejected.jsonl"
    with pytest.raises(hub.ValidationFailed):
        hub.publish("acme/watch", root=hub_root)

    first = hub.publish("acme/watch", root=hub_root, allow_rejects=True)
    certificate = first.manifest["certificate"]
    assert certificate["holds"] and certificate["mode"] == "time" and certificate["group_key"] == "id"
    assert certificate["duplicate_clusters_by_kind"]["overlapping-window"] == 3  # one chain of overlapping windows per split
    assert certificate["duplicate_clusters_crossing_splits"] == 0
    assert certificate["time"] == {"key": "start", "gap": 5.0, "windows_crossing": 0, "boundaries": [
        {"between": ["train", "validation"], "at": 415.0, "latest_end_before": 410.0, "gap": 5.0, "windows_crossing": 0},
        {"between": ["validation", "test"], "at": 555.0, "latest_end_before": 550.0, "gap": 5.0, "windows_crossing": 0}]}
    assert {k: v["rows"] for k, v in first.manifest["splits"].items()} == {"train": 81, "validation": 26, "test": 28}
    card = (first.path / "README.md").read_text(encoding="utf-8")
    assert "- validation begins at 415 s; the latest train window ends at 410 s." in card

    write_dataset(hub_root, "acme/watch", _stream_windows(0, 159), modality="industrial", labels=SENSOR_LABELS, split=TIME)  # 20 later windows
    second = hub.publish("acme/watch", root=hub_root, allow_rejects=True)
    assert second.version == "1.1.0"
    assert {k: v["rows"] for k, v in second.manifest["splits"].items()} == {"train": 81, "validation": 26, "test": 48}
    assert [b["at"] for b in second.manifest["certificate"]["time"]["boundaries"]] == [415.0, 555.0]


def test_time_split_checks_its_key(hub_root):
    windows = _stream_windows(0, 20)
    windows[3].pop("start")
    windows[4]["start"] = "yesterday"
    write_dataset(hub_root, "acme/watch", windows, modality="industrial", labels=SENSOR_LABELS, split={**TIME, "gap": 0})
    problems = [(p.slug, p.record_id, p.message) for p in hub.validate("acme/watch", root=hub_root).problems]
    assert ("missing-field", "watch-003", "the time key 'start' (split.time_key) is missing") in problems
    assert any(slug == "type-error" and rid == "watch-004" for slug, rid, _ in problems)

    write_dataset(hub_root, "acme/watch", windows, modality="industrial", labels=SENSOR_LABELS, split={**TIME, "time_key": "fault"})
    [problem] = hub.validate("acme/watch", root=hub_root).problems
    assert problem.slug == "bad-split-policy"
    assert problem.message == ("split.time_key 'fault' is not a time field of sensor records: name a field of seconds or of ISO 8601 date-times "
                               "(sample_rate, start)")


def test_time_split_reads_iso_dates():
    import pyarrow as pa

    from hub.split_modes import time_values

    seconds = time_values(pa.chunked_array([["2024-05-01T12:00:00Z", "2024-05-01T12:00:10+00:00", "2024-05-01 12:00:20", None, "soon"]]))
    assert seconds[:3].tolist() == [1714564800.0, 1714564810.0, 1714564820.0]
    assert all(math.isnan(x) for x in seconds[3:])  # missing or not a time


def test_hub_split_and_check_keep_a_leaking_given_split_only_when_told(hub_root, digit_pngs):
    """`hub split` and `hub check` (what dvc repro runs) take --allow-leaks as publish does (#12)."""
    records, files = _given_records(digit_pngs)
    write_dataset(hub_root, "acme/given-build", records, labels=LABELS, extra_files=files, split=GIVEN)
    refused = run_hub("split", "acme/given-build", root=hub_root)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[0].startswith("Error: acme/given-build: the splits leak: 1 group (group) and 2 duplicate clusters cross the given splits")
    built = run_hub("split", "acme/given-build", "--allow-leaks", root=hub_root)
    assert built.returncode == 0, built.stderr
    checked = run_hub("check", "acme/given-build", root=hub_root)
    assert checked.returncode == 1
    assert "Error: acme/given-build: the build leaks: 1 groups and 2 duplicate clusters cross splits" in checked.stderr.splitlines()
    assert ("Hint: The corpus' own splits cross: fix them, or pass --allow-leaks to keep them as they are (the card says how much leaks)."
            in checked.stderr.splitlines())
    allowed = run_hub("check", "acme/given-build", "--allow-leaks", "--json", root=hub_root)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["holds"] is False


def test_time_split_growth_new_window_keeps_the_published_test_and_opens_a_new_one(hub_root):
    policy = {**TIME, "growth": "new-window"}
    write_dataset(hub_root, "acme/watch", _stream_windows(0, 139), modality="industrial", labels=SENSOR_LABELS, split=policy)
    first = hub.publish("acme/watch", root=hub_root, allow_rejects=True)
    assert {k: v["rows"] for k, v in first.manifest["splits"].items()} == {"train": 81, "validation": 26, "test": 28}
    assert first.manifest["certificate"]["time"]["new_window"] is None  # nothing published before: no new window

    write_dataset(hub_root, "acme/watch", _stream_windows(0, 159), modality="industrial", labels=SENSOR_LABELS, split=policy)  # 20 later windows
    with pytest.raises(hub.ValidationFailed):  # the published windows end at 700 s; the new window opens at 705 s: windows 139 and 140 start before it
        hub.publish("acme/watch", root=hub_root)
    quarantined = [json.loads(line) for line in (hub_root / ".hub/quarantine/acme/watch/rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    early = [q for q in quarantined if str(q).find("new-window") >= 0]
    assert len(early) == 2 and ("the record starts at 695 s, before the new test window opens at 705 s (the published records end at 700 s, plus the gap of 5 s; "
                                "split.growth: new-window): published test records stay as published, so it is left out") in str(early[0])
    second = hub.publish("acme/watch", root=hub_root, allow_rejects=True)
    assert {k: v["rows"] for k, v in second.manifest["splits"].items()} == {"train": 81, "validation": 26, "test": 46}
    time = second.manifest["certificate"]["time"]
    assert time["growth"] == "new-window" and time["windows_crossing"] == 0
    assert time["new_window"] == {"at": 705.0, "latest_published_end": 700.0, "gap": 5.0}
    assert [b["at"] for b in time["boundaries"]] == [415.0, 555.0]  # published boundaries stay
    card = (second.path / "README.md").read_text(encoding="utf-8")
    assert "- A new test window begins at 705 s, 5 s after the latest published record ends (700 s); the published test records stay as they were." in card


def test_time_split_growth_must_be_a_known_policy(hub_root):
    write_dataset(hub_root, "acme/watch", _stream_windows(0, 20), modality="industrial", labels=SENSOR_LABELS, split={**TIME, "growth": "rolling"})
    problems = [(p.slug, p.field, p.message) for p in hub.validate("acme/watch", root=hub_root).problems]
    assert problems == [("entry-schema", "split.growth", "split.growth: 'rolling' is not one of ['append', 'new-window']")]
