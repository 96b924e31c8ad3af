"""`hub audit`: the leakage certificate of split datasets on disk that no registry holds, with
leaks planted in real demo data, found by id; exit code 1 when anything crosses."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_hub

import hub


def _digits_dict(plant: bool) -> datasets.DatasetDict:
    """200 real digit images: groups of 4 writers' rows, groups 0-39 train, 40-49 test; planted (if
    `plant`): a copy of train's digits-00007 in test under a group of its own, and group w45 also in train."""
    from hub.demo.digits import load

    rows = [dict(r, group=f"w{i // 4}") for i, r in enumerate(load({"limit": 200}))]
    train = [r for r in rows if int(r["group"][1:]) < 40]
    test = [r for r in rows if int(r["group"][1:]) >= 40]
    if plant:
        test.append(dict(rows[7], id="copy-of-00007", group="w-copy"))
        train.append(dict(test[20], id="w45-extra"))  # test[20] is group w45: the same writer in train
    features = datasets.Features({"id": datasets.Value("string"), "image": datasets.Image(), "label": datasets.Value("string"),
                                  "group": datasets.Value("string")})
    pick = lambda part: [{k: r[k] for k in features} for r in part]
    return datasets.DatasetDict({"train": datasets.Dataset.from_list(pick(train), features=features),
                                 "test": datasets.Dataset.from_list(pick(test), features=features)})


def test_audit_of_a_save_to_disk_folder_names_the_leaks(tmp_path):
    folder = tmp_path / "digits"
    _digits_dict(plant=True).save_to_disk(str(folder))
    report = hub.audit(folder)
    assert (report["layout"], report["record"], report["group_key"]) == ("save_to_disk", "image", "group")
    assert not report["holds"]
    assert report["groups_crossing_splits"] == 1 and report["duplicate_clusters_crossing_splits"] >= 1
    leaks = report["leaks"]
    assert leaks["groups"][0] == {"group": "w45", "rows": {"train": 1, "test": 4}, "ids": ["w45-extra", "digits-00180", "digits-00181", "digits-00182", "digits-00183"]}
    exact = [c for c in leaks["duplicate_clusters"] if c["kind"] == "exact-image"]
    assert {"ids": ["digits-00007", "copy-of-00007"], "rows": {"train": 1, "test": 1}, "kind": "exact-image"} in exact
    assert report["splits"]["train"]["rows"] == 161 and report["splits"]["test"]["rows"] == 41

    result = run_hub("audit", str(folder), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["leaks"] == json.loads(json.dumps(leaks))  # the CLI's JSON is the library's report
    text = run_hub("audit", str(folder))
    assert "leakage certificate: BROKEN" in text.stdout
    assert "    group 'w45' in train (1), test (4): w45-extra, digits-00180, digits-00181, digits-00182, digits-00183" in text.stdout


def test_audit_of_a_clean_save_to_disk_folder_exits_0(tmp_path):
    folder = tmp_path / "digits"
    _digits_dict(plant=False).save_to_disk(str(folder))
    result = run_hub("audit", str(folder), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["holds"] and report["groups_crossing_splits"] == 0 and report["duplicate_clusters_crossing_splits"] == 0


def _write_hub_layout(folder, parts: dict[str, list[dict]]) -> None:
    (folder / "data").mkdir(parents=True)
    for name, rows in parts.items():
        pq.write_table(pa.Table.from_pylist(rows), folder / "data" / f"{name}-00000-of-00001.parquet")


def test_audit_of_the_official_basicmotions_split_as_parquet(tmp_path):
    from hub.demo.basicmotions import load

    recordings = list(load({}))
    parts = {"train": [r for r in recordings if "-train-" in r["id"]], "test": [r for r in recordings if "-test-" in r["id"]]}
    clean = tmp_path / "clean"
    _write_hub_layout(clean, parts)
    report = hub.audit(clean)
    assert (report["layout"], report["record"], report["group_key"]) == ("parquet", "sensor", "asset_id")
    assert report["holds"], report.get("leaks")  # the archive's own split: no recording in both, no shared window
    assert {k: v["rows"] for k, v in report["splits"].items()} == {"test": 40, "train": 40}

    leaky = tmp_path / "leaky"
    shifted = dict(parts["train"][3], id="test-shifted", asset_id="another-watch")
    shifted["series"] = [channel[30:] + [0.0] * 30 for channel in shifted["series"]]  # the same motion, 3 s later
    _write_hub_layout(leaky, {"train": parts["train"], "test": [*parts["test"], shifted]})
    report = hub.audit(leaky)
    assert not report["holds"] and report["groups_crossing_splits"] == 0
    assert report["leaks"]["duplicate_clusters"] == [{"kind": "overlapping-window", "rows": {"train": 1, "test": 1}, "ids": ["basicmotions-train-003", "test-shifted"]}]
    assert run_hub("audit", str(leaky)).returncode == 1


def test_audit_of_text_columns_and_a_split_column(tmp_path):
    from hub.demo.chatterbot import load

    rows = [{"text": d["turns"][0]["text"], "intent": d["intent"], "split": "train" if i % 5 else "test"}
            for i, d in enumerate(r for r in load({}) if r["language"] == "en")]
    first_train = next(r for r in rows if r["split"] == "train")
    rows.append({"text": "  " + first_train["text"].upper() + " ", "intent": first_train["intent"], "split": "test"})
    folder = tmp_path / "plain"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), folder / "all.parquet")
    with pytest.raises(hub.HubError, match="holds 1 split"):
        hub.audit(folder)
    report = hub.audit(folder, split_column="split", near=False)
    assert report["record"] is None and report["group_key"] == "id"
    exact = [c for c in report["leaks"]["duplicate_clusters"] if c["kind"] == "exact-text:text"]
    test_rows = sum(1 for r in rows if r["split"] == "test")
    # the planted copy (the last test row) joins train:0 and test:0: the corpus asks the same first question in several conversations,
    # so this naive every-fifth-row split leaks already
    assert exact[0] == {"kind": "exact-text:text", "rows": {"train": 1, "test": 2}, "ids": ["train:0", "test:0", f"test:{test_rows - 1}"]}
    assert report["duplicate_clusters_by_kind"] == {"exact-text:text": 121}  # the intent column is a label, not text: not compared
    assert report["duplicate_clusters_crossing_splits"] == 72
    assert report["leaks"]["splits"]["test"] == {"rows": 407, "rows_leaking": 280, "share": 0.688}


def test_audit_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(hub.HubError) as caught:
        hub.audit(tmp_path / "nothing")
    assert caught.value.message == f"{tmp_path / 'nothing'} does not exist"
    (tmp_path / "empty").mkdir()
    result = run_hub("audit", str(tmp_path / "empty"))
    assert result.returncode == 1
    assert f"Error: {tmp_path / 'empty'} holds no save_to_disk dataset and no Parquet file" in result.stderr


def test_audit_tells_inspection_images_from_class_images_by_their_columns(tmp_path):
    """Digit images relabelled as an inspection corpus (`defect`, `asset_id`): audited as
    inspection, grouped by asset, where registry order alone would have called them images."""
    rows = _digits_dict(plant=False)
    inspection = rows.rename_columns({"label": "defect", "group": "asset_id"})
    folder = tmp_path / "inspection"
    inspection.save_to_disk(str(folder))
    report = hub.audit(folder)
    assert (report["record"], report["group_key"]) == ("inspection", "asset_id")
    assert hub.records.infer(["image", "label"]) == "image" and hub.records.infer(["image"]) == "image"
    assert hub.records.infer(["text", "label"]) is None
