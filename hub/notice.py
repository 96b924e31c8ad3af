"""What a NOTICE.md says of a derived version's parents: the publish's (`hub.card.notice`) and
`hub pull`'s (`hub.client`) alike. Plain strings only, so a cached pull imports nothing heavy."""

from __future__ import annotations

from typing import Any

__all__ = ["parent_lines"]


def parent_lines(parents: list[dict[str, Any]]) -> list[str]:
    """The "Parent datasets" section: for every parent its version, split, license, records,
    title, creators, homepage and citation, which the derived version's users must credit."""
    lines = ["## Parent datasets", "", "This dataset is made of records of these published versions; their terms apply to those records.", ""]
    for p in parents:
        lines += [f"### {p['dataset']}@{p['version']}{' (' + p['split'] + ' split)' if p.get('split') else ''}", "",
                  f"- License: `{p['license']}`", f"- Records: {p['rows']}"]
        if p.get("title"):
            lines.append(f"- Title: {p['title']}")
        names = [c.get("name", str(c)) if isinstance(c, dict) else str(c) for c in p.get("creators") or []]
        if names:
            lines.append(f"- Creators: {', '.join(names)}")
        if p.get("homepage"):
            lines.append(f"- Homepage: {p['homepage']}")
        if p.get("citation"):
            lines += ["", "```bibtex", p["citation"].strip(), "```"]
        lines.append("")
    return lines
