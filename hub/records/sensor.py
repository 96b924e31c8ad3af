"""Industrial sensors: a window of multichannel time series from one asset, with a fault class
and anomaly spans, `schemas/industrial-sensor.schema.json`.

- Stats: series lengths, and each channel's range per split (when every record has the
  same shape).
- Label Studio: `anomaly-spans` (TimeSeries, one Channel per channel, + TimeSeriesLabels,
  into `anomalies`); the series travel inside the task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.records.base import RecordType, TaskSpec, object_names, quoteattr

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from hub.entry import Entry

__all__ = ["SENSOR", "Sensor"]


class Sensor(RecordType):
    name = "sensor"
    modality = "industrial"
    schema = "industrial-sensor"
    group_key = "asset_id"
    example = {"asset_id": "pump-01", "channels": ["vibration_x"], "units": ["g"], "sample_rate": 100.0, "series": [[0.0, 0.1, 0.0]], "fault": "normal"}
    tasks = (TaskSpec("sensor", "anomaly-spans", "anomalies", "spans", "anomalies", "series", "timeserieslabels"),)

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


SENSOR = Sensor()
