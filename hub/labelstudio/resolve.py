"""Turning a task's annotations into one label, by a stated rule.

- `majority`: the value more than half of the task's annotations agree on (for text, boxes and
  spans "agree" means a pairwise score of 1: the same words, every box or span matched). A
  single annotation is its own majority. Anything else is a conflict.
- `reviewer`: the annotation of the named reviewer(s) if there is one, else the majority.
- `latest`: the most recently updated annotation.

Conflicts are returned, never published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.labelstudio.agreement import pair_score

__all__ = ["RULES", "Vote", "resolve"]

RULES = ("majority", "reviewer", "latest")


@dataclass(frozen=True)
class Vote:
    """One usable annotation of a task: who (pseudonym), when, its id and its value."""

    annotation: int
    annotator: str
    updated: str
    value: Any
    reviewer: bool = False


def _majority(kind: str, votes: list[Vote]) -> Vote | None:
    for candidate in votes:
        agreeing = sum(1 for other in votes if pair_score(kind, candidate.value, other.value) >= 1.0)
        if agreeing * 2 > len(votes):
            return candidate
    return None


def resolve(kind: str, votes: list[Vote], rule: str) -> tuple[Vote | None, str]:
    """(the winning vote or None for a conflict, how it was decided)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    if rule == "latest":
        return max(votes, key=lambda v: (v.updated, v.annotation)), "latest"
    if rule == "reviewer":
        reviewed = [v for v in votes if v.reviewer]
        if reviewed:
            return max(reviewed, key=lambda v: (v.updated, v.annotation)), "reviewer"
    winner = _majority(kind, votes)
    return winner, ("majority" if len(votes) > 1 else "single annotation") if winner else "conflict"
