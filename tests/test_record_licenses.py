"""Per-record licenses and attribution (hub.license_rules): the effective license of a corpus
whose records carry their own terms, on the card, in the manifest and the catalog (`hub search
--commercial`), and `hub derive --filter "license = 'CC-BY-4.0'"` keeping a commercial subset.

The records are the chatterbot demo's real dialogues, with a rights column added (the English
ones under CC-BY-4.0, the Spanish ones under CC-BY-NC-4.0, the Chinese ones naming none), mapped
to the `license` and `attribution` fields by `source.fields`.
"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
import yaml

import hub
from conftest import REPO, run_hub

CHAT = "test/chat-licensed"
RIGHTS = {"en": "CC-BY-4.0", "es": "CC-BY-NC-4.0", "zh": None}


@pytest.fixture(scope="module")
def licensed(tmp_path_factory):
    """A hub with the chatterbot dialogues under per-record licenses (the dataset's own:
    BSD-3-Clause), published, and the records by language."""
    from hub.demo.chatterbot import load

    root = hub.init(tmp_path_factory.mktemp("licensed") / "hub")
    doc = yaml.safe_load((REPO / "registry/demo/chatterbot-dialogue/dataset.yaml").read_text(encoding="utf-8"))
    doc["title"] = "ChatterBot dialogues with per-record licenses"
    doc["source"] = {"format": "jsonl", "files": [{"path": "raw/records.jsonl"}], "fields": {"license": "rights", "attribution": "credit"}}
    records = list(load({}))
    folder = root / "registry" / CHAT
    (folder / "raw").mkdir(parents=True)
    with open(folder / "raw" / "records.jsonl", "w", encoding="utf-8") as out:
        for r in records:
            rights = RIGHTS[r["language"]]
            credit = f"chatterbot-corpus, {r['language']}/{r['intent']}" if rights else None
            out.write(json.dumps({**r, "rights": rights, "credit": credit}, ensure_ascii=False) + "\n")
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    published = hub.publish(CHAT, root=root)
    by_language = {lang: sum(1 for r in records if r["language"] == lang) for lang in RIGHTS}
    return root, published, by_language


def test_the_effective_license_is_the_strictest_combination_of_the_records(licensed):
    root, published, n = licensed
    lic = published.manifest["license"]
    assert (lic["declared"], lic["expression"], lic["commercial"]) == ("BSD-3-Clause", "BSD-3-Clause AND CC-BY-4.0 AND CC-BY-NC-4.0", False)
    assert lic["per_record"] == {"CC-BY-4.0": n["en"], "CC-BY-NC-4.0": n["es"]} and lic["records_without_license"] == n["zh"] > 0
    assert lic["obligations"][0].startswith("Commercial use is not allowed")
    assert lic["obligations"][-1] == "Records carry their own attribution (the `attribution` field): credit each record as it says."
    card = (published.path / "README.md").read_text(encoding="utf-8")
    assert "- License: `BSD-3-Clause AND CC-BY-4.0 AND CC-BY-NC-4.0` (commercial use not allowed or unknown)\n" in card
    assert (f"  - The effective license: the dataset's `BSD-3-Clause` and every record's own license (`CC-BY-4.0` {n['en']}, "
            f"`CC-BY-NC-4.0` {n['es']}; {n['zh']} records name none), the strictest combination\n") in card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["hub"]["license_spdx"] == "BSD-3-Clause AND CC-BY-4.0 AND CC-BY-NC-4.0" and meta["hub"]["commercial_use"] is False
    doc = json.loads((published.path / "croissant.json").read_text(encoding="utf-8"))
    assert doc["license"] == [f"https://spdx.org/licenses/{k}.html" for k in ("BSD-3-Clause", "CC-BY-4.0", "CC-BY-NC-4.0")]
    assert doc["usageInfo"][0]["odrl:prohibition"] == [{"@type": "odrl:Prohibition", "odrl:action": {"@id": "odrl:commercialize"}}]
    shown = hub.show(CHAT, root=root)
    assert (shown["license"], shown["commercial"], shown["declared_license"]) == ("BSD-3-Clause AND CC-BY-4.0 AND CC-BY-NC-4.0", False, "BSD-3-Clause")
    assert [d["id"] for d in hub.search(commercial=True, root=root)] == []  # BSD-3-Clause in dataset.yaml, but not its records
    assert [d["id"] for d in hub.search(commercial=False, root=root)] == [CHAT]


def test_a_license_filter_derives_a_commercially_usable_subset(licensed, tmp_path):
    parents, _, _ = licensed
    root = tmp_path / "hub"
    shutil.copytree(parents, root, symlinks=True)
    with pytest.raises(hub.LicenseError) as caught:  # all the records: the Spanish ones forbid it
        hub.derive("test/chat-mit", [f"{CHAT}@1.0.0"], license="MIT", root=root)
    assert caught.value.message.startswith(f"license MIT does not satisfy parent {CHAT}@1.0.0 (BSD-3-Clause AND CC-BY-4.0 AND CC-BY-NC-4.0), "
                                           "which forbids commercial use, which the declared license allows")
    derived = hub.derive("test/chat-by", [f"{CHAT}@1.0.0:train"], filter="license = 'CC-BY-4.0'", root=root)  # train: its test split stays a test set
    train = pq.read_table(root / "registry" / CHAT / "versions/1.0.0/data/train-00000-of-00001.parquet", columns=["language", "license"]).to_pylist()
    english = sum(1 for r in train if r["language"] == "en")
    assert derived.report.valid and derived.rows == english == sum(1 for r in train if r["license"] == "CC-BY-4.0") > 0
    assert (derived.license, derived.parents[0]["license"]) == ("BSD-3-Clause AND CC-BY-4.0", "BSD-3-Clause AND CC-BY-4.0")
    published = hub.publish("test/chat-by", root=root)
    lic = published.manifest["license"]
    assert (lic["expression"], lic["commercial"], lic["per_record"], lic["records_without_license"]) == ("BSD-3-Clause AND CC-BY-4.0", True, {"CC-BY-4.0": english}, 0)
    result = run_hub("search", "--commercial", "--json", root=root, check=True)
    assert [d["id"] for d in json.loads(result.stdout)] == ["test/chat-by"]
    notice = (published.path / "NOTICE.md").read_text(encoding="utf-8")
    assert notice.startswith("# Derived from test/chat-licensed (test/chat-by@1.0.0)\n\nLicense: `BSD-3-Clause AND CC-BY-4.0` (commercial use allowed)\n")


def test_a_record_license_that_does_not_parse_and_a_missing_attribution_are_problems(hub_root):
    from conftest import write_dataset

    turns = [{"speaker": "user", "text": "what is a kettle"}, {"speaker": "bot", "text": "a pot that boils water"}]
    records = [{"id": f"d{i}", "dialogue_id": f"d{i}", "language": "en", "turns": turns, **extra} for i, extra in enumerate([
        {"license": "CC-BY-4.0", "attribution": "Ada"}, {"license": "CC-BY-4.O", "attribution": "Bo"}, {"license": "CC-BY-4.0", "attribution": ""},
        {"license": None, "attribution": None}, {"license": "CC0-1.0", "attribution": None}])]
    write_dataset(hub_root, "test/rights", records, modality="dialogue", license="CC-BY-4.0", pii="off")
    report = hub.validate("test/rights", root=hub_root)
    found = [(p.slug, p.row, p.field, p.message, p.hint) for p in report.problems]
    assert found == [
        ("record-license-invalid", 2, "license", "the record's license 'CC-BY-4.O': unknown SPDX license id 'CC-BY-4.O' (did you mean 'CC-BY-4.0'?)",
         "Write the record's license as CC-BY-4.0, or leave it empty for the dataset's license."),
        ("record-attribution-missing", 3, "attribution", "the record's own license requires attribution, and its attribution is empty",
         "Say in `attribution` whom to credit for the record (its author or source, as its license asks).")]


def test_the_pii_gate_reads_a_records_attribution_but_not_its_license(licensed):
    """An attribution may name a person: the gate reads it as free text; a license is an SPDX
    expression and is not read (nor are the split keys)."""
    from hub.pii import text_fields
    from hub.validation import validate

    root, _, _ = licensed
    validated = validate(root, CHAT)
    paths = text_fields(validated.entry, validated.table.column_names)
    assert ("attribution",) in paths and ("license",) not in paths
    assert ("turns", "text") in paths
