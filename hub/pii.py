"""Offline PII recognizers for free text: regex candidates confirmed by checksums where one exists.

Presidio's analyzer needs a spaCy model download for its NLP engine, so the hub ships its own
pattern recognizers (the same kinds Presidio's pattern recognizers find). A finding holds the
type and the span, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Finding", "find_pii", "redact"]


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


# type -> (pattern, confirm); checked in this order, a span found once is not found again.
_RECOGNIZERS = [
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), None),
    ("CN_RESIDENT_ID", re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), _cn_id),
    ("CREDIT_CARD", re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"), lambda v: _luhn(re.sub(r"\D", "", v))),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), _iban),
    ("CN_MOBILE", re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d{9}(?!\d)"), None),
    ("PHONE", re.compile(r"(?<![\w+])\+\d{1,3}[ -]?(?:\(?\d{1,4}\)?[ -]?){2,4}\d{2,4}(?!\d)"), None),
    ("IP_ADDRESS", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"), _ipv4),
]


def find_pii(text: str) -> list[Finding]:
    """Every PII span in `text`, in order; overlapping candidates keep the first recognizer's."""
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
