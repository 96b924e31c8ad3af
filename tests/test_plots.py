"""The SVG bar charts of the card and the web pages: valid SVG, bars true to the numbers, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from hub.plots import bar_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_bar_heights_are_proportional_to_the_values_and_share_one_baseline():
    svg = bar_chart("demo/digits: rows per split", ["train", "validation", "test"], {"rows": [1437.0, 180.0, 180.0]}, "rows")
    bars = _bars(svg)
    assert [(b.get("data-category"), float(b.get("data-value"))) for b in bars] == [("train", 1437.0), ("validation", 180.0), ("test", 180.0)]
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] / heights[1] == pytest.approx(1437 / 180, rel=1e-3)
    bottoms = {round(float(b.get("y")) + float(b.get("height")), 1) for b in bars}
    assert len(bottoms) == 1
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "demo/digits: rows per split" in texts and "1,437" in texts and texts.count("180") == 2


def test_grouped_bars_have_a_legend_and_percent_ticks():
    shares = {"train": [0.5, 0.25, 0.25], "test": [0.4, 0.4, 0.2]}
    svg = bar_chart("intents", ["greeting", "goodbye", "thanks"], shares, "share of split", percent=True)
    bars = _bars(svg)
    assert len(bars) == 6
    assert {(b.get("data-series"), b.get("data-category")): float(b.get("data-value")) for b in bars}[("test", "goodbye")] == 0.4
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert {"train", "test"} <= set(texts)  # the legend
    assert "50%" in texts and "0%" in texts
    assert [b.find(f"{SVG}title").text for b in bars][:2] == ["train, greeting: 50%", "test, greeting: 40%"]


def test_names_from_a_dataset_are_escaped():
    hostile = '<script>alert("x")</script> & "quotes"'
    svg = bar_chart(hostile, [hostile, "ok"], {hostile: [1.0, 2.0], "b": [3.0, 4.0]}, hostile)
    root = ET.fromstring(svg)  # still well-formed XML
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert root.find(f"{SVG}title").text == hostile
    assert _bars(svg)[0].get("data-category") == hostile and _bars(svg)[0].get("data-series") == hostile


def test_empty_and_all_zero_charts_still_draw():
    assert _bars(bar_chart("nothing", [], {"rows": []}, "rows")) == []
    assert [float(b.get("height")) for b in _bars(bar_chart("zeros", ["a", "b"], {"rows": [0.0, 0.0]}, "rows"))] == [0.0, 0.0]


@pytest.mark.parametrize(("top", "ticks"), [(1437, [0, 500, 1000, 1500]), (0.5, [0, 0.1, 0.2, 0.3, 0.4, 0.5]), (7, [0, 2, 4, 6, 8]), (0, [0, 1])])
def test_nice_ticks(top, ticks):
    assert nice_ticks(top) == pytest.approx(ticks)


@pytest.mark.parametrize(("top", "ticks"), [(1, [0, 1]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]), (1437, [0, 500, 1000, 1500])])
def test_whole_ticks_for_counts(top, ticks):
    assert nice_ticks(top, whole=True) == pytest.approx(ticks)


def test_a_one_row_split_chart_has_whole_ticks_and_a_share_chart_keeps_fractions():
    """Issue #16: a dataset of one row drew its rows-per-split chart on 0.2, 0.4, ... ticks."""
    labels = [t.text for t in ET.fromstring(bar_chart("rows", ["train"], {"rows": [1]}, "rows")).iter(f"{SVG}text")]
    assert "0.2" not in labels and "0" in labels and "1" in labels
    shares = [t.text for t in ET.fromstring(bar_chart("classes", ["train"], {"a": [0.5]}, "share", percent=True)).iter(f"{SVG}text")]
    assert "10%" in shares and "50%" in shares

