"""What a publish's split must keep, checked on the final assignment before anything is written.

- **Published records stay put** (`published_moves`): a record of the parent version in another
  split now is a move. The usual cause is new records that duplicate records of groups
  published in different splits: the duplicate ties those groups into one component, which
  must lie in one split. Publishing refuses moves (`SplitsWouldMove`) unless told to make them.
- **No split is empty or below its minimum** (`split_shortfalls`): every split with a positive
  ratio gets at least `split.min_rows` rows (default 1) and `split.min_groups` groups (default 1).
- **A changed policy says what it changes** (`policy_notices`): a new seed or new ratios on a
  published dataset place only new records; published records keep their splits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub.arrowutil import flat
from hub.entry import Entry, SplitPolicy
from hub.repo import dataset_dir
from hub.splits import Assignment, _components, _kind_of_key, _members
from hub.versions import published_versions, version_dir

__all__ = ["moves_hint", "moves_message", "policy_notices", "published_moves", "shortfall_message", "split_notices", "split_shortfalls"]

_BRIDGES = 20  # bridging clusters named in the moves (the message names the first 5)
_LOOKED_AT = 1000  # bridging clusters whose members are read (to merge those two kinds found)


def published_moves(table: pa.Table, assignment: Assignment, parent: pa.Table, policy: SplitPolicy) -> dict[str, Any]:
    """The published records (`parent`: the parent version's (id, split)) whose split changes.

    Returns `records` and `groups` moved, `pairs` (from, to, records, groups; by split names),
    `bridges`: the duplicate clusters that tie groups published in different splits (kind,
    member ids; those that hold a new record or join groups of two published splits), with
    `bridges_total`, and `dropped_splits`: published splits the policy no longer has (name: records).
    """
    names = assignment.names
    new_split = pa.DictionaryArray.from_arrays(pa.array(assignment.index), pa.array(names)).cast(pa.string())
    position = pc.fill_null(pc.index_in(table.column("id"), value_set=parent.column("id")), -1).to_numpy(zero_copy_only=False)
    found = position >= 0
    old_split = pa.array(np.full(table.num_rows, None, dtype=object), pa.string())
    if found.any():
        old_split = pc.take(parent.column("split"), pa.array(np.where(found, position, 0))).combine_chunks()
        old_split = pc.if_else(pa.array(found), old_split, pa.scalar(None, pa.string()))
    moved = np.asarray(pc.fill_null(pc.not_equal(old_split, new_split), False).to_numpy(zero_copy_only=False), dtype=bool)
    out: dict[str, Any] = {"records": int(moved.sum()), "groups": 0, "pairs": [], "bridges": [], "bridges_total": 0, "dropped_splits": {}}
    if not out["records"]:
        return out
    groups = table.column(policy.group_key).cast(pa.string())
    keep = pa.array(moved)
    rows = pa.table({"from": old_split.filter(keep), "to": new_split.filter(keep), "g": flat(groups).filter(keep)})
    out["groups"] = len(pc.unique(rows.column("g")))
    counted = rows.group_by(["from", "to"]).aggregate([("g", "count"), ("g", "count_distinct")]).to_pylist()
    out["pairs"] = [{"from": r["from"], "to": r["to"], "records": r["g_count"], "groups": r["g_count_distinct"]}
                    for r in sorted(counted, key=lambda r: (r["from"], r["to"]))]
    dropped = pc.value_counts(rows.column("from").filter(pc.invert(pc.is_in(rows.column("from"), value_set=pa.array(names))))).to_pylist()
    out["dropped_splits"] = {d["values"]: d["counts"] for d in dropped}
    out["bridges"], out["bridges_total"] = _bridges(table, assignment, groups, old_split, found, moved)
    return out


def _bridges(table: pa.Table, assignment: Assignment, groups: pa.ChunkedArray, old_split: pa.Array, found: np.ndarray, moved: np.ndarray) -> tuple[list[dict], int]:
    """The duplicate clusters in the components of moved records that hold a new record or tie
    groups published in different splits, first by their first row; and how many there are."""
    dups = assignment.duplicates
    if not len(dups.rows):
        return [], 0
    encoded = flat(pc.dictionary_encode(groups))
    codes = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False).astype(np.int64)
    n_groups = len(encoded.dictionary) + 1
    component = _components(codes, n_groups, dups)[codes]  # per row
    moved_components = np.zeros(int(component.max()) + 1, dtype=bool)
    moved_components[component[moved]] = True
    published = flat(pc.dictionary_encode(old_split))
    pub = pc.fill_null(published.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)  # the published split of every row, -1: new
    group_pub = np.full(n_groups, -1, dtype=np.int64)
    group_pub[codes[found]] = pub[found]
    edge_pub = group_pub[codes[dups.rows]]
    n_keys = int(dups.keys.max()) + 1
    lo, hi = np.full(n_keys, np.iinfo(np.int64).max), np.full(n_keys, -1)
    np.minimum.at(lo, dups.keys, np.where(edge_pub >= 0, edge_pub, np.iinfo(np.int64).max))
    np.maximum.at(hi, dups.keys, edge_pub)
    has_new = np.zeros(n_keys, dtype=bool)
    has_new[dups.keys[~found[dups.rows]]] = True
    in_moved = np.zeros(n_keys, dtype=bool)
    in_moved[dups.keys[moved_components[component[dups.rows]]]] = True
    bridging = in_moved & (has_new | ((hi >= 0) & (lo < hi)))
    keys = np.flatnonzero(bridging)
    if not len(keys):
        return [], 0
    first = np.full(n_keys, np.iinfo(np.int64).max)
    np.minimum.at(first, dups.keys, dups.rows)
    chosen = keys[np.argsort(first[keys], kind="stable")[:_LOOKED_AT]]
    kind_of = _kind_of_key(dups)
    ids = table.column("id").cast(pa.string())
    merged: dict[tuple[str, ...], list[str]] = {}  # the same records found by two kinds (exact and near) are one bridge
    for key, members in _members(dups, chosen, ids):
        merged.setdefault(tuple(members), []).append(kind_of(key))
    bridges = [{"kind": ", ".join(kinds), "ids": list(members)} for members, kinds in merged.items()]
    return bridges[:_BRIDGES], len(bridges) + max(0, len(keys) - _LOOKED_AT)


def _pairs(moves: dict[str, Any]) -> str:
    return ", ".join(f"{p['from']} → {p['to']} {p['records']}" for p in moves["pairs"])


def moves_message(dataset: str, moves: dict[str, Any], parent: str) -> str:
    """'acme/x: 108 published records in 9 groups would move: test → train 36, validation → train 72. ...'"""
    n, g = moves["records"], moves["groups"]
    text = (f"{dataset}: {n} published record{'s' if n != 1 else ''} (of {parent}) in {g} group{'s' if g != 1 else ''} "
            f"would move: {_pairs(moves)}")
    if moves["bridges"]:
        shown = "; ".join(f"{', '.join(b['ids'])} ({b['kind']})" for b in moves["bridges"][:5])
        more = moves["bridges_total"] - min(5, len(moves["bridges"]))
        total = moves["bridges_total"]
        text += (f". {total} duplicate cluster{'s' if total != 1 else ''} tie{'' if total != 1 else 's'} groups published in different splits: "
                 f"{shown}{f' and {more} more' if more > 0 else ''}")
    for name, count in moves["dropped_splits"].items():
        text += f". Split {name!r} ({count} published records) is no longer in split.ratios"
    if not moves["bridges"] and not moves["dropped_splits"]:
        text += ". No duplicate ties them: a group now holds records published in different splits (did split.group_key or a record's group change?)"
    return text


def moves_hint(parent: str) -> str:
    return (f"Nothing was published. Drop or fix the bridging records (the ids above; those not in {parent} are new), "
            "or publish with --allow-moves (`hub.publish(..., allow_moves=True)`) to move them: a MAJOR version "
            "whose card and page say that the splits changed and how.")


def split_shortfalls(certificate: dict[str, Any], assignment: Assignment, policy: SplitPolicy) -> list[str]:
    """Why a split with a positive ratio is empty or smaller than `split.min_rows`/`min_groups`
    (`certificate["splits"]` has the rows and groups per split); empty when none is."""
    splits = certificate["splits"]
    wanted = [name for name, ratio in policy.ratios.items() if ratio > 0]
    empty = [name for name in wanted if not splits.get(name, {}).get("rows")]
    problems = []
    if empty:
        n_groups = sum(s["groups"] for s in splits.values())
        units = assignment.components if assignment.components is not None else n_groups
        key = policy.group_key
        who = f"{n_groups} group{'s' if n_groups != 1 else ''} ({key})"
        if units < n_groups:
            who += f", tied into {units} by duplicates,"
        listed = " and ".join([", ".join(empty[:-1]), empty[-1]] if len(empty) > 1 else empty)
        would = f"{listed} would be empty"
        mode = getattr(policy, "mode", "hash")  # given and time splits: hub.split_modes
        if mode == "given":
            problems.append(f"{would}: no record's `{policy.column}` names {'it' if len(empty) == 1 else 'them'}")
        elif mode == "time":
            problems.append(f"{would}: {sum(s['rows'] for s in splits.values())} records in time order for {len(wanted)} splits")
        elif units < len(wanted):
            problems.append(f"{who} for {len(wanted)} splits: {would}")
        else:
            problems.append(f"{would}: every {key} is published in another split or tied to one there")
    for name in wanted:
        if name in empty:
            continue
        rows, groups = splits[name]["rows"], splits[name]["groups"]
        least = policy.min_rows.get(name, 1)
        if rows < least:
            problems.append(f"{name} would hold {rows} row{'s' if rows != 1 else ''}, fewer than split.min_rows ({least})")
        least = policy.min_groups.get(name, 1)
        if groups < least:
            problems.append(f"{name} would hold {groups} group{'s' if groups != 1 else ''} ({policy.group_key}), fewer than split.min_groups ({least})")
    return problems


def shortfall_message(dataset: str, problems: list[str]) -> str:
    return f"{dataset}: {'; '.join(problems)}"


def _ratios(ratios: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in ratios.items())


def policy_notices(published: dict[str, Any] | None, policy: SplitPolicy, parent: str | None) -> list[dict[str, str]]:
    """What a change of the split policy since the latest published version (`published`: its
    `lineage.params.split`) will and will not do, one notice each (slug, message)."""
    if not published or parent is None:
        return []
    now = policy.to_dict()
    notices = []

    def add(slug: str, message: str) -> None:
        notices.append({"slug": slug, "message": f"{message} (since {parent})"})

    keep = "published records keep their splits"
    if published.get("seed") != now["seed"]:
        add("seed-changed", f"seed changed {published.get('seed')} → {now['seed']}: {keep}; only new records use the new seed")
    old_ratios = published.get("ratios") or {}
    if old_ratios != now["ratios"]:
        text = f"ratios changed {_ratios(old_ratios)} → {_ratios(now['ratios'])}: {keep}; only new records are placed toward the new ratios"
        gone = [name for name in old_ratios if name not in now["ratios"]]
        if gone:
            text += f"; {', '.join(gone)} left split.ratios: {'its' if len(gone) == 1 else 'their'} published records would move (refused unless --allow-moves)"
        add("ratios-changed", text)
    if published.get("group_key") != now["group_key"]:
        add("group-key-changed", f"group_key changed {published.get('group_key')} → {now['group_key']}: {keep}; a new group holding records "
                                 "published in different splits would move them (refused unless --allow-moves)")
    if published.get("stratify_key") != now["stratify_key"]:
        add("stratify-key-changed", f"stratify_key changed {published.get('stratify_key')} → {now['stratify_key']}: {keep}; only new records are balanced by it")
    if (published.get("duplicates") or {}) != now["duplicates"]:
        add("duplicates-changed", f"duplicate thresholds changed {published.get('duplicates') or {}} → {now['duplicates']}: {keep}; records the new "
                                  "thresholds tie across splits would move (refused unless --allow-moves)")
    known = {"seed", "ratios", "group_key", "stratify_key", "duplicates", "min_rows", "min_groups"}
    for key in sorted(set(now) - known):
        if published.get(key) != now[key] and not (key not in published and now[key] in (None, {}, [], "hash")):
            add(f"{key.replace('_', '-')}-changed", f"split.{key} changed {published.get(key)} → {now[key]}: {keep} unless a move is allowed (--allow-moves)")
    return notices


def split_notices(root: Path, entry: Entry) -> list[dict[str, str]]:
    """`policy_notices` of `entry`'s split policy against its latest published version's, if any."""
    if entry.split is None:
        return []
    versions_root = dataset_dir(root, entry.id) / "versions"
    existing = published_versions(versions_root)
    if not existing:
        return []
    try:
        manifest = json.loads((version_dir(versions_root, existing[-1]) / "manifest.json").read_text(encoding="utf-8"))
        published = manifest["lineage"]["params"]["split"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return policy_notices(published, entry.split, existing[-1])
