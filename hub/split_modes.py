"""Split modes besides the hash split (`hub.splits`): given splits and time splits.

`split.mode` in dataset.yaml picks how records are assigned to splits:

- `hash` (the default): group-disjoint, duplicate-aware, balanced (`hub.splits.assign_leakproof`).
- `given`: the corpus' own splits, from a column (`split.column`, default `split`) whose values
  are split names (the keys of `split.ratios`; the ratios are not used to assign). The column may
  be a record field or a column of the source table the record schema does not name: it is then
  kept as an extra string field of the records (published with them). The certificate checks them:
  groups and duplicate clusters that cross the given splits are named (`leaks`), and publishing
  refuses them unless `allow_leaks`.
- `time`: ordered by `split.time_key` (a number of seconds, or an ISO 8601 date-time string),
  the earliest records go to the first split, then the next, by the ratios of rows. A split
  begins at its first record's time (a *boundary*); every record of the split before must
  *end* (its start plus its length: `RecordType.time_extent`) at least `split.gap` seconds
  before the boundary. Records that do not are left out of every split as rejected rows
  (slug `time-gap`, in the quarantine file and the report: publishing them needs
  `--allow-rejects`), so no window crosses a boundary and none comes within `gap` of one.
  Published records keep their split; the boundaries of a published dataset stay where they
  are (each is its split's earliest published record), so later records go to the last split
  (`split.growth: append`, the default). With `growth: new-window` the published test window is
  closed: published records still never move, and the new records that start at or after the
  latest end of any published record plus `gap` go to the last split as a new window, which the
  certificate states (`time.new_window`: where it begins, the published end before it, the gap);
  new records that would join the last split earlier than that (inside the published test
  window or its gap) are rejected rows (`time-gap`). New records before the published last
  boundary go by the published boundaries, as with `append`.
  Records are their own groups: the certificate checks the boundaries and duplicates, not
  `group_key`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import UTC
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub import records
from hub.schema import RECORD_SCHEMAS, RecordSchema, load_json_schema

if TYPE_CHECKING:
    from hub.dedup import DuplicateKeys
    from hub.entry import Entry, SplitPolicy
    from hub.report import Report
    from hub.splits import Assignment

__all__ = ["MODES", "TimePlan", "assign", "card_lines", "certified_key", "extend_certificate", "leak_error", "leaks",
           "parse_policy", "plan_time", "time_values", "with_split_column"]

MODES = ("hash", "given", "time")
_SHOWN = 10  # groups and clusters named per kind, members named per group or cluster


# -- the entry: mode fields and the given column ------------------------------------------


@dataclass(frozen=True)
class _WithSplitColumn(RecordSchema):
    """A record schema plus the given-split column, a required string that names a split."""

    column: str = "split"
    names: tuple[str, ...] = ()

    @cached_property
    def json(self) -> dict[str, Any]:
        base = load_json_schema(RECORD_SCHEMAS[self.record])
        prop = {"type": "string", "enum": list(self.names), "description": "The corpus' own split of the record (split.mode: given)."}
        return {**base, "properties": {**base["properties"], self.column: prop}, "required": [*base.get("required", []), self.column]}


def with_split_column(schema: RecordSchema, column: str, names: list[str]) -> RecordSchema:
    """`schema` with `column` as a required string field holding one of `names` (a given split
    column the record schema does not have)."""
    kept = {f.name: getattr(schema, f.name) for f in fields(schema) if f.init}  # the schema's own fields (labels, extras, ...)
    return _WithSplitColumn(**{**kept, "column": column, "names": tuple(names)})


def parse_policy(entry: Entry, raw: dict[str, Any], rel: str, ratios: dict[str, Any]) -> dict[str, Any] | None:
    """The mode fields of a split policy (`mode`, `column`, `time_key`, `gap`), or None after
    reporting why they do not fit. A given column the schema lacks is added to `entry.schema`."""
    mode = raw.get("mode") or "hash"
    report, schema = entry.report, entry.schema
    assert schema is not None  # set by the caller
    if mode not in MODES:
        return None  # the entry schema reports the value
    out: dict[str, Any] = {"mode": mode}
    if mode == "given":
        column = raw.get("column") or "split"
        if column in schema.properties and column != "id":
            prop = schema.properties[column]
            kinds = prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")]
            if "string" not in kinds or prop.get("x-feature"):
                report.add("bad-split-policy", f"split.column {column!r} is a {schema.record} field that holds no split names (it is not a string)", file=rel, field="split.column")
                return None
        elif column == "id":
            report.add("bad-split-policy", "split.column cannot be 'id'", file=rel, field="split.column")
            return None
        else:
            entry.schema = with_split_column(schema, column, [str(k) for k in ratios])
        out["column"] = column
    if mode == "time":
        key = raw.get("time_key") or "start"
        prop = schema.properties.get(key)
        kinds = (prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")]) if prop else []
        if prop is None or not set(kinds) & {"number", "integer", "string"} or prop.get("x-feature") == "ClassLabel":
            numbers = [n for n, p in schema.properties.items() if set(p.get("type") if isinstance(p.get("type"), list) else [p.get("type")]) & {"number", "integer"}]
            report.add("bad-split-policy", f"split.time_key {key!r} is not a time field of {schema.record} records: name a field of seconds or of ISO 8601 "
                       f"date-times ({', '.join(numbers)})", file=rel, field="split.time_key")
            return None
        gap = raw.get("gap", 0)
        if isinstance(gap, bool) or not isinstance(gap, (int, float)) or gap < 0 or not math.isfinite(gap):
            return None  # the entry schema reports the value
        growth = raw.get("growth", "append")
        if growth not in ("append", "new-window"):
            return None  # the entry schema reports the value
        out["time_key"], out["gap"] = key, float(gap)
        if growth != "append":
            out["growth"] = growth
    return out


def certified_key(policy: SplitPolicy) -> str:
    """The column whose values must not cross splits: the group key, or `id` in a time split
    (there, records of one group follow each other in time, across the boundaries)."""
    return "id" if policy.mode == "time" else policy.group_key


# -- time ----------------------------------------------------------------------------------


def time_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Seconds (float64) of every value: numbers as they are, timestamps and ISO 8601 date-time
    strings (a zone-less one is UTC) since the Unix epoch; NaN for a null or unreadable value."""
    column = pa.chunked_array([column]) if isinstance(column, pa.Array) else column
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.fill_null(column.cast(pa.float64()), math.nan).to_numpy()
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        ns = column.cast(pa.timestamp("ns", tz="UTC") if pa.types.is_timestamp(kind) else pa.timestamp("ns")).cast(pa.int64())
        return pc.fill_null(ns.cast(pa.float64()), math.nan).to_numpy() / 1e9
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        from datetime import datetime

        encoded = pc.dictionary_encode(column).combine_chunks()
        seconds = []
        for text in encoded.dictionary.to_pylist():
            try:
                moment = datetime.fromisoformat(text.strip())
            except ValueError:
                seconds.append(math.nan)
                continue
            seconds.append((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
        codes = pc.fill_null(encoded.indices, len(seconds)).to_numpy(zero_copy_only=False)
        return np.append(np.asarray(seconds, dtype=np.float64), math.nan)[codes]
    return np.full(len(column), math.nan)


@dataclass(frozen=True)
class TimePlan:
    """Where each split but the first begins (seconds; NaN: the split has no record)."""

    boundaries: tuple[float, ...]
    window: dict | None = None  # growth new-window: {"at", "latest_published_end", "gap"} of the new test window


def _pinned_boundaries(t: np.ndarray, pinned: np.ndarray | None, n_splits: int) -> list[float] | None:
    """The boundaries of a published time split: each split's earliest published record."""
    if pinned is None or not (pinned >= 0).any():
        return None
    out = []
    for k in range(1, n_splits):
        inside = (pinned == k) & ~np.isnan(t)
        out.append(float(t[inside].min()) if inside.any() else math.nan)
    return out


def _ratio_boundaries(t: np.ndarray, ratios: list[float]) -> list[float]:
    """Boundaries that give each split its ratio of the rows, in time order (ties stay together:
    a split begins at a time, and every record of that time is in it)."""
    ordered = np.sort(t[~np.isnan(t)])
    n, total, out = len(ordered), 0.0, []
    for ratio in ratios[:-1]:
        total += ratio
        cut = min(n, round(total * n))
        out.append(float(ordered[cut]) if cut < n else math.nan)
    return out


def _split_by_time(t: np.ndarray, boundaries: list[float]) -> np.ndarray:
    """The split of every time: how many boundaries are at or before it (NaN boundaries: never)."""
    index = np.zeros(len(t), dtype=np.int8)
    for b in boundaries:
        if not math.isnan(b):
            index += (t >= b).astype(np.int8)
    return index


def _ends(record: str | None, table: pa.Table, t: np.ndarray) -> np.ndarray:
    return t if record is None else records.get(record).time_extent(table, t)


def plan_time(table: pa.Table, entry: Entry, report: Report, rejected: dict[int, list[dict[str, Any]]], pinned: np.ndarray | None) -> TimePlan:
    """The boundaries of `entry`'s time split over the rows the checks kept, found after them.

    Rows without a readable time, and new rows that end within `gap` of the boundary after
    them, become rejected rows of `report` (`rejected`: table row -> problems, as the checks
    fill it). `table` carries the read stage's position columns; `pinned`: the published split
    of every row (-1 for new ones), or None.
    """
    from hub.sources import FILE, ROW

    policy = entry.split
    names = list(policy.ratios)
    key = policy.time_key
    t = time_values(table.column(key))
    alive = np.ones(table.num_rows, dtype=bool)
    if rejected:
        alive[np.fromiter(rejected.keys(), dtype=np.int64)] = False
    files, rownos, ids = table.column(FILE), table.column(ROW), table.column("id")

    def flag(rows: np.ndarray, slug: str, message: Any) -> None:
        for r in rows.tolist():
            text = message(r) if callable(message) else message
            report.add(slug, text, file=files[r].as_py(), row=rownos[r].as_py(), field=key, record_id=ids[r].as_py())
            rejected.setdefault(r, []).append({"slug": slug, "message": text, "field": key})

    raw = table.column(key)
    missing = alive & np.asarray(pc.is_null(raw).to_numpy(zero_copy_only=False), dtype=bool)
    flag(np.flatnonzero(missing), "missing-field", f"the time key {key!r} (split.time_key) is missing")
    unreadable = alive & ~missing & np.isnan(t)
    flag(np.flatnonzero(unreadable), "type-error", lambda r: f"{key} {raw[r].as_py()!r} is not a time: give seconds or an ISO 8601 date-time (2024-05-01T12:00:00Z)")
    alive &= ~np.isnan(t)
    boundaries = _pinned_boundaries(t, pinned, len(names))
    if boundaries is None:
        boundaries = _ratio_boundaries(np.where(alive, t, math.nan), list(policy.ratios.values()))
    index = _split_by_time(t, boundaries)
    if pinned is not None:
        index = np.where(pinned >= 0, pinned, index).astype(np.int8)
    ends = _ends(entry.schema.record, table, t)
    new = alive if pinned is None else alive & (pinned < 0)
    for k in range(len(names) - 1):
        b = boundaries[k]
        if math.isnan(b):
            continue
        late = new & (index == k) & (ends > b - policy.gap)
        flag(np.flatnonzero(late), "time-gap", lambda r, k=k, b=b: (
            f"the record runs from {t[r]:g} to {ends[r]:g} s, within the gap of {policy.gap:g} s before {names[k + 1]} begins at {b:g} s "
            f"(split.gap): it is left out of every split so that no window crosses the boundary"))
    window = None
    if policy.growth == "new-window" and pinned is not None and (pinned >= 0).any():
        published = alive & (pinned >= 0)
        end = float(np.nanmax(ends[published])) if published.any() else math.nan
        opens = end + policy.gap
        last = len(names) - 1
        early = new & (index == last) & (t < opens)
        flag(np.flatnonzero(early), "time-gap", lambda r: (
            f"the record starts at {t[r]:g} s, before the new {names[last]} window opens at {opens:g} s (the published records end at {end:g} s, "
            f"plus the gap of {policy.gap:g} s; split.growth: new-window): published {names[last]} records stay as published, so it is left out"))
        later = new & (index == last) & (t >= opens)
        if later.any():
            first = float(t[later].min())
            window = {"at": first, "latest_published_end": end, "gap": round(first - end, 6)}
    return TimePlan(tuple(boundaries), window)


def _time_section(table: pa.Table, index: np.ndarray, names: list[str], policy: SplitPolicy, record: str | None) -> dict[str, Any]:
    """The certificate's time facts, from the rows and their splits alone: per boundary, where it
    is, the latest end before it and the earliest start after it; the windows that cross one."""
    t = time_values(table.column(policy.time_key))
    ends = _ends(record, table, t)
    out, crossing = [], 0
    for k in range(len(names) - 1):
        before, after = index <= k, index > k
        first_after = float(np.nanmin(t[after])) if after.any() else None
        last_end = float(np.nanmax(ends[before])) if before.any() else None
        bad = 0
        if first_after is not None and before.any():
            bad = int((ends[before] > first_after - policy.gap).sum())
        crossing += bad
        out.append({"between": [names[k], names[k + 1]], "at": first_after, "latest_end_before": last_end,
                    "gap": None if first_after is None or last_end is None else round(first_after - last_end, 6), "windows_crossing": bad})
    return {"key": policy.time_key, "gap": policy.gap, "boundaries": out, "windows_crossing": crossing}


# -- assignment ----------------------------------------------------------------------------


def assign(table: pa.Table, entry: Entry, pinned: np.ndarray | None = None, plan: TimePlan | None = None) -> Assignment:
    """The split of every row of `table` (valid rows) by `entry`'s given or time split.

    `pinned`: the published split of every row, -1 for new rows (published rows keep theirs in a
    time split; in a given split the column decides, and a changed value counts as moved).
    `plan`: the boundaries `plan_time` found (else found again from these rows).
    """
    from hub.dedup import find_duplicates
    from hub.splits import Assignment

    policy = entry.split
    names = list(policy.ratios)
    thresholds = policy.thresholds()
    if policy.mode == "given":
        index = pc.fill_null(pc.index_in(table.column(policy.column), value_set=pa.array(names, pa.string())), 0)
        index = index.to_numpy(zero_copy_only=False).astype(np.int8)
    else:
        t = time_values(table.column(policy.time_key))
        boundaries = list(plan.boundaries) if plan is not None else (_pinned_boundaries(t, pinned, len(names))
                                                                    or _ratio_boundaries(t, list(policy.ratios.values())))
        index = _split_by_time(t, boundaries)
        if pinned is not None:
            index = np.where(pinned >= 0, pinned, index).astype(np.int8)
    moved = int(((pinned >= 0) & (index != pinned)).sum()) if pinned is not None else 0
    duplicates = find_duplicates(table, entry.schema.record, thresholds)
    window = plan.window if plan is not None and policy.mode == "time" else None
    return Assignment(index, names, moved, 0, duplicates, thresholds, window=window)


# -- leaks ---------------------------------------------------------------------------------


def _kind_of(keys: np.ndarray, kinds: dict[str, int]) -> list[str]:
    """The kind of each duplicate key: the engines number keys kind after kind (`hub.dedup._Keys`)."""
    names = list(kinds)
    upper = np.cumsum([kinds[k] for k in names])
    return [names[min(int(i), len(names) - 1)] for i in np.searchsorted(upper, keys, side="right")] if names else ["duplicate"] * len(keys)


def leaks(ids: pa.ChunkedArray | pa.Array, groups: pa.ChunkedArray | pa.Array | None, index: np.ndarray, names: list[str],
          duplicates: DuplicateKeys | None, group_key: str | None) -> dict[str, Any]:
    """What crosses the splits: every group and duplicate cluster found in more than one split
    (counted; the first `_SHOWN` of each named with their splits and first member ids), and per
    split the rows that share a group or a cluster with another split."""
    n_splits, n_rows = len(names), len(index)
    index = index.astype(np.int64)
    leaking = np.zeros(n_rows, dtype=bool)
    id_list = ids.to_pylist() if hasattr(ids, "to_pylist") else list(ids)

    def members(rows: np.ndarray) -> list[str]:
        return [str(id_list[r]) for r in rows[:_SHOWN].tolist()]

    group_out: list[dict[str, Any]] = []
    n_groups = 0
    if groups is not None and n_rows:
        encoded = pc.dictionary_encode(groups.cast(pa.string())).combine_chunks() if isinstance(groups, pa.ChunkedArray) else pc.dictionary_encode(groups.cast(pa.string()))
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        keyed = codes >= 0
        n_keys = len(encoded.dictionary)
        counts = np.bincount(codes[keyed] * n_splits + index[keyed], minlength=n_keys * n_splits).reshape(n_keys, n_splits)
        crossing = np.flatnonzero((counts > 0).sum(axis=1) > 1)
        n_groups = len(crossing)
        if n_groups:
            leaking |= keyed & np.isin(codes, crossing)
            order = crossing[np.lexsort((crossing, -counts[crossing].sum(axis=1)))][:_SHOWN]
            values = encoded.dictionary.to_pylist()
            for g in order.tolist():
                rows = np.flatnonzero(codes == g)
                group_out.append({"group": values[g], "rows": {names[s]: int(counts[g, s]) for s in range(n_splits) if counts[g, s]}, "ids": members(rows)})
    cluster_out: list[dict[str, Any]] = []
    n_clusters = 0
    if duplicates is not None and len(duplicates.rows):
        keys, rows = duplicates.keys.astype(np.int64), duplicates.rows.astype(np.int64)
        n_keys = int(keys.max()) + 1
        counts = np.bincount(keys * n_splits + index[rows], minlength=n_keys * n_splits).reshape(n_keys, n_splits)
        crossing = np.flatnonzero((counts > 0).sum(axis=1) > 1)
        n_clusters = len(crossing)
        if n_clusters:
            leaking[rows[np.isin(keys, crossing)]] = True
            kinds = _kind_of(crossing, duplicates.kinds)
            for c, kind in list(zip(crossing.tolist(), kinds))[:_SHOWN]:
                held = np.unique(rows[keys == c])
                cluster_out.append({"kind": kind, "rows": {names[s]: int(counts[c, s]) for s in range(n_splits) if counts[c, s]}, "ids": members(held)})
    per_split = {}
    for s, name in enumerate(names):
        total = int((index == s).sum())
        bad = int((leaking & (index == s)).sum())
        per_split[name] = {"rows": total, "rows_leaking": bad, "share": round(bad / total, 4) if total else 0.0}
    return {"group_key": group_key, "groups_crossing": n_groups, "groups": group_out,
            "duplicate_clusters_crossing": n_clusters, "duplicate_clusters": cluster_out, "splits": per_split}


def extend_certificate(certificate: dict[str, Any], table: pa.Table, assignment: Assignment, policy: SplitPolicy,
                       record: str | None = None) -> dict[str, Any]:
    """Add what the split mode certifies to `certificate` (from `hub.splits.certify`), in place:
    the mode; for a time split its boundaries (`holds` also needs no window across one);
    and when it does not hold, what crosses (`leaks`)."""
    if policy.mode != "hash":
        certificate["mode"] = policy.mode
    if policy.mode == "given":
        certificate["column"] = policy.column
    if policy.mode == "time":
        section = _time_section(table, assignment.index, assignment.names, policy, record)
        if policy.growth != "append":
            section["growth"] = policy.growth
            section["new_window"] = assignment.window
        certificate["time"] = section
        certificate["holds"] = bool(certificate["holds"] and section["windows_crossing"] == 0)
    if not certificate["holds"]:
        key = certified_key(policy)
        ids = table.column("id") if "id" in table.column_names else pa.array([str(i) for i in range(table.num_rows)])
        groups = table.column(key) if key in table.column_names else None
        certificate["leaks"] = leaks(ids, groups, assignment.index, assignment.names, assignment.duplicates, key)
    return certificate


def _named(crossing: dict[str, Any]) -> str:
    parts = []
    for g in crossing["groups"][:3]:
        parts.append(f"{crossing['group_key']} {g['group']!r} in {', '.join(f'{s} ({n})' for s, n in g['rows'].items())}")
    for c in crossing["duplicate_clusters"][:3]:
        parts.append(f"{c['kind']} {', '.join(c['ids'][:4])} in {', '.join(c['rows'])}")
    return "; ".join(parts)


def leak_error(dataset: str, certificate: dict[str, Any]):
    """The `LeakageError` of a given or time split that does not hold: what crosses, by id, and the way out."""
    from hub.errors import LeakageError

    crossing = certificate.get("leaks") or {"groups_crossing": 0, "duplicate_clusters_crossing": 0, "groups": [], "duplicate_clusters": [], "group_key": None}
    g, c = crossing["groups_crossing"], crossing["duplicate_clusters_crossing"]
    what = f"{g} group{'s' if g != 1 else ''} ({crossing['group_key']}) and {c} duplicate cluster{'s' if c != 1 else ''} cross the {certificate.get('mode', 'hash')} splits"
    windows = (certificate.get("time") or {}).get("windows_crossing", 0)
    if windows:
        what += f", {windows} windows cross a time boundary"
    named = _named(crossing)
    return LeakageError(
        f"{dataset}: the splits leak: {what}" + (f": {named}" if named else ""),
        hint="Move each group's records into one split and drop one copy of each duplicate (the certificate's `leaks` lists them), "
             "or publish anyway with --allow-leaks (publish(allow_leaks=True)): the card then says how much leaks.",
        dataset=dataset, certificate=certificate,
    )


def balance_lines(certificate: dict[str, Any] | None) -> list[str]:
    """How close the splits came to their ratios (`hub.balance`), beside what hashing the groups
    alone would have given: the largest gap of a split's rows, and of a class's share in a split."""
    balance, strata = (certificate or {}).get("balance"), (certificate or {}).get("stratification") or {}
    if not balance:
        return []
    line = f"- Balance, {balance['method']}: the largest gap of a split's share of rows to its ratio is {balance['largest_row_deviation']:.2%}"
    if balance.get("largest_row_deviation_hashed") is not None:
        line += f" (hashing the groups alone: {balance['largest_row_deviation_hashed']:.2%})"
    if strata.get("largest_deviation") is not None:
        line += f"; of a `{strata['key']}` class's share in a split to its share overall, {strata['largest_deviation']:.2%}"
        if strata.get("largest_deviation_hashed") is not None:
            line += f" (hashing alone: {strata['largest_deviation_hashed']:.2%})"
    return [line + "."]


def card_lines(policy: SplitPolicy, certificate: dict[str, Any] | None) -> list[str]:
    """The card's sentences on how the splits were made, and on what leaks when publishing was told to allow it."""
    p = policy
    if p.mode == "given":
        lines = [f"Splits are the corpus' own, from the column `{p.column}`; the certificate checks that no `{p.group_key}` and no duplicate crosses them."]
    elif p.mode == "time":
        lines = [(f"Splits follow time (`{p.time_key}`): {', '.join(p.ratios)} in that order, ratios {p.ratios}; every window ends at least "
                  f"{p.gap:g} s before the next split begins.")]
        for b in ((certificate or {}).get("time") or {}).get("boundaries", []):
            if b["at"] is not None:
                lines.append(f"- {b['between'][1]} begins at {b['at']:g} s; the latest {b['between'][0]} window ends at {b['latest_end_before']:g} s.")
        window = ((certificate or {}).get("time") or {}).get("new_window")
        if window:
            lines.append(f"- A new {list(p.ratios)[-1]} window begins at {window['at']:g} s, {window['gap']:g} s after the latest published record ends "
                         f"({window['latest_published_end']:g} s); the published {list(p.ratios)[-1]} records stay as they were.")
    else:
        lines = [f"Splits are group-disjoint: every `{p.group_key}` lies in one split (seed {p.seed}, ratios {p.ratios})."]
        lines += balance_lines(certificate)
    crossing = (certificate or {}).get("leaks")
    if certificate and not certificate.get("holds", True) and crossing:
        g, c = crossing["groups_crossing"], crossing["duplicate_clusters_crossing"]
        lines += ["", (f"**These splits leak** (published with --allow-leaks): {g} group{'s' if g != 1 else ''} (`{crossing['group_key']}`) and "
                       f"{c} duplicate cluster{'s' if c != 1 else ''} lie in more than one split.")]
        lines += [f"- {name}: {s['rows_leaking']} of {s['rows']} rows ({s['share']:.1%}) share a group or a duplicate with another split"
                  for name, s in crossing["splits"].items()]
        named = _named(crossing)
        if named:
            lines.append(f"- For example: {named}. All of them: `leakage.json` (`leaks`).")
    return lines
