"""Balance whole components over the splits with a mixed-integer program, when they are few.

The split engine's greedy pass (`hub.splits`, rule 2) puts every split within one component
of its share of every stratum. With many small components that is close to perfect; with a
few large ones (12 inspection modules, 8 speakers) one component is a large part of a split,
and cutting each stratum's hash order apart can miss the targets by a lot, or even do worse
on class shares than the groups' hashes alone (issue #12).

`optimize` then places the free components by a mixed-integer program (`scipy.optimize.milp`,
HiGHS). Components of one kind (the same number of rows of every stratum) are interchangeable,
so it has one integer per (kind, split): how many of the kind go there. It minimizes

    the largest gap of a split's rows to its target            max_s |R_s - r_s N| / r_s
  + the largest gap of a class count to the split's share       max_sk |K_sk - p_k R_s| / r_s
  + a tenth of the mean of those gaps (every split counts, not only the worst)
  + 0.01 / F per component not where the greedy pass put it (equal optima keep that placement,
    which follows the seed's hashes: a split that was already optimal stays as it is)

where R_s are the split's rows, K_sk its rows of stratum k (pinned ones included), r_s the
split's ratio, p_k the stratum's share of all rows and F the number of free components. Gaps
are divided by the split's ratio, so a row missing from a 10% split weighs as ten rows of the
whole: small splits are not sacrificed to the large one.

Hard constraints keep what the greedy pass achieved, measured exactly as the certificate does:
the largest row-share gap and the largest class-share gap are no larger than the greedy
result's, and a split the greedy pass filled is not emptied. When hashing alone gave a smaller
class gap than the greedy pass (the issue's case: stratifying made it worse), the program is
first solved with the class gap held to hashing's (the row gap still to the greedy result's):
hashing's own row gaps are often far larger (8 speakers hashed 4/2/2 for 80/10/10, or a split
left empty, which makes its class gap look small), so rows are not given up for it. So neither
figure ends worse than the greedy pass's, the class figure not worse than hashing's whenever
that is possible without a worse row figure, and if the solver finds nothing within the
bounds, the greedy placement stays.

Limits, measured on the shared 2-core machine (bench/README.md, "balance with few large
groups"): at most `MAX_KINDS` kinds of free component (and `MAX_FREE` free components) go to
the solver, else the greedy pass is kept; the solver stops when its placement is within
`MIP_GAP` of its bound ("optimal") or after `NODE_LIMIT` branch-and-bound nodes ("best found"),
both deterministic; after `TIME_LIMIT` seconds it is abandoned and the greedy placement is kept
(so a machine far slower could fall back where this one does not: `Balanced.method` says
which happened, and the certificate shows it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["MAX_FREE", "MAX_KINDS", "MIP_GAP", "NODE_LIMIT", "TIME_LIMIT", "Balanced", "deviations", "optimize"]

MAX_KINDS = 32  # kinds of free component above which the greedy pass is kept
MAX_FREE = 20_000  # free components above which their kinds are not even counted
NODE_LIMIT = 100  # branch-and-bound nodes after which the best placement found is taken
MIP_GAP = 0.2  # a placement within 20% of the solver's bound is taken as good enough
TIME_LIMIT = 20.0  # seconds (all attempts together) after which the solver is abandoned and the greedy placement kept
_MAX_CELLS = 1 << 24  # (free component, stratum) counters: at most 128 MB
_SLACK = 1e-9  # the greedy result's own figures, as computed, satisfy its bounds


@dataclass
class Balanced:
    """The split of every component, and how it was reached."""

    split: np.ndarray  # int8 split per component
    method: str  # "optimal (...)", "best found in N nodes (...)", or "greedy: " and why the optimizer's placement was not taken


def deviations(rows: np.ndarray, counts: np.ndarray, ratios: np.ndarray) -> tuple[float, float]:
    """The largest row-share gap to the ratios and the largest class-share gap of a non-empty
    split to the whole (the certificate's `largest_deviation`), of per-split `rows` and
    per-(split, stratum) `counts`."""
    total = rows.sum()
    if not total:
        return 0.0, 0.0
    row_gap = float(np.abs(rows / total - ratios).max())
    overall = counts.sum(axis=0)
    present = overall > 0
    filled = rows > 0
    shares = counts[filled][:, present] / rows[filled, None]
    class_gap = float(np.abs(shares - overall[present] / total).max()) if filled.any() else 0.0
    return row_gap, class_gap


def optimize(split: np.ndarray, movable: np.ndarray, unit: np.ndarray, stratum: np.ndarray, n_strata: int,
             hashed: np.ndarray, order_key: np.ndarray, ratios: np.ndarray) -> Balanced:
    """Place the `movable` components better than the greedy `split` does, if the optimizer can.

    `split`: the greedy pass's split per component (int8); `movable`: the components it placed
    (the others are pinned); `unit`, `stratum`: every row's component and stratum; `hashed`:
    every component's split by the hashes alone (pins kept); `order_key`: every component's
    hash, which orders components of one kind. Returns the split per component.
    """
    free = np.flatnonzero(movable)
    if not len(free):
        return Balanced(split, "no free component")
    if len(free) > MAX_FREE:
        return Balanced(split, f"greedy: {len(free)} free components, more than {MAX_FREE}")
    n_splits = len(ratios)
    local = np.full(len(split), -1, dtype=np.int64)
    local[free] = np.arange(len(free))
    row_local = local[unit]
    is_free = row_local >= 0
    sizes = np.bincount(row_local[is_free], minlength=len(free))
    if len(np.unique(sizes)) > MAX_KINDS:  # components of other sizes are of other kinds: no need to count them by stratum
        return Balanced(split, f"greedy: more than {MAX_KINDS} kinds of free component")
    present, column = np.unique(stratum[is_free], return_inverse=True)  # the strata of free rows
    if len(free) * len(present) > _MAX_CELLS:
        return Balanced(split, f"greedy: {len(free)} free components of {len(present)} strata")
    compact = np.bincount(row_local[is_free] * len(present) + column.reshape(-1), minlength=len(free) * len(present)).reshape(len(free), len(present))
    pinned_split = split[unit[~is_free]].astype(np.int64)
    pinned_counts = np.bincount(pinned_split * n_strata + stratum[~is_free], minlength=n_splits * n_strata).reshape(n_splits, n_strata)
    pinned_units = np.bincount(split[~movable].astype(np.int64), minlength=n_splits)
    # components of one kind (the same rows of every stratum) are interchangeable: one integer per (kind, split)
    compact_kinds, kind = np.unique(compact, axis=0, return_inverse=True)
    kind = kind.reshape(-1)
    if len(compact_kinds) > MAX_KINDS:
        return Balanced(split, f"greedy: {len(compact_kinds)} kinds of free component, more than {MAX_KINDS}")
    kinds = np.zeros((len(compact_kinds), n_strata), dtype=np.int64)
    kinds[:, present] = compact_kinds

    def per_kind(placement: np.ndarray) -> np.ndarray:
        return np.bincount(kind * n_splits + placement, minlength=len(kinds) * n_splits).reshape(len(kinds), n_splits)

    def figures(placed: np.ndarray) -> tuple[float, float]:
        counts = pinned_counts + placed.T @ kinds
        return deviations(counts.sum(axis=1), counts, ratios)

    greedy = per_kind(split[free].astype(np.int64))
    greedy_rows, greedy_classes = figures(greedy)
    hashed_classes = figures(per_kind(hashed[free].astype(np.int64)))[1]
    filled = np.flatnonzero((ratios > 0) & (pinned_units == 0) & (greedy.sum(axis=0) > 0))
    problem = _Problem(kinds, pinned_counts, ratios, greedy, filled)
    attempts = [(greedy_rows, greedy_classes)]  # the greedy placement is within these
    if hashed_classes < greedy_classes:  # the greedy pass did worse on classes than the hashes: hold the classes to those
        attempts.insert(0, (greedy_rows, hashed_classes))  # not at the cost of the rows: hashing's row gaps are often far larger
    deadline = time.monotonic() + TIME_LIMIT
    for row_bound, class_bound in attempts:
        placed, method = problem.solve(row_bound, class_bound, deadline - time.monotonic())
        if placed is None:
            if method.startswith("solver stopped"):
                break
            continue
        rows, classes = figures(placed)
        if rows > row_bound + _SLACK or classes > class_bound + _SLACK:  # outside the bounds by the solver's tolerance
            method = "the solver's placement is outside the bounds"
            continue
        out = split.copy()
        out[free] = _components_of(placed, kind, split[free].astype(np.int64), order_key[free])
        return Balanced(out, method)
    return Balanced(split, f"greedy: {method}")


def _components_of(placed: np.ndarray, kind: np.ndarray, greedy: np.ndarray, order_key: np.ndarray) -> np.ndarray:
    """The split of every component from `placed`, the count of each kind in each split: in every
    kind, the components stay where the greedy pass put them while their split wants that many,
    and the others, in hash order, fill the splits that want more."""
    out = greedy.copy()
    for k in np.unique(kind):
        members = np.flatnonzero(kind == k)
        members = members[np.argsort(order_key[members], kind="stable")]
        moving = []
        for s in range(placed.shape[1]):
            there = members[greedy[members] == s]
            moving.extend(there[placed[k, s]:].tolist())
        moving = iter(sorted(moving, key=lambda c: order_key[c]))
        for s in range(placed.shape[1]):
            wanted = placed[k, s] - int((greedy[members] == s).sum())
            for _ in range(max(0, wanted)):
                out[next(moving)] = s
    return out


class _Problem:
    """The mixed-integer program of the module docstring, over kinds of free component."""

    def __init__(self, kinds: np.ndarray, pinned_counts: np.ndarray, ratios: np.ndarray, greedy: np.ndarray, filled: np.ndarray) -> None:
        self.kinds, self.pinned_counts, self.ratios, self.greedy, self.filled = kinds, pinned_counts, ratios, greedy, filled

    def solve(self, row_bound: float, class_bound: float, seconds: float) -> tuple[np.ndarray | None, str]:
        """How many of each kind go to each split within the bounds (None if no placement is, or the
        solver gave up), and how it was found."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array

        kinds, ratios, greedy = self.kinds, self.ratios, self.greedy
        n_kinds, n_strata = kinds.shape
        n_splits = len(ratios)
        available = greedy.sum(axis=1)
        n_free = int(available.sum())
        sizes = kinds.sum(axis=1)
        pinned_rows = self.pinned_counts.sum(axis=1)
        total = float(sizes @ available + pinned_rows.sum())
        overall = available @ kinds + self.pinned_counts.sum(axis=0)
        share = overall / total
        strata = np.flatnonzero(overall > 0) if n_strata > 1 else np.array([], dtype=np.int64)
        target = ratios * total
        scale = np.maximum(ratios, ratios[ratios > 0].min())  # gaps relative to the split's size (a split meant to be empty: as the smallest)
        # variables: y (components of a kind in a split), kept (of those, where the greedy pass put them),
        # R_s, row gap per split, class gap per (split, stratum), the two largest gaps
        n_y = n_kinds * n_splits
        y = np.arange(n_y).reshape(n_kinds, n_splits)
        kept = n_y + y
        first_r = 2 * n_y
        first_dr = first_r + n_splits
        first_dc = first_dr + n_splits
        n_dc = n_splits * len(strata)
        z_rows, z_classes = first_dc + n_dc, first_dc + n_dc + 1
        n_vars = z_classes + 1
        rows, cols, vals, lo, hi = [], [], [], [], []

        def add(entries: list[tuple], low: float, high: float) -> None:
            """One constraint low <= sum(coefficient * variable) <= high."""
            row = len(lo)
            for var, coef in entries:
                var = np.atleast_1d(var)
                rows.extend([row] * len(var))
                cols.extend(var.tolist())
                vals.extend(np.broadcast_to(np.asarray(coef, dtype=np.float64), var.shape).tolist())
            lo.append(low)
            hi.append(high)

        for t in range(n_kinds):  # every component of a kind in one split
            add([(y[t], 1.0)], available[t], available[t])
            for s in range(n_splits):
                add([(kept[t, s], 1.0), (y[t, s], -1.0)], -np.inf, 0.0)
        for s in range(n_splits):
            add([(y[:, s], sizes), (first_r + s, -1.0)], -pinned_rows[s], -pinned_rows[s])  # R_s
            add([(first_r + s, 1.0), (first_dr + s, -scale[s])], -np.inf, target[s])  # the gap in rows: |R_s - T_s| <= r_s * dr_s
            add([(first_r + s, 1.0), (first_dr + s, scale[s])], target[s], np.inf)
            add([(first_dr + s, 1.0), (z_rows, -1.0)], -np.inf, 0.0)
            for j, k in enumerate(strata):
                members = np.flatnonzero(kinds[:, k])
                fixed = float(self.pinned_counts[s, k])
                in_split = (y[members, s], kinds[members, k])  # K_sk - fixed
                # exact bound (the certificate's figure): |K_sk - p_k R_s| <= class_bound * R_s
                add([in_split, (first_r + s, -(share[k] + class_bound))], -np.inf, -fixed)
                add([in_split, (first_r + s, -(share[k] - class_bound))], -fixed, np.inf)
                dc = first_dc + s * len(strata) + j  # the gap in rows: |K_sk - p_k R_s| <= r_s * dc_sk
                add([in_split, (first_r + s, -share[k]), (dc, -scale[s])], -np.inf, -fixed)
                add([in_split, (first_r + s, -share[k]), (dc, scale[s])], -fixed, np.inf)
                add([(dc, 1.0), (z_classes, -1.0)], -np.inf, 0.0)
        for s in self.filled:  # a split the greedy pass filled stays non-empty
            add([(y[:, s], 1.0)], 1.0, np.inf)
        cost = np.zeros(n_vars)
        cost[kept] = -0.01 / n_free  # a component moved from the greedy placement costs 0.01 / F
        cost[first_dr:first_dc] = 0.1 / n_splits
        cost[first_dc:z_rows] = 0.1 / max(1, n_dc)
        cost[z_rows] = cost[z_classes] = 1.0
        low_bounds, high_bounds = np.zeros(n_vars), np.full(n_vars, np.inf)
        high_bounds[y] = available[:, None]
        high_bounds[kept] = greedy
        slack = _SLACK * total
        low_bounds[first_r:first_dr] = np.maximum(0.0, target - row_bound * total - slack)  # the row bound, on R_s
        high_bounds[first_r:first_dr] = target + row_bound * total + slack
        integrality = np.zeros(n_vars)
        integrality[:n_y] = 1
        matrix = coo_array((vals, (rows, cols)), shape=(len(lo), n_vars)).tocsr()
        result = milp(cost, integrality=integrality, bounds=Bounds(low_bounds, high_bounds), constraints=LinearConstraint(matrix, lo, hi),
                      options={"node_limit": NODE_LIMIT, "time_limit": max(0.0, seconds), "mip_rel_gap": MIP_GAP})
        if result.status == 2:
            return None, "no placement within the bounds"
        if "Time limit" in result.message:
            log.info("balance: the solver stopped after %.0f s with %d kinds of free component; the greedy placement is kept", TIME_LIMIT, n_kinds)
            return None, f"solver stopped after {TIME_LIMIT:.0f} s"
        if result.x is None or not (result.status == 0 or "Solution limit" in result.message):  # the node limit
            return None, result.message
        placed = np.rint(result.x[:n_y]).astype(np.int64).reshape(n_kinds, n_splits)
        gap = f"{result.mip_gap:.0%} from the bound"
        return placed, f"optimal ({gap})" if result.status == 0 else f"best found in {NODE_LIMIT} nodes ({gap})"
