"""Label Studio tasks from a published version's records, and its media on local disk.

Media (audio, images) are written from the Parquet shards to files under the media folder
(`.hub/annotate/media/<ns>/<name>/<version>/<split>/`, or HUB_LABEL_STUDIO_DOCUMENT_ROOT),
which Label Studio serves to the annotator's browser through its local-files storage
(`/data/local-files/?d=<path relative to its document root>`): annotation does not need
`hub serve` running. Dialogue turns and sensor series travel inside the task itself.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow as pa

from hub import records
from hub.arrowutil import sql_string
from hub.errors import AnnotationError
from hub.labelstudio.config import TaskSpec, to_results
from hub.versions import _shards_with_split

log = logging.getLogger(__name__)

__all__ = ["build_tasks", "check_media_dir", "decode_value", "media_columns", "read_records", "write_media"]


def read_records(version_path: Path, split: str, columns: list[str], *, limit: int | None = None, sample: int | None = None,
                 seed: int = 0) -> pa.Table:
    """`columns` of the records of one split of a published version, in id order.

    `limit` takes the first N by id; `sample` a deterministic random N (md5 of seed and id).
    """
    cols = ", ".join(f'"{c}"' for c in dict.fromkeys(["id", *columns]))
    order = "id"
    if sample is not None:
        order = f"md5('{int(seed)}:' || id)"
    n = sample if sample is not None else limit
    tail = f" LIMIT {int(n)}" if n is not None else ""
    con = duckdb.connect()
    try:
        sql = f"SELECT {cols} FROM ({_shards_with_split(version_path, '__split')}) WHERE __split = {sql_string(split)} ORDER BY {order}{tail}"
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def decode_value(spec: TaskSpec, value: Any, labels: list[str]) -> Any:
    """A published field value (class indices) as the record schema's source value (names)."""
    if value is None:
        return None
    name = lambda i: labels[i] if isinstance(i, int) and 0 <= i < len(labels) else i  # noqa: E731
    if spec.kind == "choice":
        return name(value)
    if spec.kind == "boxes":
        return {"bbox": [[float(x) for x in b] for b in value.get("bbox") or []], "category": [name(c) for c in value.get("category") or []]}
    if spec.kind == "spans":
        return [{"start": float(s["start"]), "end": float(s["end"]), "label": s["label"] if spec.labels_from else name(s["label"])} for s in value]
    return value


def _extension(data: bytes) -> str:
    if data[:4] == b"RIFF":
        return ".wav"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[4:8] == b"ftyp":
        return ".mp4"
    return ".bin"


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":  # a PNG's size is in its first chunk
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # an undecodable image was rejected by validation; be safe anyway
        return None


def _media_prefix(folder: Path, document_root: Path) -> str:
    """The local-files URL of `folder`'s files up to their name (resolved once per folder)."""
    try:
        rel = folder.resolve().relative_to(document_root.resolve())
    except ValueError:
        raise AnnotationError(
            f"media folder {folder} is not inside Label Studio's document root {document_root}",
            hint="Start Label Studio with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a folder holding the hub's .hub/annotate/media "
                 "and give the same folder as HUB_LABEL_STUDIO_DOCUMENT_ROOT.",
        ) from None
    return "/data/local-files/?d=" + ("" if rel == Path(".") else quote(rel.as_posix() + "/", safe="/"))


def check_media_dir(media_dir: Path, document_root: Path) -> None:
    """Raise `AnnotationError` (naming both) when `media_dir` is not inside `document_root`,
    where Label Studio could not serve its files."""
    _media_prefix(media_dir, document_root)


def _media_path(media_dir: Path, record_id: str, blob: bytes) -> Path:
    return media_dir / (record_id + _extension(blob))


def _write(path: Path, blob: bytes) -> bool:
    """Write `blob` to `path` unless a file of its size is there already; whether it wrote.
    (A new file costs one `open`: the usual case, a first push into an empty folder.)"""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except FileExistsError:
        if path.is_file() and path.stat().st_size == len(blob):
            return False
        path.write_bytes(blob)
        return True
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return True


def write_media(spec: TaskSpec, table: pa.Table, media_dir: Path, *, stop: threading.Event | None = None, batch: int = 512) -> int:
    """Write the media bytes of `table`'s records to `media_dir`, named as `build_tasks` names
    them, skipping files already there with the same size; return how many were written.
    Reads the table `batch` rows at a time (the bytes are not copied all at once) and stops
    early once `stop` is set. Records without bytes are skipped (`build_tasks` reports them)."""
    media_field = records.get(spec.record).task_media(spec)
    if not media_field or not table.num_rows:
        return 0
    media_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for start in range(0, table.num_rows, batch):
        if stop is not None and stop.is_set():
            break
        part = table.slice(start, batch)
        for record_id, value in zip(part.column("id").to_pylist(), part.column(media_field).to_pylist()):
            blob = (value or {}).get("bytes")
            if blob:
                written += _write(_media_path(media_dir, record_id, blob), blob)
    return written


def media_columns(spec: TaskSpec) -> list[str]:
    """The published columns a task of `spec` needs (besides id and the labelled field)."""
    return records.get(spec.record).task_columns(spec)


def build_tasks(spec: TaskSpec, table: pa.Table, labels: list[str], *, media_dir: Path, document_root: Path,
                prelabel: bool = False, predictions: dict[str, Any] | None = None, model_version: str = "",
                channels: list[str] | None = None, write: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(tasks to import, problems) for the records in `table`.

    Media bytes are written to `media_dir` (skipped when the file is already there; with
    `write=False` the caller writes them, by `write_media`, and the tasks only name them). With
    `prelabel`, each record's current label is attached as a prediction of `model_version`;
    `predictions` (record id -> value) does the same for a model's output.
    """
    tasks, problems = [], []
    kind = records.get(spec.record)
    media_field = kind.task_media(spec)
    media_kind = kind.record_schema().media_fields.get(media_field) if media_field else None
    prefix = ""
    if media_field and table.num_rows:
        prefix = _media_prefix(media_dir, document_root)  # refused before any file is written
        if write:
            media_dir.mkdir(parents=True, exist_ok=True)
    for row in table.to_pylist():
        record_id = row["id"]
        data: dict[str, Any] = {"record_id": record_id}
        size = None
        if media_field:
            blob = (row.get(media_field) or {}).get("bytes")
            if not blob:
                problems.append({"record_id": record_id, "slug": "no-media", "message": f"record {record_id} has no {media_field} bytes"})
                continue
            path = _media_path(media_dir, record_id, blob)
            if write:
                _write(path, blob)
            data[spec.object] = prefix + quote(path.name, safe="")
            if media_kind == "Image":  # boxes are drawn in percent of the image's size
                size = _image_size(blob)
                if size:
                    data["width"], data["height"] = size
            if row.get("fps"):  # a video's timeline counts frames at its rate (the Video tag's framerate="$fps")
                data["fps"] = row["fps"]
        else:
            value, problem = kind.task_data(spec, row, channels)
            if problem is not None:
                problems.append(problem)
                continue
            data[spec.object] = value
        task: dict[str, Any] = {"data": data}
        preds = []
        if prelabel and row.get(spec.field) is not None:
            result = to_results(spec, decode_value(spec, row[spec.field], labels), size, data.get("fps"))
            if result:
                preds.append({"model_version": model_version, "result": result})
        if predictions and record_id in predictions:
            result = to_results(spec, predictions[record_id], size, data.get("fps"))
            if result:
                preds.append({"model_version": model_version or "predictions", "result": result})
        if preds:
            task["predictions"] = preds
        tasks.append(task)
    return tasks, problems
