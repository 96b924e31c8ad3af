"""Industrial sensors: a window of multichannel time series from one asset, with a fault class
and anomaly spans, `schemas/industrial-sensor.schema.json`.

- Validation: channels, units and series must have one entry per channel, and every channel
  the same length.
- Duplicates: the same series values; near: any window of `sensor_window` samples (all
  channels) that two records share.
- Stats: series lengths, and each channel's range per split (when every record has the
  same shape).
- Label Studio: `anomaly-spans` (TimeSeries, one Channel per channel, + TimeSeriesLabels,
  into `anomalies`); the series travel inside the task.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

from hub.records.base import EvalSpec, RecordType, TaskSpec, object_names, quoteattr

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from hub.arrowutil import Series
    from hub.checks import Checker
    from hub.dedup import Thresholds, _Keys
    from hub.entry import Entry
    from hub.evaluation.metrics import Scoring
    from hub.fingerprints import Prints

__all__ = ["SENSOR", "Sensor", "series_keys", "window_hashes"]

_WINDOW_CHUNK_VALUES = 1 << 22  # samples hashed at once: bounds the temporaries to ~100 MB


def series_keys(series: Series) -> list[bytes | None]:
    """The exact key of every record's series: its shape and the sha256 of its samples."""
    import numpy as np

    keys: list[bytes | None] = [None] * len(series)
    for r in np.flatnonzero(series.channels > 0):
        start, size = int(series.starts[r]), int(series.sizes[r])
        head = f"{series.channels[r]}x{series.samples[r]}:".encode()
        keys[r] = hashlib.sha256(head + series.values[start : start + size].tobytes()).digest()
    return keys


def window_hashes(series: Series, window: int, bar: Any) -> tuple[np.ndarray, np.ndarray]:
    """(hash, row) of every window of `window` consecutive samples, all channels together,
    of every record: h(p) = sum over channels c and offsets k of coef[c, k] * bits(x[c, p + k]).

    Records are hashed in blocks of one shape, one channel and offset at a time, so memory
    stays near the hashes themselves (8 bytes a window position) whatever the record size.
    """
    import numpy as np

    hashes: list[np.ndarray] = []
    rows_out: list[np.ndarray] = []
    for (c, t), rows in series.shapes().items():
        if t < window:
            bar.update(len(rows))
            continue
        coefficients = np.random.default_rng(7).integers(1, 1 << 62, (c, window), dtype=np.uint64)
        positions = t - window + 1
        step = max(1, _WINDOW_CHUNK_VALUES // (c * t))
        for i in range(0, len(rows), step):
            chunk = rows[i : i + step]
            bits = series.block(chunk).view(np.uint32).astype(np.uint64)  # (records, channels, samples)
            acc = np.zeros((len(chunk), positions), dtype=np.uint64)
            with np.errstate(over="ignore"):
                for ch in range(c):
                    for k in range(window):
                        acc += coefficients[ch, k] * bits[:, ch, k : k + positions]
            hashes.append(acc.ravel())
            rows_out.append(np.repeat(chunk.astype(np.int32), positions))
            bar.update(len(chunk))
    if not hashes:
        return np.array([], np.uint64), np.array([], np.int32)
    return np.concatenate(hashes), np.concatenate(rows_out)


PREVIEW_VALUES = 8  # samples of each channel the page preview shows
PLOT_WIDTH, PLOT_HEIGHT, PLOT_POINTS = 240, 64, 240  # the preview's plot, in SVG units; the most points drawn per channel


def _plot(channels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The polylines of a preview plot: all channels on one y range (its ends labelled, values as
    stored), a long channel drawn at `PLOT_POINTS` evenly spaced samples; None without values."""
    found = [v for c in channels for v in c["values"] if v is not None and math.isfinite(v)]
    longest = max((len(c["values"]) for c in channels), default=0)
    if not found:
        return None
    low, high = min(found), max(found)
    step = max(1, math.ceil(longest / PLOT_POINTS))

    def x(i: int) -> float:
        return i * PLOT_WIDTH / max(longest - 1, 1)

    def y(v: float) -> float:  # a flat series in the middle
        return PLOT_HEIGHT / 2 if high == low else PLOT_HEIGHT * (high - v) / (high - low)

    lines = []
    for c in channels:
        points = [(i, v) for i, v in enumerate(c["values"]) if i % step == 0 and v is not None and math.isfinite(v)]
        lines.append({"name": c["name"], "unit": c["unit"], "points": " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)})
    return {"width": PLOT_WIDTH, "height": PLOT_HEIGHT, "low": f"{low:.6g}", "high": f"{high:.6g}", "samples": longest, "lines": lines}


class Sensor(RecordType):
    name = "sensor"
    modality = "industrial"
    schema = "industrial-sensor"
    group_key = "asset_id"
    example = {"asset_id": "pump-01", "channels": ["vibration_x"], "units": ["g"], "sample_rate": 100.0, "series": [[0.0, 0.1, 0.0]], "fault": "normal"}
    tasks = (TaskSpec("sensor", "anomaly-spans", "anomalies", "spans", "anomalies", "series", "timeserieslabels"),)

    # -- validation -----------------------------------------------------------------------

    def check(self, checker: Checker) -> None:
        """One entry per channel in channels, units and series; every channel of a record the same length."""
        import numpy as np
        import pyarrow.compute as pc

        from hub.arrowutil import flat

        t = checker.table
        n_channels = pc.list_value_length(flat(t.column("channels"))).to_numpy(zero_copy_only=False)
        n_units = pc.list_value_length(flat(t.column("units"))).to_numpy(zero_copy_only=False)
        series = flat(t.column("series"))
        n_series = pc.list_value_length(series).to_numpy(zero_copy_only=False)
        inner = pc.list_value_length(pc.list_flatten(series)).to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(series).to_numpy(zero_copy_only=False)
        ragged = np.zeros(len(t), dtype=bool)
        if len(inner):
            lo = np.full(len(t), np.iinfo(np.int64).max)
            hi = np.zeros(len(t), dtype=np.int64)
            np.minimum.at(lo, parents, inner)
            np.maximum.at(hi, parents, inner)
            ragged = (hi > 0) & (lo != hi)
        bad = (n_channels != n_units) | (n_channels != n_series) | ragged
        checker.flag(np.nonzero(bad)[0], "inconsistent-record", "channels, units and series must have one entry per channel, and every channel the same length", "series")

    # -- pages ----------------------------------------------------------------------------

    def preview(self, row: dict[str, Any], features: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """A small line plot, one line per channel, and one text line per channel named with its
        unit, values as stored: `vibration_x (g): 0.0123, -0.0456, … (100 values)`."""
        series, names, units = row.get("series"), row.get("channels") or [], row.get("units") or []
        if not isinstance(series, list) or not all(isinstance(values, list) for values in series):
            return {}
        lines, plotted = [], []
        for i, values in enumerate(series):
            name = str(names[i]) if i < len(names) else f"channel {i}"
            unit = str(units[i]) if i < len(units) and units[i] else ""
            head = ", ".join("null" if v is None else f"{v:.6g}" for v in values[:PREVIEW_VALUES])
            lines.append(f"{name}{f' ({unit})' if unit else ''}: {head}" + (f", … ({len(values)} values)" if len(values) > PREVIEW_VALUES else ""))
            plotted.append({"name": name, "unit": unit, "values": values})
        return {"series": {"kind": "series", "channels": lines, "plot": _plot(plotted)}}

    # -- duplicates -----------------------------------------------------------------------

    def duplicates(self, table: pa.Table, keys: _Keys, thresholds: Thresholds, bar: Any, text_hashes: np.ndarray | pa.ChunkedArray | None) -> None:
        from hub.arrowutil import Series
        from hub.dedup import rows_sharing_a_hash

        series = Series(table.column("series"))
        keys.add_exact("exact-series", series_keys(series))
        bar.update(table.num_rows)
        if thresholds.near:
            bar.reset(table.num_rows)
            bar.set_description("finding overlapping windows")
            keys.add_pairs("overlapping-window", rows_sharing_a_hash(*window_hashes(series, thresholds.sensor_window, bar)), table.num_rows)


    def fingerprints(self, table: pa.Table, thresholds: Thresholds, rows: int | None = None) -> Prints:
        """The series' exact keys; as band keys, the hashes of its windows (two records sharing
        one share `sensor_window` consecutive samples: `duplicates`' overlapping windows)."""
        import numpy as np

        from hub.arrowutil import Series
        from hub.fingerprints import Prints
        from hub.progress import bar

        series = Series(table.column("series"))
        exact = series_keys(series)
        if not thresholds.near:
            return Prints(exact)
        with bar(table.num_rows, desc="hashing windows") as progress:
            hashes, rows = window_hashes(series, thresholds.sensor_window, progress)
        order = np.lexsort((hashes, rows))
        hashes, rows = hashes[order], rows[order]
        bands: list[list[int]] = [[] for _ in range(table.num_rows)]
        starts = np.searchsorted(rows, np.arange(table.num_rows + 1))
        for r in range(table.num_rows):
            bands[r] = np.unique(hashes[starts[r]:starts[r + 1]]).tolist()
        return Prints(exact, bands, [b"" if b else None for b in bands])

    # -- stats ----------------------------------------------------------------------------

    def split_stats(self, table: pa.Table, mask: np.ndarray, per_row: dict[str, np.ndarray], split: dict[str, Any], entry: Entry) -> dict[str, Any]:
        """Series lengths, and each channel's range when every record has the same shape."""
        import numpy as np
        import pyarrow as pa

        from hub.arrowutil import Series
        from hub.stats import summary

        part = table.filter(pa.array(mask))
        series = Series(part.column("series"))
        channels = part.column("channels")[0].as_py() if part.num_rows else []
        ranges = {}
        shapes = series.shapes()
        if len(shapes) == 1 and len(series.values):
            (c, t), rows = next(iter(shapes.items()))
            if c == len(channels) and len(rows) == int((series.channels > 0).sum()):
                per_channel = np.arange(0, len(series.values), t)  # every channel of every record, in order
                low = np.fmin.reduceat(series.values, per_channel).reshape(-1, c)
                high = np.fmax.reduceat(series.values, per_channel).reshape(-1, c)
                for i, name in enumerate(channels):
                    ranges[name] = {"min": round(float(np.nanmin(low[:, i])), 4), "max": round(float(np.nanmax(high[:, i])), 4)}
        return {"length": summary(series.samples[series.channels > 0]), "channel_ranges": ranges}

    # -- time splits ----------------------------------------------------------------------

    def time_extent(self, table: pa.Table, starts: np.ndarray) -> np.ndarray:
        """A window ends `samples / sample_rate` seconds after it starts."""
        import numpy as np

        from hub.arrowutil import Series

        samples = Series(table.column("series")).samples.astype(np.float64)
        rate = table.column("sample_rate").to_numpy(zero_copy_only=False).astype(np.float64)
        return starts + np.divide(samples, rate, out=np.zeros_like(samples), where=rate > 0)

    # -- Label Studio ---------------------------------------------------------------------

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        name, value = object_names(spec)
        chans = "\n".join(f"    <Channel column={quoteattr(ch)} legend={quoteattr(ch)}/>" for ch in channels or [])
        return f'  <TimeSeries name={name} value={value} valueType="json" timeColumn="time" sep=",">\n{chans}\n  </TimeSeries>'

    def task_columns(self, spec: TaskSpec) -> list[str]:
        return ["channels", "sample_rate", "series"]

    def task_channels(self, spec: TaskSpec, table: pa.Table) -> list[str] | None:
        return list(table.column("channels")[0].as_py())

    def task_data(self, spec: TaskSpec, row: dict[str, Any], channels: list[str] | None) -> tuple[Any, dict[str, Any] | None]:
        record_id = row["id"]
        if channels is not None and list(row["channels"]) != list(channels):
            return None, {"record_id": record_id, "slug": "channels-differ",
                          "message": f"record {record_id} has channels {row['channels']}, the project shows {channels}"}
        rate = float(row["sample_rate"])
        length = max((len(s) for s in row["series"]), default=0)
        series = {"time": [round(t / rate, 6) for t in range(length)]}
        for name, values in zip(row["channels"], row["series"]):
            series[name] = list(values)
        return series, None

    # -- evaluation -----------------------------------------------------------------------

    evaluations = (EvalSpec("fault", "fault", "classification"), EvalSpec("anomaly-spans", "anomalies", "spans", ("sample_rate", "series")))

    def evaluate(self, spec: EvalSpec, scoring: Scoring, table: pa.Table) -> dict[str, Any]:
        """Anomaly spans are scored on each window's time grid: its sample rate and length."""
        if spec.kind != "spans":
            return super().evaluate(spec, scoring, table)
        import pyarrow.compute as pc

        from hub.arrowutil import flat
        from hub.evaluation.metrics import ENGINES

        first = pc.list_element(flat(table.column("series")), 0)
        scoring.columns = {"sample_rate": table.column("sample_rate").to_pylist(), "length": pc.list_value_length(first).to_pylist()}
        return ENGINES[spec.kind](scoring)


SENSOR = Sensor()
