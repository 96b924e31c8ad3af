"""The record-type interface: what one kind of record brings to the hub.

A record type is a `RecordType` subclass with one instance in its module
(`hub.records.speech.SPEECH`, ...), listed by the registry (`hub.records`). Core code asks the
registry for the type of a dataset's records and calls this interface; it never names a type.

| part              | attributes and methods                                              |
|-------------------|---------------------------------------------------------------------|
| schema binding    | `name`, `modality`, `schema`, `group_key`, `record_schema`          |
| scaffold          | `example`, `media_extension`, `languages` (`hub new`)               |
| validation        | `decode` (media), `derived`/`derive` (fields the media tell), `check_decoded`, `check` |
| duplicates        | `text_sql` (normalized text), `duplicates` (exact and near keys)    |
| stats             | `metrics` (per row / per item), `split_stats` (extras of a split)   |
| time splits       | `time_extent` (when each record ends)                               |
| pages             | `preview` (the cells of a row preview this type draws its own way)  |
| Label Studio      | `tasks`, `object_tag`, `task_media`, `task_columns`, `task_data`, `task_channels` |
| evaluation        | `evaluations` (the tasks `hub eval` scores), `evaluate`             |

Modules import only this file at the top: the heavy libraries (numpy, pyarrow, PIL, ...) are
imported by the methods that use them, so that `hub --help` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from hub.checks import Checker
    from hub.dedup import Thresholds, _Keys
    from hub.entry import Entry
    from hub.evaluation.metrics import Scoring
    from hub.fingerprints import Prints
    from hub.schema import RecordSchema

__all__ = ["EvalSpec", "RecordType", "TaskSpec", "object_names", "quoteattr"]


def quoteattr(value: str) -> str:
    """`value` as a quoted XML attribute (xml.sax.saxutils is imported on first use: it pulls in
    urllib.request, ~20 ms of every `hub` command's start-up)."""
    from xml.sax.saxutils import quoteattr as _quoteattr

    return _quoteattr(value)


def object_names(spec: TaskSpec) -> tuple[str, str]:
    """The quoted `name` and `value` attributes of a config's object tag for `spec`."""
    return quoteattr(spec.object), quoteattr("$" + spec.object)


@dataclass(frozen=True)
class TaskSpec:
    """One annotation task of one record type."""

    record: str
    name: str
    field: str  # the record field the labels fill
    kind: str  # agreement kind: choice, text, boxes, spans
    control: str  # the control tag's name (`from_name`)
    object: str  # the object tag's name (`to_name`), also the task data key of the media
    result_type: str  # Label Studio's result type
    labels_from: str | None = None  # a column whose values are the config's labels (speakers), not the label set

    @property
    def needs_labels(self) -> bool:
        return self.kind in ("choice", "boxes") or (self.kind == "spans" and self.labels_from is None)  # spans labelled from the label set


@dataclass(frozen=True)
class EvalSpec:
    """One task a model's predictions on a split are scored on (`hub eval --task`)."""

    name: str  # the task, as `hub eval --task` names it
    field: str  # the labelled field the predictions are compared with
    kind: str  # the scoring engine (`hub.evaluation.metrics.ENGINES`): classification, transcription, boxes, spans
    columns: tuple[str, ...] = ()  # other columns of the split the scoring reads


class RecordType:
    """One kind of record. Subclasses set the class attributes and override what they need."""

    name: ClassVar[str] = ""  # the record type, as dataset.yaml's `record` names it
    modality: ClassVar[str] = ""  # the modality it belongs to (dataset.yaml's `modality`)
    schema: ClassVar[str] = ""  # the stem of its JSON Schema in schemas/
    group_key: ClassVar[str] = "group"  # the default split.group_key
    example: ClassVar[dict[str, Any]] = {}  # the scaffold's example record for `hub new` (no id, no media)
    media_extension: ClassVar[str | None] = None  # the extension of the scaffold's example media file
    languages: ClassVar[bool] = False  # whether dataset.yaml's `languages` apply (the scaffold lists "en")
    text_sql: ClassVar[str | None] = None  # DuckDB SQL of a record's text, lower-cased (over `text_columns`)
    text_columns: ClassVar[tuple[str, ...]] = ()  # the columns `text_sql` reads
    tasks: ClassVar[tuple[TaskSpec, ...]] = ()  # its Label Studio tasks; the first is the default
    free_text: ClassVar[tuple[tuple[str, ...], ...]] = ()  # its free-text fields, as paths (a column, or a field of a list's items): what the PII gate reads
    pii_default: ClassVar[str] = "report"  # the PII gate's policy when dataset.yaml says none (`hub.pii`)
    derived: ClassVar[tuple[str, ...]] = ()  # fields its media tell: derived when absent (`derive`), checked when given (`check_decoded`)

    def __repr__(self) -> str:
        return f"<record type {self.name}>"

    # -- schema -------------------------------------------------------------------------

    def record_schema(self, labels: list[str] | tuple[str, ...] = ()) -> RecordSchema:
        """The `RecordSchema` of this type bound to a label set."""
        from hub.schema import record_schema

        return record_schema(self.name, labels)

    # -- validation ---------------------------------------------------------------------

    def decode(self, kind: str, blob: bytes) -> Any:
        """Decode one media file of `kind` (`Audio`, `Image`, ...): what decoding tells (e.g.
        (sample rate, duration) or (width, height)). Raises any exception for a file that does
        not decode (its message becomes the problem)."""
        raise ValueError(f"{self.name} records have no {kind} media")

    def check_decoded(self, checker: Checker, row: int, field: str, kind: str, info: Any) -> None:
        """Compare what decoding row `row`'s `field` told with the record's own fields."""

    def check(self, checker: Checker) -> None:
        """Checks of this type beyond its JSON Schema, over the checker's whole table."""

    def derive(self, kind: str, info: Any) -> dict[str, Any]:
        """The `derived` fields' values from what `decode` told of one media file of `kind`."""
        return {}

    # -- duplicates ---------------------------------------------------------------------

    def duplicates(self, table: pa.Table, keys: _Keys, thresholds: Thresholds, bar: Any, text_hashes: np.ndarray | pa.ChunkedArray | None) -> None:
        """Add the exact and near duplicate keys of `table`'s rows to `keys` (`hub.dedup`)."""

    # -- fingerprints (the contamination index, `hub.fingerprints`) ----------------------

    band_limit: ClassVar[int | None] = None  # a band key more reference records share is boilerplate, not a match

    def fingerprints(self, table: pa.Table, thresholds: Thresholds, rows: int | None = None) -> Prints:
        """Per row of `table`, the digest, band keys and near value that find its duplicates in
        other datasets, from the same hashes `duplicates` uses. None everywhere: nothing to compare.

        A stage over batches (`hub.fingerprints.table_of`): `table` may be one batch of the data,
        whose rows in all are `rows` (None: `table`'s), for a rule on the data's size; row by
        row, the result must not depend on where the batches were cut."""
        from hub.fingerprints import Prints

        return Prints([None] * table.num_rows)

    def near_same(self, ours: bytes, theirs: bytes, thresholds: Thresholds) -> bool:
        """Whether two records meeting in a band key (their `near` values) are near duplicates."""
        return True

    # -- stats --------------------------------------------------------------------------

    def metrics(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Per-row metrics, and per-item metrics with the row each item belongs to, over whole columns."""
        return {}, {}

    def split_stats(self, table: pa.Table, mask: np.ndarray, per_row: dict[str, np.ndarray], split: dict[str, Any], entry: Entry) -> dict[str, Any]:
        """Extra stats of the (non-empty) split whose rows `mask` selects; `split` holds its stats so far."""
        return {}

    # -- pages ----------------------------------------------------------------------------

    def preview(self, row: dict[str, Any], features: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The cells of a published row (`features`: the manifest's) that the dataset page's
        preview draws this type's own way, by column; every other column gets the generic cell
        (text, class name, media link, numbers: `hub.server.pages`). A cell is a dict with a
        `kind` the page's template knows: `text` (`text`), `image`/`audio`/`video` (`url`),
        `turns` (`turns`: speaker, text), `series` (`channels`: one line each)."""
        return {}

    # -- time splits ----------------------------------------------------------------------

    def time_extent(self, table: pa.Table, starts: np.ndarray) -> np.ndarray:
        """When each record ends, in the seconds of `starts` (a time split, `hub.split_modes`):
        its start plus its `duration` field when the table has one; else an instant."""
        import numpy as np
        import pyarrow as pa

        if "duration" in table.column_names and (pa.types.is_floating(table.schema.field("duration").type) or pa.types.is_integer(table.schema.field("duration").type)):
            duration = table.column("duration").cast(pa.float64()).to_numpy(zero_copy_only=False)
            return starts + np.nan_to_num(duration)
        return starts

    # -- Label Studio -------------------------------------------------------------------

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        """The Label Studio object tag (the data shown) of a label config for `spec`."""
        raise KeyError(spec.name)

    def task_media(self, spec: TaskSpec) -> str | None:
        """The media column a task shows from files on disk (None: the data travels in the task)."""
        return None

    def task_columns(self, spec: TaskSpec) -> list[str]:
        """The published columns a task of `spec` needs (besides id and the labelled field)."""
        media = self.task_media(spec)
        return ([media] if media else []) + ([spec.labels_from] if spec.labels_from else [])

    def task_data(self, spec: TaskSpec, row: dict[str, Any], channels: list[str] | None) -> tuple[Any, dict[str, Any] | None]:
        """(the task data of a record that has no media file, or a problem that skips the record)."""
        raise NotImplementedError(f"{self.name} tasks carry media")

    def task_channels(self, spec: TaskSpec, table: pa.Table) -> list[str] | None:
        """The channels a project's config shows (from the first record pushed), or None."""
        return None

    # -- evaluation -----------------------------------------------------------------------

    evaluations: ClassVar[tuple[EvalSpec, ...]] = ()  # the tasks `hub eval` scores; the first is the default

    def evaluate(self, spec: EvalSpec, scoring: Scoring, table: pa.Table) -> dict[str, Any]:
        """Score `scoring`'s predictions for `spec` with the engine of its kind; `table` holds the
        scored records' `spec.columns`, in the same order. Returns the engine's figures."""
        from hub.evaluation.metrics import ENGINES

        for name in spec.columns:
            scoring.columns[name] = table.column(name).to_pylist()
        return ENGINES[spec.kind](scoring)
