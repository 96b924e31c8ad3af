"""Derived datasets (`hub derive`, hub.deriving): records of published versions, their licenses
checked against the parents' (hub.license_rules), the parents named in NOTICE.md and the lineage.

The parents are real data: the chatterbot demo, and datasets derived from its train split
(its Spanish and its Chinese dialogues), published under other licenses.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pyarrow.parquet as pq
import pytest
import yaml

import hub
from conftest import copy_demo, run_hub, uvicorn_thread

CHAT = "demo/chatterbot-dialogue"


@pytest.fixture(scope="module")
def parents(tmp_path_factory):
    """A hub with the chatterbot demo (BSD-3-Clause), its Spanish train dialogues as
    test/chat-es (CC-BY-NC-SA-4.0), its Chinese ones as test/chat-zh (CC-BY-ND-4.0) and the
    digits demo (images), all published. Shared: tests copy it before they write."""
    root = hub.init(tmp_path_factory.mktemp("derive") / "hub")
    for dataset in (CHAT, "demo/digits"):
        copy_demo(root, dataset)
        hub.publish(dataset, root=root)
    for dataset, language, license in (("test/chat-es", "es", "CC-BY-NC-SA-4.0"), ("test/chat-zh", "zh", "CC-BY-ND-4.0")):
        hub.derive(dataset, [f"{CHAT}@1.0.0:train"], filter=f"language = '{language}'", license=license, root=root)
        hub.publish(dataset, root=root)
    return root


@pytest.fixture
def root(parents, tmp_path):
    """A copy of the parents' hub to write in."""
    copy = tmp_path / "hub"
    shutil.copytree(parents, copy, symlinks=True)
    return copy


def _rows_of(root, dataset: str, split: str) -> list[dict]:
    manifest = json.loads((root / "registry" / dataset / "versions" / "1.0.0" / "manifest.json").read_text())
    shards = [root / "registry" / dataset / "versions" / "1.0.0" / f["path"] for f in manifest["files"] if f["split"] == split]
    return [row for shard in shards for row in pq.read_table(shard).to_pylist()]


def _train_rows(root, dataset: str, **where) -> list[dict]:
    return [row for row in _rows_of(root, dataset, "train") if all(row[k] == v for k, v in where.items())]


def test_mit_over_a_noncommercial_share_alike_parent_is_refused_by_name(root):
    with pytest.raises(hub.LicenseError) as caught:
        hub.derive("test/mix", [f"{CHAT}@1.0.0:train", "test/chat-es@1.0.0:train"], filter="language = 'en'", license="MIT", root=root)
    assert caught.value.message == (
        "license MIT does not satisfy parent test/chat-es@1.0.0 (CC-BY-NC-SA-4.0), which forbids commercial use, which the declared license allows; "
        "license MIT does not satisfy parent test/chat-es@1.0.0 (CC-BY-NC-SA-4.0), which is ShareAlike: the derived dataset must use CC-BY-NC-SA-4.0")
    assert not (root / "registry" / "test" / "mix").exists()  # nothing written


def test_the_same_mix_under_the_parents_share_alike_license_publishes_with_both_parents_named(root, tmp_path):
    derived = hub.derive("test/mix", [f"{CHAT}@1.0.0:train", "test/chat-es@1.0.0:train"], filter="language = 'en' OR parent = 'test/chat-es@1.0.0'",
                         license="CC-BY-NC-SA-4.0", root=root)
    chat_train = json.loads((root / "registry" / CHAT / "versions" / "1.0.0" / "manifest.json").read_text())["splits"]["train"]["rows"]
    es = json.loads((root / "registry" / "test/chat-es" / "versions" / "1.0.0" / "manifest.json").read_text())["splits"]["train"]["rows"]
    assert derived.report.valid
    assert [(p["dataset"], p["split"], p["license"]) for p in derived.parents] == [(CHAT, "train", "BSD-3-Clause"), ("test/chat-es", "train", "CC-BY-NC-SA-4.0")]
    assert derived.parents[1]["rows"] == es and derived.parents[0]["rows"] == len(_train_rows(root, CHAT, language="en")) < chat_train

    published = hub.publish("test/mix", root=root)
    rows = [r for split in ("train", "validation", "test") for r in _rows_of(root, "test/mix", split)]
    assert len(rows) == derived.rows == published.manifest["rows"]
    assert {r["id"].split(":")[0] for r in rows} == {"demo.chatterbot-dialogue@1.0.0", "test.chat-es@1.0.0"}
    assert all(r["dialogue_id"].split(":")[0] == r["id"].split(":")[0] for r in rows)  # group keys prefixed alike
    assert {(r["id"].split(":")[0], r["parent"]) for r in rows} == {("demo.chatterbot-dialogue@1.0.0", f"{CHAT}@1.0.0"), ("test.chat-es@1.0.0", "test/chat-es@1.0.0")}

    lineage = published.manifest["lineage"]["parents"]
    for parent in lineage:
        manifest = root / "registry" / parent["dataset"] / "versions" / parent["version"] / "manifest.json"
        assert parent["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    notice = (published.path / "NOTICE.md").read_text(encoding="utf-8")
    assert notice.startswith("# Derived from demo/chatterbot-dialogue, test/chat-es (test/mix@1.0.0)\n\nLicense: `CC-BY-NC-SA-4.0` (commercial use NOT allowed)\n")
    assert f"### {CHAT}@1.0.0 (train split)\n\n- License: `BSD-3-Clause`\n" in notice
    assert "### test/chat-es@1.0.0 (train split)\n\n- License: `CC-BY-NC-SA-4.0`\n" in notice
    assert "- Creators: Gunther Cox and the chatterbot-corpus contributors" in notice
    assert "@misc{chatterbot_corpus," in notice
    card = (published.path / "README.md").read_text(encoding="utf-8")
    assert f"- `{CHAT}@1.0.0` (train split): {derived.parents[0]['rows']} records, license `BSD-3-Clause`, manifest sha256 `{lineage[0]['manifest_sha256']}`" in card

    import mlcroissant as mlc

    doc = json.loads((published.path / "croissant.json").read_text(encoding="utf-8"))
    assert [(p["@id"], p["license"], p["identifier"]) for p in doc["prov:wasDerivedFrom"]] == [
        (f"{p['dataset']}@{p['version']}", p["license"], f"sha256:{p['manifest_sha256']}") for p in lineage]
    assert doc["prov:wasGeneratedBy"] == [{"@type": "prov:Activity", "prov:label": "derivation", "prov:used": [{"@id": f"{p['dataset']}@{p['version']}"} for p in lineage],
                                           "description": f"Records of {CHAT}@1.0.0, test/chat-es@1.0.0 (ids prefixed by their parent), made with hub derive."}]
    record = next(iter(mlc.Dataset(jsonld=str(published.path / "croissant.json")).records("default")))  # validated, and read
    assert record["default/parent"].decode() in {f"{CHAT}@1.0.0", "test/chat-es@1.0.0"}

    from hub.server.app import create_app

    with uvicorn_thread(create_app(root)) as url:  # `hub pull`'s NOTICE.md credits the parents, as the version's does
        pulled = hub.pull("test/mix@1.0.0", split="test", endpoint=url, cache_dir=tmp_path / "cache")
    pulled_notice = (pulled.path / "NOTICE.md").read_text(encoding="utf-8")
    assert f"## Parent datasets\n\nThis dataset is made of records of these published versions; their terms apply to those records.\n\n### {CHAT}@1.0.0 (train split)\n\n- License: `BSD-3-Clause`\n" in pulled_notice
    assert "### test/chat-es@1.0.0 (train split)\n\n- License: `CC-BY-NC-SA-4.0`\n" in pulled_notice
    assert "Creators: Gunther Cox and the chatterbot-corpus contributors\n" in pulled_notice  # once, though both parents name them
    assert f"% {CHAT}@1.0.0 (BSD-3-Clause)\n@misc{{chatterbot_corpus," in pulled_notice
    assert "% test/chat-es@1.0.0 (CC-BY-NC-SA-4.0)\n" in pulled_notice


def test_a_no_derivatives_parent_is_refused(root):
    with pytest.raises(hub.LicenseError) as caught:
        hub.derive("test/mix", ["test/chat-zh@1.0.0"], license="CC-BY-ND-4.0", root=root)
    assert caught.value.message == ("license CC-BY-ND-4.0 does not satisfy parent test/chat-zh@1.0.0 (CC-BY-ND-4.0), which allows no derivatives: "
                                    "no dataset can be derived from it")


def test_a_license_changed_in_dataset_yaml_is_checked_again_at_validation(root):
    hub.derive("test/mix", ["test/chat-es@1.0.0"], root=root)  # the parent's one license by default
    path = root / "registry" / "test" / "mix" / "dataset.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["license"] == "CC-BY-NC-SA-4.0"
    doc["license"] = "CC-BY-4.0"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    report = hub.validate("test/mix", root=root)
    assert [(p.slug, p.file, p.field, p.message) for p in report.problems] == [
        ("license-incompatible", "registry/test/mix/dataset.yaml", "license",
         "license CC-BY-4.0 does not satisfy parent test/chat-es@1.0.0 (CC-BY-NC-SA-4.0), which forbids commercial use, which the declared license allows"),
        ("license-incompatible", "registry/test/mix/dataset.yaml", "license",
         "license CC-BY-4.0 does not satisfy parent test/chat-es@1.0.0 (CC-BY-NC-SA-4.0), which is ShareAlike: the derived dataset must use CC-BY-NC-SA-4.0"),
    ]
    with pytest.raises(hub.ValidationFailed):
        hub.publish("test/mix", root=root)


@pytest.mark.parametrize(("sources", "filter", "error", "message"), [
    ([f"{CHAT}@1.0.0", "demo/digits@1.0.0"], None, hub.HubError,
     "the parents are of different record types: demo/chatterbot-dialogue@1.0.0 holds dialogue records, demo/digits@1.0.0 holds image records"),
    ([f"{CHAT}@9.0.0"], None, hub.VersionNotFound, "demo/chatterbot-dialogue has no version '9.0.0' (versions: 1.0.0)"),
    ([CHAT], None, hub.HubError, "--from 'demo/chatterbot-dialogue' names no version"),
    ([f"{CHAT}@1.0.0:dev"], None, hub.VersionNotFound, "demo/chatterbot-dialogue@1.0.0 has no split 'dev' (splits: train, validation, test)"),
    ([f"{CHAT}@1.0.0", "test/chat-es@1.0.0"], None, hub.LicenseError,
     "the parents are under different licenses (demo/chatterbot-dialogue@1.0.0: BSD-3-Clause, test/chat-es@1.0.0: CC-BY-NC-SA-4.0): name the derived dataset's license"),
])
def test_bad_parents_are_refused_before_anything_is_written(root, sources, filter, error, message):
    with pytest.raises(error) as caught:
        hub.derive("test/mix", sources, filter=filter, root=root)
    assert caught.value.message == message
    assert not (root / "registry" / "test" / "mix").exists()


def test_a_filter_that_does_not_parse_names_the_parent(root):
    with pytest.raises(hub.HubError) as caught:
        hub.derive("test/mix", [f"{CHAT}@1.0.0"], filter="language = ", root=root)
    assert caught.value.message.startswith(f"--filter 'language = ' does not fit the records of {CHAT}@1.0.0: Parser Error")
    assert caught.value.hint == "Write a SQL condition over the record fields, e.g. --filter \"label = '3'\" or --filter \"language = 'en'\"."
    assert not (root / "registry" / "test" / "mix").exists()


def test_cli_derive_prints_the_parents_and_its_json_is_the_library_result(root):
    done = run_hub("derive", "test/greetings", "--from", f"{CHAT}@1.0.0:train", "--filter", "intent = 'greetings'", root=root)
    assert done.returncode == 0, done.stderr
    rows = len(_train_rows(root, CHAT, intent=_label_index(root, "greetings")))
    assert done.stdout.splitlines()[:2] == [f"Derived test/greetings (BSD-3-Clause): {rows} records in {root / 'registry' / 'test' / 'greetings'}",
                                            f"  {rows:>8} from {CHAT}@1.0.0:train (BSD-3-Clause)"]
    shutil.rmtree(root / "registry" / "test" / "greetings")
    done = run_hub("derive", "test/greetings", "--from", f"{CHAT}@1.0.0:train", "--filter", "intent = 'greetings'", "--json", root=root)
    data = json.loads(done.stdout)
    assert (data["rows"], data["license"], data["report"]["valid"]) == (rows, "BSD-3-Clause", True)
    refused = run_hub("derive", "test/other", "--from", "test/chat-es@1.0.0", "--license", "MIT", root=root)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[0].startswith("Error: license MIT does not satisfy parent test/chat-es@1.0.0 (CC-BY-NC-SA-4.0)")


def _label_index(root, label: str) -> int:
    manifest = json.loads((root / "registry" / CHAT / "versions" / "1.0.0" / "manifest.json").read_text())
    return manifest["labels"].index(label)


def test_a_parent_under_unknown_terms_needs_accept_license_risk_which_validation_remembers(root):
    copy = root / "registry" / "acme" / "chat-ref"
    shutil.copytree(root / "registry" / CHAT, copy, ignore=shutil.ignore_patterns("versions"))
    doc = yaml.safe_load((copy / "dataset.yaml").read_text())
    doc.update({"license": "LicenseRef-Acme-Chat", "source": {**doc["source"], "options": {"limit": 200}}})
    (copy / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    hub.publish("acme/chat-ref", allow_contamination=True, root=root)  # 200 of the demo's own dialogues, split anew
    with pytest.raises(hub.LicenseError) as caught:
        hub.derive("test/mix", ["acme/chat-ref@1.0.0"], root=root)
    assert caught.value.message == ("parent acme/chat-ref@1.0.0 is under LicenseRef-Acme-Chat, whose terms the hub does not know: "
                                    "check them, then derive with --accept-license-risk")
    derived = hub.derive("test/mix", ["acme/chat-ref@1.0.0"], accept_license_risk=True, root=root)
    assert derived.report.valid and derived.rows == 200
    assert hub.validate("test/mix", root=root).valid  # the acceptance travels with the derived source


def test_a_blind_split_cannot_be_derived_from(root):
    copy = root / "registry" / "acme" / "chat-blind"
    shutil.copytree(root / "registry" / CHAT, copy, ignore=shutil.ignore_patterns("versions"))
    doc = yaml.safe_load((copy / "dataset.yaml").read_text())
    doc["source"]["options"] = {"limit": 200}
    doc["split"]["blind"] = ["test"]
    (copy / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    hub.publish("acme/chat-blind", allow_contamination=True, root=root)
    for source in ("acme/chat-blind@1.0.0", "acme/chat-blind@1.0.0:test"):
        with pytest.raises(hub.HubError) as caught:
            hub.derive("test/mix", [source], root=root)
        assert caught.value.message == "acme/chat-blind@1.0.0: the test split is blind (published without intent): it cannot be derived from"
        assert caught.value.hint == "Derive from the other splits, e.g. --from acme/chat-blind@1.0.0:train."
    assert hub.derive("test/mix", ["acme/chat-blind@1.0.0:train"], root=root).report.valid
