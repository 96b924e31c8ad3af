"""The PII recognizers (hub.pii): each kind found, checksums honoured, values redacted."""

from hub.pii import find_pii, redact

ROWS = ["write to li.wei@163.com tomorrow", "call me on +44 20 7946 0958", "我的手机号是13812345678",
        "身份证号 11010519491231002X 请核对"]


def test_four_kinds_found_in_four_of_four_rows():
    assert [[f.type for f in find_pii(r)] for r in ROWS] == [["EMAIL"], ["PHONE"], ["CN_MOBILE"], ["CN_RESIDENT_ID"]]
    assert find_pii(ROWS[0])[0].start == 9 and find_pii(ROWS[0])[0].end == 23


def test_checksums_reject_lookalikes():
    assert find_pii("id 110105194912310021") == []  # wrong resident-ID check digit
    assert [f.type for f in find_pii("card 4111 1111 1111 1111")] == ["CREDIT_CARD"]
    assert find_pii("card 4111 1111 1111 1112") == []
    assert [f.type for f in find_pii("IBAN GB82 WEST 1234 5698 7654 32")] == ["IBAN"]
    assert [f.type for f in find_pii("from 192.168.0.1")] == ["IP_ADDRESS"]
    assert find_pii("version 999.1.2.3") == []


def test_redact_replaces_values_with_placeholders():
    texts = [redact(r)[0] for r in ROWS]
    assert texts == ["write to <EMAIL> tomorrow", "call me on <PHONE>", "我的手机号是<CN_MOBILE>", "身份证号 <CN_RESIDENT_ID> 请核对"]


def test_addresses_at_documentation_domains_belong_to_no_one():
    """RFC 2606 / 6761 reserve example.com and the .test, .example, .invalid and .localhost names:
    code samples quote them (the chatterbot corpus' email regex answers), they name no person."""
    for text in ["if re.match(pattern, 'user@example.com'):", "mail a@b.example.org", "ops@ci.test", "x@host.invalid", "me@localhost.localhost"]:
        assert find_pii(text) == [], text
    assert [f.type for f in find_pii("mail li.wei@example-shop.com or wang@examples.com")] == ["EMAIL", "EMAIL"]


def test_the_demo_dialogues_hold_no_personal_data():
    """The chatterbot demo's 6,386 turns: the two code samples quoting user@example.com were the only findings."""
    from hub.demo.chatterbot import load

    turns = [t["text"] for record in load({}) for t in record["turns"]]
    assert len(turns) == 6386
    assert [text for text in turns if find_pii(text)] == []
