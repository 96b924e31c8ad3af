"""The promise to test-set users: published splits stay frozen, no split with a ratio is empty,
a changed seed says what it changes, and the certificate names what it counts (issue #12)."""

from __future__ import annotations

import json
import re
import urllib.request

import datasets
import pytest
import yaml

import hub
from conftest import run_hub, uvicorn_thread, write_dataset
from hub.versions import parent_splits

LABELS = ["0", "1", "2"]
DATASET = "acme/modules"
SPLIT = {"group_key": "group", "ratios": {"train": 0.5, "validation": 0.25, "test": 0.25}, "seed": 3}
# Where seed 3 puts the 12 modules of 3 images (checked by `_published`, so a change of the rule shows here first).
PUBLISHED = {"module-00": "train", "module-01": "train", "module-02": "test", "module-03": "validation", "module-04": "train",
             "module-05": "train", "module-06": "train", "module-07": "train", "module-08": "validation", "module-09": "validation",
             "module-10": "test", "module-11": "test"}
# Two copies of one test image (module-02's img-006) under two train modules, and two of a validation image
# (module-03's img-009) under two others: each ties a published test or validation module to train modules.
BRIDGES = [("dup-0", 6, "module-00"), ("dup-1", 6, "module-01"), ("dup-2", 9, "module-04"), ("dup-3", 9, "module-05")]
REFUSED = ("acme/modules: 6 published records (of 1.0.0) in 2 groups would move: test → train 3, validation → train 3. "
           "2 duplicate clusters tie groups published in different splits: img-006, dup-0, dup-1 (exact-image, near-image); "
           "img-009, dup-2, dup-3 (exact-image, near-image)")


def _modules(pngs: list[bytes], bridges=(), groups: int = 12, **split) -> tuple[list[dict], dict[str, bytes]]:
    """`groups` inspection modules of 3 real digit images each, plus the `bridges` (id, image copied, module)."""
    records, files = [], {}
    for i in range(groups * 3):
        files[f"raw/img-{i:03d}.png"] = pngs[i]
        records.append({"id": f"img-{i:03d}", "image": f"raw/img-{i:03d}.png", "label": LABELS[i % 3], "group": f"module-{i // 3:02d}"})
    for rid, source, group in bridges:
        files[f"raw/{rid}.png"] = pngs[source]
        records.append({"id": rid, "image": f"raw/{rid}.png", "label": LABELS[source % 3], "group": group})
    return records, files


def _write(root, pngs, bridges=(), groups: int = 12, dataset: str = DATASET, **split) -> None:
    records, files = _modules(pngs, bridges, groups)
    write_dataset(root, dataset, records, labels=LABELS, extra_files=files, split={**SPLIT, **split})


def _published(version) -> dict[str, str]:
    return {row["id"]: row["split"] for row in parent_splits(version.path if hasattr(version, "path") else version).to_pylist()}


@pytest.fixture
def published(hub_root, digit_pngs):
    """acme/modules 1.0.0: 12 modules in train 6, validation 3, test 3."""
    _write(hub_root, digit_pngs)
    first = hub.publish(DATASET, root=hub_root)
    splits = _published(first)
    assert {f"module-{int(i[4:]) // 3:02d}": s for i, s in splits.items()} == PUBLISHED
    return first


def test_bridging_duplicates_are_refused_then_allow_moves_is_a_major_version_that_says_so(hub_root, digit_pngs, published):
    _write(hub_root, digit_pngs, BRIDGES)
    with pytest.raises(hub.HubError, match="would move|MAJOR change") as err:
        hub.publish(DATASET, root=hub_root)
    assert type(err.value).__name__ == "SplitsWouldMove" and isinstance(err.value, ValueError)
    assert err.value.message == REFUSED
    assert err.value.hint == ("Nothing was published. Drop or fix the bridging records (the ids above; those not in 1.0.0 are new), or publish "
                              "with --allow-moves (`hub.publish(..., allow_moves=True)`) to move them: a MAJOR version whose card and page "
                              "say that the splits changed and how.")
    assert err.value.moves["pairs"] == [{"from": "test", "to": "train", "records": 3, "groups": 1},
                                        {"from": "validation", "to": "train", "records": 3, "groups": 1}]
    assert hub.show(DATASET, root=hub_root)["versions"] == ["1.0.0"]  # nothing published
    cli = run_hub("publish", DATASET, root=hub_root)
    assert cli.returncode == 1 and f"Error: {REFUSED}\n" in cli.stderr and "--allow-moves" in cli.stderr
    # --allow-moves: a MAJOR version (and only that), whose console, certificate and card say what moved
    with pytest.raises(hub.HubError, match="would move|MAJOR change") as err:
        hub.publish(DATASET, bump="minor", allow_moves=True, root=hub_root)
    assert err.value.message == ("acme/modules: 6 published records of 1.0.0 move split (test → train 3; validation → train 3): "
                                 "that is a MAJOR change, not --bump minor")
    cli = run_hub("publish", DATASET, "--allow-moves", root=hub_root)
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert lines[0] == "Published acme/modules@2.0.0: 40 rows in 3 files"
    assert lines[1] == "  the splits changed (--allow-moves): 6 records published in 1.0.0 moved: test → train 3, validation → train 3"
    second = hub.show(f"{DATASET}@2.0.0", root=hub_root)
    manifest = second["manifest"]
    assert manifest["parent"] == {"version": "1.0.0", "change": "major"}
    certificate = manifest["certificate"]
    assert certificate["records_moved"] == 6 and certificate["holds"]
    assert certificate["moves"] == [{"from": "test", "to": "train", "records": 3, "groups": 1}, {"from": "validation", "to": "train", "records": 3, "groups": 1}]
    assert certificate["duplicate_cluster_examples"] == dict.fromkeys(("exact-image", "near-image"), [["img-006", "dup-0", "dup-1"], ["img-009", "dup-2", "dup-3"]])
    assert certificate["groups_tied_by_duplicates"] == 6
    moved = _published(hub_root / "registry" / DATASET / "versions" / "2.0.0")
    assert {i: moved[i] for i in ("img-006", "img-007", "img-008", "img-009", "dup-0", "dup-2")} == dict.fromkeys(("img-006", "img-007", "img-008", "img-009", "dup-0", "dup-2"), "train")
    card = (hub_root / "registry" / DATASET / "versions" / "2.0.0" / "README.md").read_text()
    assert ("## Splits changed in this version\n\n"
            "The test and validation splits changed: 6 records published in 1.0.0 moved to another split (published with --allow-moves).\n\n"
            "- 3 records (1 group) moved from test to train\n"
            "- 3 records (1 group) moved from validation to train\n\n"
            "Scores on the test and validation splits of 1.0.0 and of 2.0.0 are not comparable.\n") in card
    assert "- Published records moved to another split: 6\n" in card
    from hub.server import create_app

    with uvicorn_thread(create_app(hub_root)) as url:  # the dataset page says it too, above the certificate's table
        with urllib.request.urlopen(f"{url}/datasets/{DATASET}") as response:
            html = response.read().decode()
    assert ('<p class="bad moves">The splits changed in this version: 6 published records moved to another split\n'
            "(3 from test to train, 3 from validation to train). Scores on the old and the new splits are not comparable.</p>") in html


def test_two_groups_for_three_splits_are_refused_with_the_reason(hub_root, digit_pngs):
    _write(hub_root, digit_pngs, groups=2)
    with pytest.raises(hub.HubError, match="would be empty|would hold") as err:
        hub.publish(DATASET, root=hub_root)
    assert type(err.value).__name__ == "SplitTooSmall" and isinstance(err.value, ValueError)
    assert err.value.message == "acme/modules: 2 groups (group) for 3 splits: validation would be empty"
    assert err.value.hint == ("Nothing was published. Ways out: other ratios (leave the split out of split.ratios, or give it a larger share), "
                              "another split.group_key with more distinct values, or a time split (split: {mode: time, time_key: ..., "
                              "ratios: ...}) for series and logs; or lower split.min_rows / split.min_groups.")
    assert not (hub_root / "registry" / DATASET / "versions" / "1.0.0").exists()
    cli = run_hub("publish", DATASET, root=hub_root)
    assert cli.returncode == 1 and "Error: acme/modules: 2 groups (group) for 3 splits: validation would be empty\n" in cli.stderr
    _write(hub_root, digit_pngs, groups=2, ratios={"train": 0.5, "test": 0.5})  # a way out: two splits
    version = hub.publish(DATASET, root=hub_root)
    test = datasets.load_dataset(str(version.path), split="test")  # the documented recipe works: test is not empty
    assert len(test) == version.manifest["splits"]["test"]["rows"] == 3


def test_min_groups_and_min_rows_are_checked_at_publish(hub_root, digit_pngs):
    _write(hub_root, digit_pngs, min_groups={"test": 4})
    with pytest.raises(hub.HubError, match="would be empty|would hold") as err:
        hub.publish(DATASET, root=hub_root)
    assert err.value.message == "acme/modules: test would hold 3 groups (group), fewer than split.min_groups (4)"
    _write(hub_root, digit_pngs, min_rows=10)
    with pytest.raises(hub.HubError, match="would be empty|would hold") as err:
        hub.publish(DATASET, root=hub_root)
    assert err.value.message == ("acme/modules: validation would hold 9 rows, fewer than split.min_rows (10); "
                                 "test would hold 9 rows, fewer than split.min_rows (10)")
    _write(hub_root, digit_pngs, min_rows={"holdout": 1})
    report = hub.validate(DATASET, root=hub_root)
    assert [(p.slug, p.field, p.message) for p in report.problems] == [
        ("bad-split-policy", "split.min_rows", "split.min_rows names 'holdout', not a split of split.ratios (train, validation, test)")]
    _write(hub_root, digit_pngs, min_rows=9, min_groups={"test": 3, "validation": 3})
    version = hub.publish(DATASET, root=hub_root)
    assert version.manifest["lineage"]["params"]["split"]["min_groups"] == {"test": 3, "validation": 3}
    assert len(datasets.load_dataset(str(version.path), split="test")) == 9


def test_a_seed_change_on_a_published_dataset_says_what_it_changes(hub_root, digit_pngs, published):
    _write(hub_root, digit_pngs, [("new-0", 36, "module-12"), ("new-1", 37, "module-13")], seed=7)
    notice = "seed changed 3 → 7: published records keep their splits; only new records use the new seed (since 1.0.0)"
    checked = run_hub("validate", DATASET, root=hub_root)
    assert checked.returncode == 0 and checked.stdout.splitlines()[:2] == ["acme/modules: valid (38 of 38 rows valid)", f"  notice: {notice}"]
    assert hub.validate(DATASET, root=hub_root).to_dict()["notices"] == [{"slug": "seed-changed", "message": notice}]
    cli = run_hub("publish", DATASET, root=hub_root)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines()[0] == f"notice: {notice}"
    second = hub.show(f"{DATASET}@1.1.0", root=hub_root)
    assert second["manifest"]["lineage"]["params"]["split"]["seed"] == 7
    assert (second["manifest"]["certificate"]["records_moved"], second["manifest"]["certificate"]["moves"]) == (0, [])
    old, new = _published(published), _published(hub_root / "registry" / DATASET / "versions" / "1.1.0")
    assert {i: new[i] for i in old} == old
    path = hub_root / "registry" / DATASET / "dataset.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["split"]["ratios"] = {"train": 0.6, "validation": 0.2, "test": 0.2}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = json.loads(run_hub("publish", DATASET, "--skip-unchanged", "--json", root=hub_root).stdout)
    assert result["unchanged"] is True
    assert result["notices"] == [{"slug": "ratios-changed", "message": "ratios changed train 0.5, validation 0.25, test 0.25 → train 0.6, validation 0.2, test 0.2: "
                                                                    "published records keep their splits; only new records are placed toward the new ratios (since 1.1.0)"}]


def test_the_certificate_names_members_and_the_page_shows_it_as_a_table(hub_root, digit_pngs, published):
    _write(hub_root, digit_pngs, [("copy-0", 30, "module-10"), ("copy-1", 31, "module-11")])  # duplicates within test: no move
    second = hub.publish(DATASET, root=hub_root)
    certificate = json.loads((second.path / "leakage.json").read_text())
    assert certificate == second.manifest["certificate"]
    assert {k: certificate[k] for k in ("holds", "groups_crossing_splits", "duplicate_clusters_crossing_splits", "records_moved", "moves", "groups_tied_by_duplicates")} == {
        "holds": True, "groups_crossing_splits": 0, "duplicate_clusters_crossing_splits": 0, "records_moved": 0, "moves": [], "groups_tied_by_duplicates": 2}
    assert certificate["duplicate_clusters_by_kind"] == {"exact-image": 2, "near-image": 2}  # a copy is a near duplicate too
    assert certificate["duplicate_cluster_examples"] == dict.fromkeys(("exact-image", "near-image"), [["img-030", "copy-0"], ["img-031", "copy-1"]])
    assert certificate["splits"]["test"] == {"rows": 11, "groups": 3, "target_share": 0.25, "share": 0.2895, "share_hashed": 0.2895}
    assert "groups_moved_by_duplicates" not in certificate and "rows_moved_by_duplicates" not in certificate
    from hub.server import create_app

    with uvicorn_thread(create_app(hub_root)) as url:
        with urllib.request.urlopen(f"{url}/datasets/{DATASET}") as response:
            html = response.read().decode()
    section = html[html.index('<section class="certificate"'):]
    section = section[: section.index("</section>")]
    cells = [re.sub(r"<[^>]+>", "", row).strip() for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)]
    assert "Published records moved to another split0" in cells
    assert "test11325.0%28.9%" in cells
    assert "exact-image2img-030, copy-0; img-031, copy-1" in cells
