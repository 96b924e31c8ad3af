"""Offline PII recognizers for free text: regex candidates confirmed by checksums where one exists.

Presidio's analyzer needs a spaCy model download for its NLP engine, so the hub ships its own
pattern recognizers (the same kinds Presidio's pattern recognizers find). A finding holds the
type and the span, never the value. Addresses at the domains reserved for documentation
(RFC 2606, RFC 6761: example.com, *.test, ...) belong to no one and are not found: code
samples in chat corpora quote them.

The gate (`check`, one step of validation's checks) reads the free text of every record (the
fields its type names, `RecordType.free_text`, and the extra text fields), under the entry's
policy (`pii:` in dataset.yaml, default the type's `pii_default`, `policy`): `reject` makes every finding a `pii-*` problem that rejects its row,
`redact` and `report` count the findings (per batch, added up by `merge` into
`Entry.extra["pii"]`), and publishing replaces each span with its typed placeholder under
`redact` (`redact_table`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from hub import records
from hub.arrowutil import leaf, map_leaf

if TYPE_CHECKING:
    from hub.checks import Checker
    from hub.entry import Entry

__all__ = ["NOT_DETECTED", "Finding", "check", "find_pii", "for_publishing", "merge", "policy", "redact", "redact_table", "scan", "slug", "text_fields"]

# The free text of each record type (paths through lists and structs); extra text fields come on top.
KEPT = 1000  # findings listed (with their place) under `report` and `redact`; all are counted


# What the gate does not look for, and why: said in the manifest, on the card and in Croissant, so that
# "found: none" is never read as "no personal data". Person names need a named-entity model; none that
# finds them ships in a package offline (Presidio's analyzer loads a spaCy model it downloads; spaCy's
# models are not on PyPI but as third-party re-uploads; a list of first names flags every "Will" and
# "May" in chit-chat and misses Chinese names).
NOT_DETECTED = {"PERSON": "person names: no recognizer that ships offline finds them (Presidio's needs a spaCy model download)"}


@dataclass(frozen=True)
class Finding:
    type: str  # EMAIL | PHONE | CN_MOBILE | CN_RESIDENT_ID | CREDIT_CARD | IBAN | IP_ADDRESS
    start: int
    end: int


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _cn_id(value: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(value[:17], weights)) % 11]
    return value[17].upper() == check


def _iban(value: str) -> bool:
    s = re.sub(r"\s", "", value).upper()
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def _ipv4(value: str) -> bool:
    return all(int(p) <= 255 for p in value.split("."))


_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")  # RFC 2606 sec. 3
_RESERVED_TLDS = ("example", "test", "invalid", "localhost")  # RFC 2606 sec. 2, RFC 6761


def _email(value: str) -> bool:
    domain = value.rpartition("@")[2].lower()
    reserved = domain.rsplit(".", 1)[-1] in _RESERVED_TLDS or any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS)
    return not reserved


# type -> (pattern, confirm); checked in this order, a span found once is not found again.
_RECOGNIZERS = [
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), _email),
    ("CN_RESIDENT_ID", re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), _cn_id),
    ("CREDIT_CARD", re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"), lambda v: _luhn(re.sub(r"\D", "", v))),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), _iban),
    ("CN_MOBILE", re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d{9}(?!\d)"), None),
    ("PHONE", re.compile(r"(?<![\w+])\+\d{1,3}[ -]?(?:\(?\d{1,4}\)?[ -]?){2,4}\d{2,4}(?!\d)"), None),
    ("IP_ADDRESS", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"), _ipv4),
]


_CANDIDATE = re.compile(r"[@\d]")  # every recognizer needs an '@' or a digit: most chat turns have neither


def find_pii(text: str) -> list[Finding]:
    """Every PII span in `text`, in order; overlapping candidates keep the first recognizer's."""
    if not _CANDIDATE.search(text):
        return []
    found: list[Finding] = []
    for kind, pattern, confirm in _RECOGNIZERS:
        for m in pattern.finditer(text):
            if confirm and not confirm(m.group()):
                continue
            if any(f.start < m.end() and m.start() < f.end for f in found):
                continue
            found.append(Finding(kind, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def redact(text: str) -> tuple[str, list[Finding]]:
    """`text` with every PII span replaced by its typed placeholder (`<EMAIL>`), and the findings."""
    found = find_pii(text)
    for f in reversed(found):
        text = text[:f.start] + f"<{f.type}>" + text[f.end:]
    return text, found


def slug(kind: str) -> str:
    """The report's slug of a finding's type: `pii-email`, `pii-cn-resident-id`, ..."""
    return "pii-" + kind.lower().replace("_", "-")


def policy(entry: Entry) -> str:
    """The entry's `pii` policy: as dataset.yaml says, else `reject` for dialogue and speech, `report` elsewhere."""
    return entry.data.get("pii") or records.get(entry.schema.record).pii_default


def text_fields(entry: Entry, columns: list[str]) -> list[tuple[str, ...]]:
    """The free-text paths of the entry's records: its type's, then every extra text field that
    is not a split key, a derived dataset's `parent` or a record's `license` (they name records
    and SPDX ids, not people), and every nested extra text field in the items of a list. A
    record's `attribution` is read: it may name a person."""
    split = entry.split
    keys = {"parent", "license", *((split.group_key, split.stratify_key, split.column) if split else ())}
    extras = [(f.name,) for f in entry.schema.extras if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    extras += [(path[0], f.name) for path, f in entry.schema.nested  # a text kept in the items of a list (turns[].note)
               if len(path) == 1 and pa.types.is_string(f.type) and "array" in str(entry.schema.properties[path[0]].get("type"))]
    paths = [*records.get(entry.schema.record).free_text, *(p for p in extras if p[0] not in keys or len(p) > 1)]
    return [p for p in paths if p[0] in columns]


def _field(path: tuple[str, ...], lists: bool) -> str:
    return path[0] + ("[]." + ".".join(path[1:]) if lists else "")


def scan(table: pa.Table, paths: list[tuple[str, ...]]) -> list[tuple[int, str, int | None, Finding]]:
    """(table row, field, item index in its list or None, finding) of every PII span at `paths`."""
    found = []
    for path in paths:
        values, rows = leaf(table, path)
        texts = values.to_pylist()
        hits = [(i, f) for i, text in enumerate(texts) if text for f in find_pii(text)]
        if not hits:
            continue
        in_list = len(path) > 1  # a field of the items of a list (turns[].text); else a column of text
        row_of = rows()
        first = np.searchsorted(row_of, row_of)  # the first value of each value's row: its item index is the distance
        for i, f in hits:
            found.append((int(row_of[i]), _field(path, in_list), int(i - first[i]) if in_list else None, f))
    return found


def check(checker: Checker) -> None:
    """The PII gate over one batch of rows (a step of `hub.checks.Checker`).

    `reject`: each finding is a `pii-*` problem (its type, field and span; never the value)
    that rejects the row, which goes to quarantine. `redact` and `report`: the findings are
    counted in the batch's `checker.learned["pii"]` (the first `KEPT` with their place), which
    `merge` adds up into `entry.extra["pii"]` for the manifest and the card. `off`: nothing is read.
    """
    entry = checker.entry
    mode = policy(entry)
    if mode == "off":
        return
    paths = text_fields(entry, checker.table.column_names)
    summary = checker.learned.setdefault("pii", {"policy": mode, "fields": [_field(p, len(p) > 1) for p in paths], "findings": {}, "rows": 0, "first": []})
    found = scan(checker.table, paths)
    summary["rows"] += len({row for row, _, _, _ in found})
    for row, field, item, f in found:
        summary["findings"][f.type] = summary["findings"].get(f.type, 0) + 1
        where = field if item is None else field.replace("[]", f"[{item}]", 1)
        message = f"{f.type} at characters {f.start}-{f.end} of {where} (the value is not shown)"
        if mode == "reject":
            checker.flag(np.array([row]), slug(f.type), message, field)
        elif len(summary["first"]) < KEPT:
            summary["first"].append({"file": checker.files[row], "row": int(checker.rownos[row]), "field": where, "type": f.type, "start": f.start, "end": f.end})


def merge(entry: Entry, summaries: list[dict[str, Any] | None]) -> None:
    """Add up the PII summaries of consecutive batches (`check`), in their order, into
    `entry.extra["pii"]`; nothing when no batch read any text."""
    summaries = [s for s in summaries if s]
    if not summaries:
        return
    merged = {"policy": summaries[0]["policy"], "fields": summaries[0]["fields"], "findings": {}, "rows": 0, "first": []}
    for s in summaries:
        merged["rows"] += s["rows"]
        for kind, n in s["findings"].items():
            merged["findings"][kind] = merged["findings"].get(kind, 0) + n
        merged["first"] += s["first"][: KEPT - len(merged["first"])]
    entry.extra["pii"] = merged


def redact_table(table: pa.Table, entry: Entry) -> tuple[pa.Table, dict[str, int]]:
    """`table` with every PII span of its free text replaced by its typed placeholder, and the
    count of each type replaced (for `pii: redact`, at publishing)."""
    counts: dict[str, int] = {}

    def rewrite(values: pa.Array) -> pa.Array:
        out = []
        for text in values.to_pylist():
            if text:
                text, found = redact(text)
                for f in found:
                    counts[f.type] = counts.get(f.type, 0) + 1
            out.append(text)
        return pa.array(out, values.type)

    for path in text_fields(entry, table.column_names):
        i = table.column_names.index(path[0])
        column = table.column(i)
        chunks = [map_leaf(chunk, path[1:], rewrite) for chunk in column.chunks]
        table = table.set_column(i, table.field(i), pa.chunked_array(chunks, type=column.type))
    return table, counts


def for_publishing(table: pa.Table, entry: Entry) -> tuple[pa.Table, dict[str, Any] | None]:
    """The rows to publish under the entry's PII policy (spans replaced under `redact`), and what
    the manifest and card say of it: the policy, the fields read, the findings of validation by
    type and the rows holding them, and under `redact` the spans replaced. None under `off`."""
    found = entry.extra.get("pii")
    if found is None:
        return table, None
    summary = {key: found[key] for key in ("policy", "fields", "findings", "rows")}
    summary["not_detected"] = dict(NOT_DETECTED)  # what the gate cannot see, said wherever its counts are
    if found["policy"] == "redact":
        table, summary["redacted"] = redact_table(table, entry)
    return table, summary
