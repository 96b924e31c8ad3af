"""SPDX license expressions: parsed and checked offline, with what they allow and require.

The SPDX list comes with `license-expression` (no network). `LicenseRef-<name>` ids are
valid SPDX for licenses outside the list; the hub cannot know their terms, so it treats
them as not allowing commercial use unless the dataset says otherwise.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from license_expression import AND, OR, ExpressionError, LicenseSymbol, LicenseWithExceptionSymbol, get_spdx_licensing

from hub.errors import LicenseError

__all__ = ["LicenseInfo", "check_license", "suggest_license_ids"]

_LICENSE_REF = re.compile(r"^(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$")
_NONCOMMERCIAL = re.compile(r"(^|-)NC(-|$)|Non-?Commercial|^CC-BY-NC|PolyForm-Noncommercial", re.IGNORECASE)
_NO_DERIVATIVES = re.compile(r"(^|-)ND(-|$)")
_SHARE_ALIKE = re.compile(r"(^|-)SA(-|$)|^GPL|^AGPL|^LGPL|^ODbL|^CDLA-Sharing|^MPL|^EUPL|^CC-BY-SA")
_PUBLIC_DOMAIN = {"CC0-1.0", "Unlicense", "PDDL-1.0", "0BSD", "CC-PDDC", "MIT-0"}


@dataclass(frozen=True)
class LicenseInfo:
    """A checked license expression and the obligations a downloader must honour."""

    expression: str
    licenses: tuple[str, ...]
    commercial: bool
    attribution: bool
    share_alike: bool
    no_derivatives: bool
    custom: tuple[str, ...] = field(default=())

    def obligations(self) -> list[str]:
        """Plain-language obligations, for cards and for the terms written next to pulled data."""
        notes = []
        if not self.commercial:
            notes.append("Commercial use is not allowed (or not known to be allowed): check the license before such use.")
        if self.attribution:
            notes.append("Attribution is required: credit the creators and cite the dataset.")
        if self.share_alike:
            notes.append("Share-alike: adapted data must be shared under the same or a compatible license.")
        if self.no_derivatives:
            notes.append("No derivatives: you may not share modified versions of the data.")
        if self.custom:
            notes.append(f"Custom license terms ({', '.join(self.custom)}): read the dataset card.")
        return notes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["obligations"] = self.obligations()
        return data


@lru_cache(maxsize=1)
def _licensing():
    return get_spdx_licensing()


def _fold(key: str) -> str:
    """An id compared without case or separators: `Apache 2.0`, `apache_2.0` and `Apache-2.0` meet."""
    return re.sub(r"[\s._-]+", "", key).lower()


@lru_cache(maxsize=1)
def _folded_ids() -> dict[str, list[str]]:
    """Every SPDX id of the list (not scancode's LicenseRef- ids), by its folded form."""
    folded: dict[str, list[str]] = {}
    for key, symbol in _licensing().known_symbols.items():
        if not key.startswith("LicenseRef-"):
            for spelling in {key, symbol.key, *getattr(symbol, "aliases", ())}:  # `GPL-3.0` is the older `GPL-3.0-only`
                ids = folded.setdefault(_fold(spelling), [])
                if symbol.key not in ids:
                    ids.append(symbol.key)
    return folded


def suggest_license_ids(key: str, n: int = 3) -> list[str]:
    """The SPDX ids closest to an unknown `key`: the same id up to case and separators
    (`Apache 2.0` -> `Apache-2.0`), else the nearest spellings (`CC-BY-4.O` -> `CC-BY-4.0`)."""
    folded = _folded_ids()
    target = _fold(key)
    if target in folded:
        return sorted(folded[target])[:n]
    close = difflib.get_close_matches(target, list(folded), n=n, cutoff=0.75)
    return [k for c in close for k in sorted(folded[c])][:n]


def _symbol_terms(key: str) -> dict[str, bool]:
    custom = bool(_LICENSE_REF.match(key))
    return {
        "commercial": not custom and not _NONCOMMERCIAL.search(key),
        "attribution": key not in _PUBLIC_DOMAIN,
        "share_alike": bool(_SHARE_ALIKE.search(key)),
        "no_derivatives": bool(_NO_DERIVATIVES.search(key)),
    }


def _combine(node: Any) -> dict[str, bool]:
    """Fold the terms of an expression tree: OR lets the user pick the most permissive side."""
    if isinstance(node, LicenseWithExceptionSymbol):
        return _symbol_terms(node.license_symbol.key)
    if isinstance(node, LicenseSymbol):
        return _symbol_terms(node.key)
    parts = [_combine(arg) for arg in node.args]
    if isinstance(node, OR):
        best = max(parts, key=lambda t: (t["commercial"], not t["share_alike"], not t["no_derivatives"]))
        return dict(best)
    if isinstance(node, AND):
        return {
            "commercial": all(p["commercial"] for p in parts),
            "attribution": any(p["attribution"] for p in parts),
            "share_alike": any(p["share_alike"] for p in parts),
            "no_derivatives": any(p["no_derivatives"] for p in parts),
        }
    raise LicenseError(f"unsupported license expression node {node!r}")


def check_license(expression: str, *, commercial: bool | None = None) -> LicenseInfo:
    """Parse and check an SPDX expression; raise `LicenseError` naming every unknown id.

    `commercial` overrides the derived commercial-use flag (for `LicenseRef-` licenses whose
    terms the dataset's owner knows).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise LicenseError("the license is empty: an SPDX expression is required", license=str(expression))
    licensing = _licensing()
    try:
        parsed = licensing.parse(expression, validate=False, strict=True)
    except ExpressionError as exc:
        close = suggest_license_ids(expression, 1)
        if close:  # e.g. `Apache 2 0`, which the parser reads as two ids
            raise LicenseError(f"license {expression!r} is not a valid SPDX expression: {exc} (did you mean {close[0]!r}?)", license=expression,
                               unknown=[expression], suggestions={expression: close}, hint=f"Write `license: {close[0]}` in dataset.yaml.") from None
        raise LicenseError(f"license {expression!r} is not a valid SPDX expression: {exc}", license=expression) from None
    if parsed is None:
        raise LicenseError("the license is empty: an SPDX expression is required", license=expression)
    keys = [symbol.key for symbol in licensing.license_symbols(parsed, unique=True, decompose=True)]
    known = licensing.known_symbols
    unknown = [k for k in keys if k not in known and not _LICENSE_REF.match(k)]
    if unknown:
        suggestions = {k: suggest_license_ids(k) for k in unknown}
        names = ", ".join(repr(k) + (f" (did you mean {' or '.join(repr(c) for c in suggestions[k])}?)" if suggestions[k] else "") for k in unknown)
        fixed = expression
        for k, close in suggestions.items():
            if close:
                fixed = re.sub(rf"(?<![\w.+-]){re.escape(k)}(?![\w.+-])", close[0], fixed)
        hint = (f"Write `license: {fixed}` in dataset.yaml." if fixed != expression else
                "Use SPDX ids (https://spdx.org/licenses/), or LicenseRef-<name> for terms of your own.")
        raise LicenseError(f"license {expression!r}: unknown SPDX license id {names}", license=expression, unknown=unknown,
                           suggestions=suggestions, hint=hint)
    # Canonical spelling (e.g. `mit` -> `MIT`) for the known ids.
    canonical = str(licensing.parse(expression, validate=False, strict=True, simple=False))
    for key in keys:
        if key in known and known[key].key != key:
            canonical = re.sub(rf"(?<![\w.-]){re.escape(key)}(?![\w.-])", known[key].key, canonical)
    terms = _combine(parsed)
    if commercial is not None:
        terms["commercial"] = commercial
    licenses = tuple(known[k].key if k in known else k for k in keys if not (k in known and known[k].is_exception))
    custom = tuple(k for k in keys if _LICENSE_REF.match(k))
    return LicenseInfo(expression=canonical, licenses=licenses, custom=custom, **terms)
