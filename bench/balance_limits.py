"""Benchmark: how long `hub.balance.optimize` takes, and what it gains, by number of components and strata.

Synthetic components of 1-59 rows (uniform), 70% of a component's rows of its own class and
the rest of any class, split 80/10/10: the greedy pass of `hub.splits` places them, then the
optimizer. Each line: components, strata, the optimizer's wall time (`time.perf_counter`,
problem building included), how it ended (`Balanced.method`), and the largest row-share and
class-share gaps of the greedy pass and of the optimizer. This is what `MAX_KINDS` and
`NODE_LIMIT` were chosen from (bench/README.md, "balance with few large groups").

    .venv/bin/python bench/balance_limits.py [--components 12 25 50] [--strata 1 3 10 30] [--max-kinds 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import hub.balance as balance
import hub.splits as splits

RATIOS = np.array([0.8, 0.1, 0.1])


def _figures(split: np.ndarray, unit: np.ndarray, stratum: np.ndarray, n_strata: int) -> tuple[float, float]:
    counts = np.bincount(split[unit].astype(np.int64) * n_strata + stratum, minlength=len(RATIOS) * n_strata).reshape(len(RATIOS), n_strata)
    return balance.deviations(counts.sum(axis=1), counts, RATIOS)


def run(n_components: int, n_strata: int, seed: int = 0) -> tuple[float, str, tuple[float, float], tuple[float, float]]:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_components), rng.integers(1, 60, n_components))
    own = rng.integers(0, n_strata, n_components)[unit]
    stratum = np.where(rng.random(len(unit)) < 0.7, own, rng.integers(0, n_strata, len(unit)))
    hashes = rng.integers(0, 2**63, n_components).astype(np.uint64)
    hashed = np.searchsorted([800_000, 900_000, 1_000_000], hashes % np.uint64(1_000_000), side="right").astype(np.int8)
    size = np.bincount(unit).astype(np.float64)
    split = np.full(n_components, -1, dtype=np.int8)
    splits._balance_free(split, size, splits._majority(stratum, unit, n_components, n_strata), hashes, RATIOS, n_strata)
    splits._fill_empty(split, size, hashes, np.ones(n_components, dtype=bool), RATIOS)
    t0 = time.perf_counter()
    placed = balance.optimize(split, np.ones(n_components, dtype=bool), unit, stratum, n_strata, hashed, hashes, RATIOS)
    seconds = time.perf_counter() - t0
    return seconds, placed.method, _figures(split, unit, stratum, n_strata), _figures(placed.split, unit, stratum, n_strata)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, nargs="*", default=[12, 25, 50, 75, 100])
    parser.add_argument("--strata", type=int, nargs="*", default=[1, 3, 10, 30])
    parser.add_argument("--max-kinds", type=int, default=1000, help="hub.balance.MAX_KINDS for the run (default 1000: no limit)")
    args = parser.parse_args()
    balance.MAX_KINDS = args.max_kinds
    run(12, 3)  # imports (scipy) outside the measurements
    for n_components in args.components:
        for n_strata in args.strata:
            seconds, method, greedy, optimized = run(n_components, n_strata)
            print(f"{n_components:5d} components {n_strata:3d} strata {seconds:6.2f} s  {method:42s} "
                  f"greedy rows {greedy[0]:.4f} classes {greedy[1]:.4f} -> rows {optimized[0]:.4f} classes {optimized[1]:.4f}", flush=True)


if __name__ == "__main__":
    main()
