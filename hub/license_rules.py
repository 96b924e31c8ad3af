"""What a derived dataset's license must keep of its parents' licenses: one small rules table.

Each rule reads the parents' terms (hub.license.check_license, parsed with `license-expression`)
and the declared license's terms, and says what the declared license drops. The terms come
from the licenses' texts: CC BY-NC forbids commercial use of adaptations (sec. 2.a.1), CC
BY-SA and other copyleft licenses require the adapter's license to be the same or a
compatible one (BY-SA 4.0 sec. 3.b), CC BY-ND allows no shared adaptations (sec. 2.a.1.B),
and a `LicenseRef-*` license's terms are unknown to the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hub.license import LicenseInfo, check_license

__all__ = ["RULES", "Finding", "check_derived"]

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
