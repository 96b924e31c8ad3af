"""The PII gate at validation and publishing (`pii:` in dataset.yaml, hub.pii): rows with personal
data rejected by default for dialogue, redacted in the published shards under `redact`, counted
under `report`, and the values themselves never in a report, a message or the card."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

import hub
from hub.pii import NOT_DETECTED
from conftest import write_dataset

VALUES = ["li.wei@163.com", "+44 20 7946 0958", "13812345678", "11010519491231002X"]
TEXTS = [f"write to {VALUES[0]} tomorrow", f"call me on {VALUES[1]}", f"我的手机号是{VALUES[2]}", f"身份证号 {VALUES[3]} 请核对"]
CLEAN = ["what time does the library open", "it opens at nine on weekdays", "is there a cafe inside", "yes, on the ground floor",
         "can I renew a book online", "yes, from your account page", "how many books can I borrow", "up to twelve at a time"]


def _records() -> list[dict]:
    """Four dialogues whose user turn holds one kind of personal data each, then 36 without any."""
    rows = []
    for i in range(40):
        user = TEXTS[i] if i < 4 else f"{CLEAN[(2 * i) % 8]} (question {i})"
        rows.append({"id": f"d{i:03d}", "dialogue_id": f"d{i:03d}", "language": "en", "intent": "library",
                     "turns": [{"speaker": "user", "text": user}, {"speaker": "bot", "text": f"{CLEAN[(2 * i + 1) % 8]} (answer {i})"}]})
    return rows


def _entry(root, dataset: str, pii: str | None = None):
    extra = {"pii": pii} if pii else {}
    return write_dataset(root, dataset, _records(), modality="dialogue", labels=["library"], **extra)


def test_dialogue_rows_with_personal_data_are_rejected_by_default(hub_root):
    _entry(hub_root, "test/chat")
    report = hub.validate("test/chat", root=hub_root)
    found = [(p.slug, p.row, p.field, p.message) for p in report.problems]
    assert found == [
        ("pii-email", 1, "turns[].text", "EMAIL at characters 9-23 of turns[0].text (the value is not shown)"),
        ("pii-phone", 2, "turns[].text", "PHONE at characters 11-27 of turns[0].text (the value is not shown)"),
        ("pii-cn-mobile", 3, "turns[].text", "CN_MOBILE at characters 6-17 of turns[0].text (the value is not shown)"),
        ("pii-cn-resident-id", 4, "turns[].text", "CN_RESIDENT_ID at characters 5-23 of turns[0].text (the value is not shown)"),
    ]
    assert report.rows_rejected == 4
    assert report.problems[0].fix == ("Remove the personal data from the record, or set `pii: redact` in dataset.yaml to publish it replaced by a "
                                      "typed placeholder (hub.pii).")
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    assert not [v for v in VALUES if v in text]  # spans and kinds, never the values
    quarantined = [json.loads(line) for line in (hub_root / report.quarantine).read_text(encoding="utf-8").splitlines()]
    assert [(q["record"]["id"], [p["slug"] for p in q["problems"]]) for q in quarantined] == [
        ("d000", ["pii-email"]), ("d001", ["pii-phone"]), ("d002", ["pii-cn-mobile"]), ("d003", ["pii-cn-resident-id"])]

    with pytest.raises(hub.ValidationFailed, match="4 problems found, 4 of 40 rows rejected"):
        hub.publish("test/chat", root=hub_root)
    published = hub.publish("test/chat", allow_rejects=True, root=hub_root)
    assert published.manifest["pii"] == {"policy": "reject", "fields": ["turns[].text"], "rows": 4,
                                         "findings": {"EMAIL": 1, "PHONE": 1, "CN_MOBILE": 1, "CN_RESIDENT_ID": 1}, "not_detected": NOT_DETECTED}
    card = (published.path / "README.md").read_text(encoding="utf-8")
    assert "- PII policy: `reject`: records with personal data in their free text are rejected (kept out of the version, in quarantine)." in card


def _published_text(published) -> str:
    shards = [published.path / f["path"] for f in published.manifest["files"]]
    return "\n".join(t["text"] for shard in shards for row in pq.read_table(shard).to_pylist() for t in row["turns"])


def test_redact_replaces_every_span_in_the_published_shards(hub_root):
    _entry(hub_root, "test/chat", pii="redact")
    report = hub.validate("test/chat", root=hub_root)
    assert report.valid and report.rows_valid == 40
    published = hub.publish("test/chat", root=hub_root)
    text = _published_text(published)
    assert not [v for v in VALUES if v in text]
    assert [p for p in ("write to <EMAIL> tomorrow", "call me on <PHONE>", "我的手机号是<CN_MOBILE>", "身份证号 <CN_RESIDENT_ID> 请核对") if p in text] == [
        "write to <EMAIL> tomorrow", "call me on <PHONE>", "我的手机号是<CN_MOBILE>", "身份证号 <CN_RESIDENT_ID> 请核对"]
    assert published.manifest["pii"]["redacted"] == {"EMAIL": 1, "PHONE": 1, "CN_MOBILE": 1, "CN_RESIDENT_ID": 1}
    card = (published.path / "README.md").read_text(encoding="utf-8")
    assert "- Spans replaced in this version: CN_MOBILE 1, CN_RESIDENT_ID 1, EMAIL 1, PHONE 1" in card
    assert "- Fields read: `turns[].text`; found at validation: CN_MOBILE 1, CN_RESIDENT_ID 1, EMAIL 1, PHONE 1 (in 4 records)" in card
    assert ("- Not looked for: person names: no recognizer that ships offline finds them (Presidio's needs a spaCy model download). "
            "A record may name people although the gate found nothing (PERSON).") in card
    assert published.manifest["pii"]["not_detected"] == {"PERSON": "person names: no recognizer that ships offline finds them (Presidio's needs a spaCy model download)"}
    assert not [v for v in VALUES if v in card]
    import mlcroissant as mlc

    doc = json.loads((published.path / "croissant.json").read_text(encoding="utf-8"))
    assert doc["rai:personalSensitiveInformation"] == ("PII gate policy redact over turns[].text; found at validation: "
                                                      "CN_MOBILE 1, CN_RESIDENT_ID 1, EMAIL 1, PHONE 1 (in 4 records). Not looked for: person names: "
                                                      "no recognizer that ships offline finds them (Presidio's needs a spaCy model download).")
    assert doc["prov:wasGeneratedBy"] == [{"@type": "prov:Activity", "prov:label": "pii-redaction", "description":
                                           "Spans of personal data replaced by typed placeholders (<EMAIL>, ...): CN_MOBILE 1, CN_RESIDENT_ID 1, EMAIL 1, PHONE 1."}]
    mlc.Dataset(jsonld=str(published.path / "croissant.json"))  # validates (raises ValidationError otherwise)


@pytest.mark.parametrize("policy", ["report", "off"])
def test_report_counts_and_off_does_not_look(hub_root, policy):
    _entry(hub_root, "test/chat", pii=policy)
    report = hub.validate("test/chat", root=hub_root)
    assert report.valid and report.rows_valid == 40
    published = hub.publish("test/chat", root=hub_root)
    assert [v for v in VALUES if v in _published_text(published)] == VALUES  # published as they are
    if policy == "off":
        assert "pii" not in published.manifest
    else:
        assert published.manifest["pii"]["findings"] == {"EMAIL": 1, "PHONE": 1, "CN_MOBILE": 1, "CN_RESIDENT_ID": 1}
        assert "redacted" not in published.manifest["pii"]


def test_an_unknown_policy_is_an_entry_problem(hub_root):
    folder = _entry(hub_root, "test/chat", pii="mask")
    report = hub.validate("test/chat", root=hub_root)
    assert [(p.slug, p.field, p.message) for p in report.problems] == [
        ("entry-schema", "pii", "pii: 'mask' is not one of ['reject', 'redact', 'report', 'off']")]
    assert yaml.safe_load((folder / "dataset.yaml").read_text())["pii"] == "mask"
