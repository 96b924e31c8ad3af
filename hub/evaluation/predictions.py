"""Reading a predictions file: JSONL, CSV or Parquet rows of `id` and `prediction`.

The format is told by the file's name (`.jsonl`/`.ndjson`, `.csv`, `.parquet`/`.pq`); a
Parquet file is also recognised by its magic bytes. CSV cells are text: structured
predictions (boxes, spans) go in them as JSON. Every error names the file and the line or
row, and says how to fix it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.errors import PredictionsError
from hub.hashing import sha256_file

__all__ = ["Predictions", "read_predictions"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_LAYOUT = "Write one row per record with an `id` (the record id) and a `prediction` column."


@dataclass
class Predictions:
    """The rows of a predictions file, in file order."""

    path: Path
    format: str
    sha256: str
    ids: list[str]
    values: list[Any]
    lines: list[int] | None = None  # JSONL: each row's line number (blank lines are skipped)

    def where(self, row: int) -> str:
        """Where row `row` (0-based) is in the file, as an editor shows it."""
        if self.format == "jsonl":
            if self.lines is None:
                with self.path.open("rb") as f:
                    self.lines = [n for n, raw in enumerate(f, start=1) if raw.strip()]
            return f"line {self.lines[row]}"
        if self.format == "csv":
            return f"line {row + 2}"
        return f"row {row + 1}"


def _error(path: Path, message: str, hint: str = _LAYOUT, **fields: Any) -> PredictionsError:
    return PredictionsError(f"predictions file {path}: {message}", hint=hint, path=str(path), **fields)


def _format(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(4)
    if head == b"PAR1":
        return "parquet"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise _error(path, f"{path.suffix or 'no extension'} is not a predictions format (JSONL, CSV or Parquet)",
                     hint="Save the predictions as .jsonl (one JSON object a line), .csv or .parquet, with `id` and `prediction` columns.")
    if fmt == "parquet":
        raise _error(path, "is named .parquet but is not a Parquet file (no PAR1 magic bytes)", hint="Write it with pyarrow or pandas `to_parquet`, or rename it to what it is.")
    return fmt


def _jsonl(path: Path) -> tuple[list[Any], list[Any], list[int]]:
    ids, values, lines = [], [], []
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.rstrip(b"\r\n"))
            except UnicodeDecodeError:
                raise _error(path, f"line {number} is not UTF-8 text", hint="Save the file as UTF-8.") from None
            except json.JSONDecodeError as exc:
                raise _error(path, f"line {number} is not JSON ({exc.msg}, column {exc.colno})",
                             hint="JSONL holds one JSON object per line, e.g. {\"id\": \"rec-1\", \"prediction\": \"cat\"}.") from None
            if not isinstance(row, dict):
                raise _error(path, f"line {number} is a JSON {type(row).__name__}, not an object with `id` and `prediction`")
            for key in ("id", "prediction"):
                if key not in row:
                    raise _error(path, f"line {number} has no `{key}` (it has {', '.join(map(repr, row)) or 'no keys'})")
            ids.append(row["id"])
            values.append(row["prediction"])
            lines.append(number)
    return ids, values, lines


def _jsonl_arrow(path: Path) -> tuple[list[Any], list[Any], None] | None:
    """The rows of a JSONL file read by pyarrow (fast), or None when it cannot: then the line by
    line reader finds the line at fault."""
    import pyarrow as pa
    import pyarrow.json as pjson

    try:
        table = pjson.read_json(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        return None
    if not {"id", "prediction"} <= set(table.column_names) or table.column("id").null_count or table.column("prediction").null_count:
        return None
    return table.column("id").to_pylist(), table.column("prediction").to_pylist(), None


def _table(path: Path, fmt: str) -> tuple[list[Any], list[Any]]:
    import pyarrow as pa

    try:
        if fmt == "csv":
            import pyarrow.csv as pcsv

            with path.open("rb") as f:
                header = f.readline().decode("utf-8", "replace").strip().split(",")
            types = {name.strip().strip('"'): pa.string() for name in header}
            table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False))
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _error(path, f"cannot be read as {fmt.upper()}: {exc}", hint=f"Check that it is a {fmt.upper()} file with `id` and `prediction` columns.") from None
    for key in ("id", "prediction"):
        if key not in table.column_names:
            raise _error(path, f"has no `{key}` column (its columns: {', '.join(table.column_names) or 'none'})")
    return table.column("id").to_pylist(), table.column("prediction").to_pylist()


def read_predictions(path: Path | str) -> Predictions:
    """Read a predictions file; raises `PredictionsError` for a file the hub cannot use (not
    JSONL/CSV/Parquet, no `id` or `prediction`, an id that is not text)."""
    path = Path(path)
    if not path.is_file():
        raise _error(path, "does not exist", hint="Pass the path of a JSONL, CSV or Parquet file of predictions.")
    fmt = _format(path)
    lines: list[int] | None = None
    if fmt == "jsonl":
        fast = _jsonl_arrow(path)
        ids, values, lines = fast if fast is not None else _jsonl(path)
    else:
        ids, values = _table(path, fmt)
    predictions = Predictions(path, fmt, sha256_file(path), ids, values, lines)
    for row, value in enumerate(ids):
        if not isinstance(value, str) or not value:
            raise _error(path, f"{predictions.where(row)}: the id is {value!r}, not a record id (a non-empty string)",
                         hint="Use the records' `id` values as the split's shards hold them, as strings.")
    if not ids:
        raise _error(path, "holds no predictions")
    return predictions
