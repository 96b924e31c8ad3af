"""One sensor CSV per asset: a timestamp column (seconds, or ISO 8601 date-times), one numeric
column per channel (a unit in the header as `name [unit]` or `name (unit)`), optionally a
label column (`label`, `fault`, `activity`, `class`). The series is cut into windows of
`window` samples (the last window of an asset may be shorter: no sample is dropped); the
asset id is the file's name, the sample rate comes from the timestamps.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.errors import SourceError
from hub.importers.base import Draft, NotThisFormat, read_table_file, safe_id
from hub.records.sensor import SENSOR

__all__ = ["sensor_csv"]

_TIME = ("timestamp", "time", "t", "datetime", "date", "time_s", "seconds")
_LABEL = ("label", "fault", "activity", "class", "state")
_UNIT = re.compile(r"^(.*?)\s*[\[(]([^\])]*)[\])]\s*$")
DEFAULT_WINDOW = 100


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return float(value)


def sensor_csv(path: Path, *, fmt: str = "sensor-csv", window: int | None = None, **_: Any) -> Draft:
    """A folder of CSVs, one per asset, cut into windows of `window` samples (default 100)."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else ([path] if path.suffix == ".csv" else [])
    tables = []
    for file in files:
        rows = read_table_file(file)
        header = list(rows[0]) if rows else []
        time_column = next((c for c in header if c.strip().lower() in _TIME), None)
        if time_column is None:
            raise NotThisFormat(fmt, f"a timestamp column ({', '.join(_TIME)}) in every CSV ({file.name} has {', '.join(header) or 'no columns'})", path)
        tables.append((file, rows, header, time_column))
    if not tables:
        raise NotThisFormat(fmt, "CSV files, one per asset", path)
    window = int(window or DEFAULT_WINDOW)
    if window < 1:
        raise SourceError(f"--window must be at least 1 sample, not {window}", hint="Give the window length in samples, e.g. --window 100.")
    has_start = "start" in SENSOR.record_schema().properties
    records, labels, mapping = [], set(), {}
    for file, rows, header, time_column in tables:
        label_column = next((c for c in header if c.strip().lower() in _LABEL), None)
        channel_columns = [c for c in header if c not in (time_column, label_column)]
        channels, units = [], []
        for c in channel_columns:
            m = _UNIT.match(c)
            channels.append(m.group(1).strip() if m else c.strip())
            units.append(m.group(2).strip() if m else "")
        try:
            times = [_seconds(r[time_column]) for r in rows]
            values = [[_number(r[c]) for r in rows] for c in channel_columns]
        except (ValueError, TypeError) as exc:
            raise SourceError(f"{file.name}: {exc}", path=str(file), hint="Timestamps must be seconds or ISO 8601 date-times, channels numbers (empty for a gap).") from None
        steps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
        if not steps:
            raise SourceError(f"{file.name}: the timestamps do not increase, so the sample rate is unknown", path=str(file))
        rate = round(1.0 / steps[len(steps) // 2], 6)
        asset = safe_id(file.stem)
        for n, begin in enumerate(range(0, len(rows), window)):
            end = min(begin + window, len(rows))
            record: dict[str, Any] = {"id": f"{asset}-w{n:05d}", "asset_id": asset, "channels": channels, "units": units, "sample_rate": rate,
                                      "series": [v[begin:end] for v in values]}
            if has_start:
                record["start"] = times[begin]
            if label_column:
                common = Counter(r[label_column] for r in rows[begin:end] if r[label_column] not in (None, "")).most_common(1)
                if common:
                    record["fault"] = str(common[0][0])
                    labels.add(record["fault"])
            records.append(record)
        mapping = {"asset_id": "the CSV's file name", "id": "<asset>-w<window number>", "channels": "the numeric columns (unit from `name [unit]`)",
                   "series": f"windows of {window} samples", "sample_rate": f"1 / the median step of {time_column}"}
        if has_start:
            mapping["start"] = f"{time_column} of the window's first sample, in seconds"
        if label_column:
            mapping["fault"] = f"{label_column} (the most common value in the window)"
    return Draft(fmt, SENSOR.modality, SENSOR.name, records, mapping, sorted(labels), group_key="asset_id", tasks=["time-series-classification"],
                 notes=[f"cut into windows of {window} samples; the last window of an asset may be shorter"])
