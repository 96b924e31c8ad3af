"""What a derived dataset's license must keep of its parents' licenses: one small rules table.

Each rule reads the parents' terms (hub.license.check_license, parsed with `license-expression`)
and the declared license's terms, and says what the declared license drops. The terms come
from the licenses' texts: CC BY-NC forbids commercial use of adaptations (sec. 2.a.1), CC
BY-SA and other copyleft licenses require the adapter's license to be the same or a
compatible one (BY-SA 4.0 sec. 3.b), CC BY-ND allows no shared adaptations (sec. 2.a.1.B),
and a `LicenseRef-*` license's terms are unknown to the hub.

Records may carry their own terms (optional `license` and `attribution` fields, or columns
mapped to them by `source.fields`), as corpora aggregated from many sources do. The dataset's
license covers the compilation and the records that name none; a record's own license adds its
terms. The effective license (`effective_license`) is the strictest combination of them all,
the declared license AND every record license (`strictest`: commercial use only if every part
allows it; attribution, ShareAlike and NoDerivatives if any part asks for them). It is what the
manifest, the card, `hub pull`'s NOTICE.md, Croissant and the catalog (`hub search
--commercial`) say. Validation checks every record's license (`check_records`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from hub.errors import LicenseError
from hub.license import LicenseInfo, check_license

if TYPE_CHECKING:
    import pyarrow as pa

    from hub.checks import Checker

__all__ = ["ATTRIBUTION", "LICENSE", "RULES", "Finding", "check_derived", "check_records", "effective_license", "record_licenses", "strictest"]

LICENSE = "license"  # a record's own SPDX expression (blank: the dataset's license)
ATTRIBUTION = "attribution"  # whom to credit for the record, as its source asks

# ShareAlike licenses a derived dataset may use for a parent's (besides the same license).
_COMPATIBLE_SHARE_ALIKE = {
    "CC-BY-SA-4.0": {"GPL-3.0-only", "GPL-3.0-or-later"},  # CC's compatibility list
    "CC-BY-NC-SA-4.0": set(),
}


@dataclass(frozen=True)
class Finding:
    slug: str  # license-incompatible | license-unknown
    parent: str
    parent_license: str
    message: str


def _noncommercial(parent: LicenseInfo, declared: LicenseInfo) -> str | None:
    if not parent.commercial and declared.commercial:
        return "forbids commercial use, which the declared license allows"
    return None


def _share_alike(parent: LicenseInfo, declared: LicenseInfo) -> str | None:
    if not parent.share_alike:
        return None
    allowed = {parent.expression, *(_COMPATIBLE_SHARE_ALIKE.get(parent.expression, set()))}
    if declared.expression in allowed:
        return None
    return f"is ShareAlike: the derived dataset must use {' or '.join(sorted(allowed))}"


def _no_derivatives(parent: LicenseInfo, declared: LicenseInfo) -> str | None:
    if parent.no_derivatives:
        return "allows no derivatives: no dataset can be derived from it"
    return None


def _attribution(parent: LicenseInfo, declared: LicenseInfo) -> str | None:
    if parent.attribution and not declared.attribution:
        return "requires attribution, which the declared license drops"
    return None


# name -> rule: each returns what the declared license drops of the parent's, or None.
RULES: dict[str, Callable[[LicenseInfo, LicenseInfo], str | None]] = {
    "non-commercial propagates": _noncommercial,
    "share-alike requires the same or a compatible license": _share_alike,
    "no-derivatives cannot be derived": _no_derivatives,
    "attribution propagates": _attribution,
}


def check_derived(declared: str, parents: dict[str, str], *, accept_license_risk: bool = False) -> list[Finding]:
    """Every way the `declared` license fails the `parents` ({"ns/name@1.0.0": "CC-BY-4.0"})."""
    mine = check_license(declared)
    findings = []
    for name, expression in parents.items():
        theirs = check_license(expression)
        if theirs.custom and not accept_license_risk:
            findings.append(Finding("license-unknown", name, theirs.expression,
                                    f"parent {name} is under {theirs.expression}, whose terms the hub does not know: "
                                    "check them, then derive with --accept-license-risk"))
            continue
        for rule in RULES.values():
            dropped = rule(theirs, mine)
            if dropped:
                findings.append(Finding("license-incompatible", name, theirs.expression,
                                        f"license {mine.expression} does not satisfy parent {name} ({theirs.expression}), which {dropped}"))
    return findings


def strictest(parts: list[LicenseInfo]) -> LicenseInfo:
    """The terms of all `parts` at once (an AND of their expressions): commercial use only if
    every part allows it, each obligation if any part has it. Parts already decided (a
    dataset's `commercial:` override of a `LicenseRef-`) keep their decision."""
    expressions: list[str] = []
    for p in parts:
        for operand in _and_operands(p.expression):  # `A AND B` with `B`: A AND B
            if operand not in expressions:
                expressions.append(operand)
    return LicenseInfo(
        expression=" AND ".join(f"({e})" if " " in e and len(expressions) > 1 else e for e in expressions),
        licenses=tuple(dict.fromkeys(k for p in parts for k in p.licenses)),
        commercial=all(p.commercial for p in parts),
        attribution=any(p.attribution for p in parts),
        share_alike=any(p.share_alike for p in parts),
        no_derivatives=any(p.no_derivatives for p in parts),
        custom=tuple(dict.fromkeys(k for p in parts for k in p.custom)),
    )


def _and_operands(expression: str) -> list[str]:
    from license_expression import AND

    from hub.license import _licensing

    parsed = _licensing().parse(expression, validate=False, strict=True)
    return [_unwrapped(str(arg)) for arg in parsed.args] if isinstance(parsed, AND) else [expression]


def _unwrapped(text: str) -> str:
    return text[1:-1] if text.startswith("(") and text.endswith(")") and text.count("(") == 1 else text


@lru_cache(maxsize=4096)
def _record_terms(value: str) -> LicenseInfo:
    return check_license(value)


def _text(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    from hub.arrowutil import flat

    column = flat(column)
    if pa.types.is_null(column.type):
        return column.cast(pa.string())
    return pc.utf8_trim_whitespace(column) if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else None


def record_licenses(table: pa.Table) -> tuple[dict[str, int], int] | None:
    """({canonical expression: records}, records without a license) of the rows' `license`
    field, or None when the records have no such field. Run on validated rows (every value parses)."""
    import pyarrow.compute as pc

    if LICENSE not in table.column_names:
        return None
    values = _text(table.column(LICENSE))
    counts: dict[str, int] = {}
    unlicensed = 0
    for item in pc.value_counts(values).to_pylist():
        if not item["values"]:
            unlicensed += item["counts"]
        else:
            key = _record_terms(item["values"]).expression
            counts[key] = counts.get(key, 0) + item["counts"]
    return dict(sorted(counts.items())), unlicensed


def effective_license(declared: LicenseInfo, table: pa.Table) -> dict[str, Any]:
    """The manifest's `license` for the records of `table` under the dataset's `declared`
    license: the declared terms when the records carry none, else the strictest combination of
    the declared license and every record license, with `declared`, `per_record` (records by
    license) and `records_without_license`."""
    found = record_licenses(table)
    if found is None:
        return declared.to_dict()
    counts, unlicensed = found
    effective = strictest([declared, *(_record_terms(k) for k in counts)])
    out = effective.to_dict()
    if ATTRIBUTION in table.column_names:
        out["obligations"].append("Records carry their own attribution (the `attribution` field): credit each record as it says.")
    out.update({"declared": declared.expression, "per_record": counts, "records_without_license": unlicensed})
    return out


def check_records(checker: Checker) -> None:
    """Every record's own license (a step of `hub.checks.Checker`): a value that is not an SPDX
    expression is a `record-license-invalid` problem naming it (with the nearest ids); when the
    records have an `attribution` field, a record whose own license requires attribution and
    that has none is `record-attribution-missing`."""
    import numpy as np
    import pyarrow.compute as pc

    table = checker.table
    if LICENSE not in table.column_names:
        return
    rows = lambda: np.arange(table.num_rows)  # noqa: E731
    values = _text(table.column(LICENSE))
    if values is None:
        kind = table.schema.field(LICENSE).type
        checker.flag_where(pc.is_valid(table.column(LICENSE)), rows, "record-license-invalid",
                           f"the record's license is a {kind} value, not an SPDX expression", LICENSE,
                           hint="Give `license` as text, e.g. CC-BY-4.0, or leave it empty for the dataset's license.")
        return
    needs_credit = []
    for value in pc.unique(values).to_pylist():
        if not value:
            continue
        try:
            terms = _record_terms(value)
        except LicenseError as exc:
            close = [c for ids in (exc.fields.get("suggestions") or {}).values() for c in ids[:1]]
            fixed = value
            for wrong, ids in (exc.fields.get("suggestions") or {}).items():
                fixed = fixed.replace(wrong, ids[0]) if ids else fixed
            hint = (f"Write the record's license as {fixed}, or leave it empty for the dataset's license." if close else
                    "Use SPDX ids (https://spdx.org/licenses/), LicenseRef-<name> for terms of your own, or leave it empty for the dataset's license.")
            checker.flag_where(pc.equal(values, value), rows, "record-license-invalid", f"the record's {exc.message}", LICENSE, hint=hint)
            continue
        if terms.attribution:
            needs_credit.append(value)
    if ATTRIBUTION in table.column_names and needs_credit:
        credit = _text(table.column(ATTRIBUTION))
        blank = pc.fill_null(pc.equal(credit, ""), True) if credit is not None else pc.is_null(table.column(ATTRIBUTION))
        missing = pc.and_(pc.is_in(values, value_set=_strings(needs_credit)), blank)
        checker.flag_where(missing, rows, "record-attribution-missing", "the record's own license requires attribution, and its attribution is empty",
                           ATTRIBUTION, hint="Say in `attribution` whom to credit for the record (its author or source, as its license asks).")


def _strings(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())
