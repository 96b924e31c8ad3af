"""Few large groups: whole components placed by the optimizer of `hub.balance` (issue #12).

The data are real: the first 375 UCI digits of the demo, put into 12 inspection "modules" of
unequal size (70 rows down to 10) in their order, so every module holds a mix of classes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from hub import balance
from hub.entry import SplitPolicy
from hub.splits import assign_leakproof, certify

SIZES = [70, 55, 45, 40, 35, 30, 25, 20, 18, 15, 12, 10]
RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
# Where the greedy pass alone (the engine before the optimizer, commit 21ccd36) puts the modules
# with seed 1: train 310 rows, validation 40, test 25.
GREEDY_SEED_1 = {"module-00": "train", "module-01": "train", "module-02": "train", "module-03": "validation", "module-04": "train",
                 "module-05": "train", "module-06": "test", "module-07": "train", "module-08": "train", "module-09": "train",
                 "module-10": "train", "module-11": "train"}


def _modules(rows: list[dict], sizes: list[int] = SIZES, prefix: str = "module") -> pa.Table:
    groups = np.repeat([f"{prefix}-{i:02d}" for i in range(len(sizes))], sizes)
    return pa.Table.from_pylist([dict(r, group=g) for r, g in zip(rows, groups)])


@pytest.fixture(scope="module")
def digits() -> list[dict]:
    from hub.demo.digits import load

    return list(load({"limit": 450}))


@pytest.fixture(scope="module")
def modules(digits) -> pa.Table:
    return _modules(digits[:sum(SIZES)])


def _policy(seed: int) -> SplitPolicy:
    return SplitPolicy("group", "label", RATIOS, seed)


def _placed(table: pa.Table, assignment) -> dict[str, str]:
    """The split of every module (each lies in one: the certificate checks it too)."""
    return dict(sorted(set(zip(table.column("group").to_pylist(), [assignment.names[i] for i in assignment.index]))))


def _figures(table: pa.Table, seed: int) -> tuple[dict, object]:
    policy = _policy(seed)
    assignment = assign_leakproof(table, policy, "image")
    certificate = certify(table, assignment, policy, [])
    assert certificate["holds"] and certificate["groups_crossing_splits"] == 0
    return certificate, assignment


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_twelve_unequal_modules_reach_their_targets_within_the_bound(modules, seed):
    """Bound: every split's rows within 1% of all rows of its target (4 rows of 375; the smallest
    module has 10), every class share within 0.08 of its share of the whole. The greedy pass
    alone missed the test split's 37.5 rows by up to 25 rows and the class shares by 0.1-0.2."""
    certificate, _ = _figures(modules, seed)
    assert certificate["balance"]["method"].startswith("optimal")
    assert certificate["balance"]["largest_row_deviation"] <= 0.01
    assert certificate["stratification"]["largest_deviation"] <= 0.08
    assert {name: s["groups"] for name, s in certificate["splits"].items()}["test"] >= 2


def test_the_certificate_reports_target_achieved_and_hashing_alone_per_split(modules):
    certificate, _ = _figures(modules, 1)
    assert {name: (s["rows"], s["target_share"], s["share"], s["share_hashed"]) for name, s in certificate["splits"].items()} == {
        "train": (300, 0.8, 0.8, 0.8133), "validation": (38, 0.1, 0.1013, 0.1467), "test": (37, 0.1, 0.0987, 0.04)}
    assert certificate["balance"] == {"method": "optimal (19% from the bound)", "largest_row_deviation": 0.0013, "largest_row_deviation_hashed": 0.06}
    strat = certificate["stratification"]
    assert set(strat["deviation"]) == set(strat["deviation_hashed"]) == {"train", "validation", "test"}
    assert strat["largest_deviation"] == max(strat["deviation"].values()) == 0.0743
    assert strat["largest_deviation_hashed"] == max(strat["deviation_hashed"].values()) == 0.1013
    assert set(strat["per_split"]["test"]) <= set(strat["overall"])  # the class shares achieved, against the whole's


def _issue_case(digits: list[dict], ordered: bool, seed: int) -> tuple[dict, dict]:
    rows = digits[:sum(SIZES)]
    table = _modules(sorted(rows, key=lambda r: r["label"]) if ordered else rows)
    certificate, _ = _figures(table, seed)
    return certificate["stratification"], certificate["balance"]


@pytest.mark.parametrize("ordered, seed", [(False, 1), (False, 5), (False, 13), (True, 0), (True, 13)])
def test_stratifying_does_no_worse_on_classes_than_hashing_alone(digits, ordered, seed):
    """The issue's case: the greedy pass by majority class gave a larger class deviation than the
    modules' hashes alone (mixed modules, seeds 1, 5, 13: 0.107, 0.104, 0.104 against 0.101,
    0.049, 0.056; modules cut from the digits in label order, each nearly one class, seeds 0
    and 13: 0.907 against 0.355 and 0.423)."""
    strat, rows = _issue_case(digits, ordered, seed)
    assert strat["largest_deviation"] <= strat["largest_deviation_hashed"]
    assert rows["largest_row_deviation"] <= rows["largest_row_deviation_hashed"]


def test_rows_are_not_given_up_for_the_class_figure_of_hashing(digits):
    """Seed 3: hashing alone had class deviation 0.027 but rows 0.247 off (train 245, validation
    130, test 0 rows, for 300/37.5/37.5); the greedy pass had 0.104 and 0.068. No placement within
    the greedy pass's row gap reaches hashing's class figure: the optimizer keeps the rows and
    improves both figures of the greedy pass."""
    strat, rows = _issue_case(digits, False, 3)
    assert (rows["largest_row_deviation"], rows["largest_row_deviation_hashed"]) == (0.0013, 0.2467)
    assert (strat["largest_deviation"], strat["largest_deviation_hashed"]) == (0.0743, 0.0271)


def test_the_placement_is_a_function_of_the_records_and_the_seed(digits, modules):
    first, second = (_placed(modules, assign_leakproof(modules, _policy(1), "image")) for _ in range(2))
    shuffled = modules.take(pa.array(np.random.default_rng(7).permutation(modules.num_rows)))
    assert first == second == _placed(shuffled, assign_leakproof(shuffled, _policy(1), "image"))
    equal = _modules(digits[:120], [10] * 12)  # 12 modules of 10 rows, no stratify key: many placements are optimal
    placed = {}
    for seed in (1, 2):
        policy = SplitPolicy("group", None, RATIOS, seed)
        assignment = assign_leakproof(equal, policy, "image")
        assert certify(equal, assignment, policy, [])["balance"]["largest_row_deviation"] == 0.0333  # 100/10/10 rows for 96/12/12: the best there is
        placed[seed] = _placed(equal, assignment)
    assert placed[1] != placed[2]  # equal optima are resolved by the seed's hashes


def test_published_modules_stay_and_the_new_ones_are_balanced_around_them(digits, modules):
    first = assign_leakproof(modules, _policy(1), "image")
    grown = pa.concat_tables([modules, _modules(digits[375:450], [40, 20, 15], prefix="new")])
    pinned = np.full(grown.num_rows, -1, dtype=np.int16)
    pinned[:modules.num_rows] = first.index
    assignment = assign_leakproof(grown, _policy(1), "image", pinned=pinned)
    assert (assignment.index[:modules.num_rows] == first.index).all() and assignment.moved_rows == 0
    assert assignment.balance.startswith("optimal")
    certificate = certify(grown, assignment, _policy(1), [])
    assert certificate["holds"] and certificate["balance"]["largest_row_deviation"] <= 0.04  # 18 rows of 450: 3 new modules of 15-40 rows


@pytest.mark.parametrize("limit, value, method", [
    ("MAX_FREE", 11, "greedy: 12 free components, more than 11"),
    ("MAX_KINDS", 11, "greedy: more than 11 kinds of free component"),
    ("TIME_LIMIT", 0.0, "greedy: solver stopped after 0 s"),
])
def test_above_the_limits_the_greedy_pass_is_kept_as_it_was(modules, monkeypatch, limit, value, method):
    monkeypatch.setattr(balance, limit, value)
    assignment = assign_leakproof(modules, _policy(1), "image")
    assert assignment.balance == method
    assert _placed(modules, assignment) == GREEDY_SEED_1
    assert certify(modules, assignment, _policy(1), [])["balance"]["method"] == method


def test_without_a_stratify_key_the_rows_alone_are_balanced(modules):
    policy = SplitPolicy("group", None, RATIOS, 1)
    assignment = assign_leakproof(modules, policy, "image")
    certificate = certify(modules, assignment, policy, [])
    assert "stratification" not in certificate
    rows = {name: s["rows"] for name, s in certificate["splits"].items()}
    assert sum(rows.values()) == 375 and abs(rows["test"] - 37.5) <= 2.5 and abs(rows["validation"] - 37.5) <= 2.5


def test_the_card_says_how_close_the_splits_came_and_what_hashing_alone_gave(demo_root):
    """The certificate's balance figures, in the card's words (demo/digits, stratified by label)."""
    import json

    version = demo_root / "registry" / "demo" / "digits" / "versions" / "1.0.0"
    certificate = json.loads((version / "leakage.json").read_text())
    balance, strata = certificate["balance"], certificate["stratification"]
    card = (version / "README.md").read_text()
    assert (f"- Balance, {balance['method']}: the largest gap of a split's share of rows to its ratio is {balance['largest_row_deviation']:.2%} "
            f"(hashing the groups alone: {balance['largest_row_deviation_hashed']:.2%}); of a `label` class's share in a split to its share overall, "
            f"{strata['largest_deviation']:.2%} (hashing alone: {strata['largest_deviation_hashed']:.2%}).") in card.splitlines()
    assert balance["largest_row_deviation"] <= balance["largest_row_deviation_hashed"]


# The demo data's figures before the optimizer (the greedy pass of 21ccd36, bench/README.md "Optimizer on and off"):
# (largest row-share gap, largest class-share gap; None: no stratify key). The issue: they must not get worse.
DEMO_BEFORE = {"demo/basicmotions": (0.0, 0.0), "demo/chatterbot-dialogue": (0.0081, 0.0268), "demo/digits": (0.0004, 0.0041),
               "demo/espeak-speech": (0.05, 0.5), "demo/video-clips": (0.4667, None)}


def test_the_demo_figures_are_no_worse_than_before_the_optimizer(demo_root):
    import json

    achieved = {}
    for dataset in DEMO_BEFORE:
        certificate = json.loads((demo_root / "registry" / dataset / "versions" / "1.0.0" / "leakage.json").read_text())
        assert certificate["holds"], dataset
        strata = certificate.get("stratification")
        achieved[dataset] = (certificate["balance"]["largest_row_deviation"], strata["largest_deviation"] if strata else None)
    worse = {d: (achieved[d], before) for d, before in DEMO_BEFORE.items()
             if achieved[d][0] > before[0] or (before[1] is None) != (achieved[d][1] is None) or (before[1] is not None and achieved[d][1] > before[1])}
    assert not worse, f"worse than the greedy pass (achieved, before): {worse}"
