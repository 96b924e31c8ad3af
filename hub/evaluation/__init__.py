"""Standard test evaluation: score a model's predictions on a split of a published version.

    hub.evaluate("demo/digits@1.0.0", "predictions.jsonl", split="test", targets=["accuracy>=0.9"])

reads the split from the version as published (the local registry, else the pull cache,
every shard checked against the manifest's sha256), lines the predictions up with the
records by `id`, scores them with the engine of the task (`hub.evaluation.metrics`, picked
by the record type: `RecordType.evaluations`) and returns an `EvalReport` that binds what was
measured: the version and its manifest's sha256, the split and its record count, the
predictions file's sha256, the libraries and the normalizer, the figures with bootstrap 95%
intervals (`hub.evaluation.bootstrap`).

Coverage is honest: a labelled record with no prediction counts as wrong and is listed; an
id that is not in the split, and an id predicted twice (its record then counts as wrong: no
prediction is picked for it), are problems; a class outside the label set is reported and
counts as wrong. A file the hub cannot read raises `PredictionsError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from hub import blind
from hub.errors import HubError, IntegrityError, NotAHubRepo, PredictionsError
from hub.evaluation.bootstrap import RESAMPLES, SEED
from hub.evaluation.metrics import NORMALIZER, SHAPES, Scoring, normalize_text
from hub.evaluation.predictions import read_predictions

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["NORMALIZER", "EvalReport", "Target", "evaluate", "normalize_text", "parse_target", "training_check"]

_TARGET = re.compile(r"^\s*([A-Za-z0-9_]+(?:\[[^\]]+\])?)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*(%?)\s*$")
_OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b, "==": lambda a, b: a == b}


@dataclass(frozen=True)
class Target:
    """A `metric OP threshold` check, e.g. `wer<=0.04`, `accuracy>=96%`, `fnr[tumor]<0.01`."""

    text: str
    metric: str
    op: str
    threshold: float

    def met(self, value: float | None) -> bool:
        """Whether `value` meets the target (a missing figure does not)."""
        return value is not None and _OPS[self.op](value, self.threshold)

    @property
    def condition(self) -> str:
        """The check without its metric, the threshold as a fraction: `<=0.04`, `>=0.96` for `>=96%`."""
        return f"{self.op}{self.threshold:g}"


def parse_target(text: str) -> Target:
    """Parse a target; raises `HubError` for one that is not `metric OP number`."""
    m = _TARGET.match(text)
    if not m:
        raise HubError(f"target {text!r} is not `metric OP number`",
                       hint='Write e.g. "wer<=0.04", "accuracy>=0.96" (or 96%), "fnr[tumor]<0.01"; OP is one of <=, >=, <, >, ==.', target=text)
    metric, op, number, percent = m.groups()
    try:
        threshold = float(number) / (100 if percent else 1)
    except ValueError:
        raise HubError(f"target {text!r}: {number!r} is not a number", hint='Write e.g. "wer<=0.04".', target=text) from None
    return Target(text.strip(), metric, op, threshold)


@dataclass
class EvalReport:
    """What was measured and the figures: `to_dict()` is the JSON report, `card()` its Markdown."""

    dataset: str
    version: str
    manifest_sha256: str
    split: str
    records: int  # records in the split
    task: str
    field: str
    kind: str
    predictions: dict[str, Any]  # path, format, sha256, rows
    source: dict[str, Any]  # where the split was read: the registry or the pull cache
    metrics: dict[str, dict[str, Any]]
    coverage: dict[str, Any]
    problems: list[dict[str, Any]]
    libraries: dict[str, str]
    bootstrap: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)  # per class, confusion matrix, per language, definitions
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every target was met (True without targets)."""
        return all(t["met"] for t in self.targets)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        """The report `to_dict` gave (e.g. a server's answer): every key that is no field is a detail."""
        names = {f.name for f in fields(cls)} - {"details"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   details={k: v for k, v in data.items() if k not in names and k != "passed"})

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("dataset", "version", "manifest_sha256", "split", "records", "task", "field", "kind",
                                             "predictions", "source", "metrics")}
        return out | self.details | {k: getattr(self, k) for k in ("coverage", "problems", "libraries", "bootstrap", "targets")} | {"passed": self.passed}

    def figure(self, metric: str) -> dict[str, Any]:
        """A figure by name: a headline metric (`wer`) or a per-class one (`recall[cat]`);
        raises `HubError` naming the figures there are."""
        if metric in self.metrics:
            return self.metrics[metric]
        m = re.fullmatch(r"([a-z0-9_]+)\[(.+)\]", metric)
        per_class = self.details.get("per_class") or {}
        if m and m.group(2) in per_class and isinstance(per_class[m.group(2)].get(m.group(1)), dict):
            return per_class[m.group(2)][m.group(1)]
        names = [*self.metrics, *(f"{k}[{c}]" for c, v in list(per_class.items())[:1] for k in v if isinstance(v[k], dict))]
        raise HubError(f"the {self.task} report has no figure {metric!r}", hint=f"Name one of: {', '.join(names)} (per class: metric[class]).", metric=metric)

    def card(self) -> str:
        """The report as a Markdown card (plots as `plots/<name>.svg`, see `plots()`)."""
        from hub.evaluation.card import card

        return card(self)

    def plots(self) -> dict[str, str]:
        """The card's SVG plots by file stem: confusion matrix, per-class bars, ..."""
        from hub.evaluation.card import plots

        return plots(self)

    def write(self, folder: Path | str) -> dict[str, str]:
        """Write report.json, card.md and plots/*.svg into `folder`; return their paths."""
        folder = Path(folder)
        (folder / "plots").mkdir(parents=True, exist_ok=True)
        written = {"report": folder / "report.json", "card": folder / "card.md"}
        written["report"].write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written["card"].write_text(self.card(), encoding="utf-8")
        for name, svg in self.plots().items():
            written[name] = folder / "plots" / f"{name}.svg"
            written[name].write_text(svg, encoding="utf-8")
        return {k: str(v) for k, v in written.items()}


# -- the split -----------------------------------------------------------------------------


def _read_split(dataset: str, version: str | None, split: str, root: Path | str | None, endpoint: str | None, token: str | None,
                cache_dir: Path | str | None) -> tuple[list[Path], dict[str, Any], bytes, dict[str, Any], pa.Table | None]:
    """(shard paths, manifest, manifest bytes, source, withheld labels) of one split of a version:
    from the local registry when there is one (and no endpoint was given), else pulled into the
    cache. The labels are those of a blind split (`hub.blind`), which only the registry holds."""
    from hub.hashing import sha256_file
    from hub.repo import find_root

    local = None
    if endpoint is None:
        try:
            local = find_root(root)
        except NotAHubRepo:
            if root is not None:
                raise
    if local is not None:
        from hub.store import resolve_revision

        revision = resolve_revision(local, dataset, version)
        raw = (revision.path / "manifest.json").read_bytes()
        _check_split(revision.manifest, split, dataset)
        files = []
        for entry in revision.split_files(split):  # on disk, or (a replica without the data) copied from the object store
            path = revision.fetched(entry.path, entry.size, entry.sha256)
            if sha256_file(path) != entry.sha256:
                raise IntegrityError(f"{dataset}@{revision.version}'s {entry.path} does not match the sha256 its manifest records",
                                     hint="The registry's copy is damaged: fetch it again with `dvc pull`, or score against a pulled copy (--endpoint).",
                                     dataset=dataset, version=revision.version, path=entry.path)
            files.append(path)
        labels = blind.labels(revision, split) if blind.withheld(revision.manifest, split) else None
        return files, revision.manifest, raw, {"kind": "registry", "path": str(revision.path)}, labels
    from hub.client import pull

    pulled = pull(f"{dataset}@{version}" if version else dataset, split=split, endpoint=endpoint, token=token, cache_dir=cache_dir)
    raw = (pulled.path / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    _check_split(manifest, split, dataset)
    if blind.withheld(manifest, split):
        raise HubError(f"{dataset}@{manifest['version']}'s {split} split is blind: its labels never leave the server, so it cannot be scored here",
                       hint=f"Score on the server: hub eval {dataset}@{manifest['version']} --split {split} --predictions FILE --server URL.", dataset=dataset, split=split)
    return [pulled.path / f["path"] for f in pulled.files if f["split"] == split], manifest, raw, {"kind": "cache", "path": str(pulled.path)}, None


def _check_split(manifest: dict[str, Any], split: str, dataset: str) -> None:
    splits = list(manifest.get("splits") or {})
    if split not in splits:
        raise HubError(f"{dataset}@{manifest.get('version')} has no split {split!r} (splits: {', '.join(splits) or 'none'})",
                       hint="Pass --split with one of the version's splits.", dataset=dataset, split=split)


def _class_names(feature: Any, value: Any) -> Any:
    """`value` with every ClassLabel index of `feature` (a manifest's feature JSON) as its name."""
    if value is None or not isinstance(feature, dict):
        return value
    kind = feature.get("_type")
    if kind == "ClassLabel":
        names = feature.get("names") or []
        return names[value] if isinstance(value, int) and 0 <= value < len(names) else value
    if kind in ("List", "Sequence", "LargeList"):
        return [_class_names(feature.get("feature"), v) for v in value]
    if kind is None:  # a struct
        return {k: _class_names(feature.get(k), v) for k, v in value.items()}
    return value


def _truth(table: pa.Table, name: str, feature: Any) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and pa.types.is_integer(column.type):
        return pc.take(pa.array(feature.get("names") or [], pa.string()), column).to_pylist()
    return [_class_names(feature, v) for v in column.to_pylist()]


def _with_labels(table: pa.Table, labels: pa.Table, fields: list[str]) -> pa.Table:
    """`table` with the withheld `fields` of a blind split put back, lined up by `id`."""
    import pyarrow.compute as pc

    rows = pc.index_in(table.column("id"), value_set=labels.column("id").combine_chunks())
    for name in fields:
        table = table.append_column(name, labels.column(name).take(rows))
    return table


# -- scoring -------------------------------------------------------------------------------


def _spec(record_type: Any, task: str | None, dataset: str) -> Any:
    specs = record_type.evaluations
    if not specs:
        raise HubError(f"{dataset} holds {record_type.name} records, which `hub eval` cannot score yet", dataset=dataset)
    if task is None:
        return specs[0]
    for spec in specs:
        if spec.name == task:
            return spec
    raise HubError(f"{record_type.name} records have no evaluation task {task!r}", hint=f"Pass --task with one of: {', '.join(s.name for s in specs)}.",
                   dataset=dataset, task=task)


def _shaped(predictions: Any, kind: str) -> list[Any]:
    coerce, shape = SHAPES[kind]
    values = predictions.values
    if kind in ("classification", "transcription") and all(type(v) is str for v in values):
        return values
    out = []
    for row, value in enumerate(values):
        try:
            out.append(coerce(value))
        except ValueError as exc:
            raise PredictionsError(f"predictions file {predictions.path}, {predictions.where(row)} (id {predictions.ids[row]!r}): {exc}",
                                   hint=f"A {kind} prediction is {shape}.", path=str(predictions.path), id=predictions.ids[row]) from None
    return out


def training_check(training_data: Path | str, dataset: str, version: str, split: str, root: Path | str | None = None) -> dict[str, Any]:
    """The submitter's contamination check (`hub.check_contamination`) of `training_data`
    against `split` of `dataset@version`, run in the hub at `root`, which must hold that version
    (its fingerprints): the server never sees the training data, so a submission can only carry
    this outcome. `matches` counts training records that are records of the split (`exact` +
    `near`); `report_sha256` is that of the whole check's JSON (sorted keys), to show later."""
    import hub
    from hub.repo import find_root
    from hub.store import resolve_revision

    try:
        repo = find_root(root)
    except NotAHubRepo as exc:
        raise HubError(f"the contamination check of --training-data needs a hub holding {dataset}@{version}: {exc.message}",
                       hint=f"Run it in (or pass --root) a hub where {dataset}@{version} is published or pulled.", dataset=dataset) from None
    record = resolve_revision(repo, dataset, version).manifest["record"]
    result = hub.check_contamination(training_data, against=f"{dataset}@{version}", record=record, root=repo)
    hits = [m for m in result["matches"] if m["dataset"] == dataset and m["split"] == split and m["ours"] == "train"]
    return {"checked": True, "against": f"{dataset}@{version}", "split": split, "matches": sum(m["rows"] for m in hits),
            "exact": sum(m["exact"] for m in hits), "near": sum(m["near"] for m in hits),
            "report_sha256": hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()}


def evaluate(ref: str, predictions: Path | str, *, split: str = "test", task: str | None = None, targets: Iterable[str] = (),
             resamples: int = RESAMPLES, seed: int = SEED, root: Path | str | None = None, endpoint: str | None = None,
             token: str | None = None, cache_dir: Path | str | None = None, server: str | None = None, model: str | None = None,
             link: str | None = None, training_data: Path | str | None = None) -> EvalReport:
    """Score the predictions file `predictions` on `split` of `ref` (`ns/name@X.Y.Z`); return the
    `EvalReport`. Raises `PredictionsError` for a file it cannot score, `HubError` for an unknown
    task, split or target metric, and the read errors of the version (`VersionNotFound`, ...).

    With `server` (a hub server's URL) the server scores the file (`hub.evaluation.remote`: the
    only way to score a blind split) and records the submission under `model` and `link`; the
    report is the server's, with its default bootstrap. With `training_data` too (a dataset of
    the hub at `root`, or Parquet/`save_to_disk` data) its contamination check against the split
    is run here first and its outcome sent with the submission (`training_check`)."""
    import numpy as np
    import pyarrow.parquet as pq

    from hub import records
    from hub.ids import parse_ref

    checks = [parse_target(t) for t in targets]
    dataset, version = parse_ref(ref)
    if training_data is not None and server is None:
        raise HubError("a contamination check of the training data is sent with a server submission only",
                       hint=f"Add --server URL, or check it on its own: hub contamination {training_data} --against {ref}.", dataset=dataset)
    if server is not None:
        from hub.evaluation.remote import submit

        if version is None:
            raise HubError(f"scoring on a server needs a pinned version: {ref}@X.Y.Z", hint="Name the version the score is for.", dataset=dataset)
        contamination = training_check(training_data, dataset, version, split, root) if training_data is not None else None
        return EvalReport.from_dict(submit(dataset, version, predictions, server=server, split=split, task=task, targets=[c.text for c in checks],
                                           token=token, model=model, link=link, contamination=contamination))
    files, manifest, raw, source, labels = _read_split(dataset, version, split, root, endpoint, token, cache_dir)
    record_type = records.get(manifest["record"])
    spec = _spec(record_type, task, dataset)
    group_key = (manifest.get("certificate") or {}).get("group_key")
    features = manifest.get("features") or {}
    columns = list(dict.fromkeys(["id", spec.field, *spec.columns, *([group_key] if group_key in features else [])]))
    import pyarrow as pa

    hidden = blind.withheld(manifest, split)
    shown = [c for c in columns if c not in hidden]
    table = pa.concat_tables([pq.read_table(f, columns=shown) for f in files]) if files else pa.table({c: [] for c in shown})
    if labels is not None:
        table = _with_labels(table, labels, [c for c in columns if c in hidden])

    truth_all = _truth(table, spec.field, features.get(spec.field))
    labelled = np.array([t is not None for t in truth_all], dtype=bool)
    if not labelled.any():
        raise HubError(f"no record of {dataset}@{manifest['version']}'s {split} split is labelled in {spec.field!r}: there is nothing to score the {spec.name} task on",
                       hint="Pick another task (--task) or split (--split).", dataset=dataset, split=split, task=spec.name)
    read = read_predictions(predictions)
    values = _shaped(read, spec.kind)
    split_ids = table.column("id").to_pylist()
    position = {rid: i for i, rid in enumerate(split_ids)}
    counts = Counter(read.ids)
    duplicates = sorted(rid for rid, n in counts.items() if n > 1)
    unknown = [rid for rid in counts if rid not in position]
    predicted: list[Any] = [None] * len(split_ids)
    for rid, value in zip(read.ids, values):
        row = position.get(rid)
        if row is not None and counts[rid] == 1:
            predicted[row] = value
    keep = np.flatnonzero(labelled)
    scored = table.take(pa.array(keep))
    ids = [split_ids[i] for i in keep]
    missing = [split_ids[i] for i in keep if predicted[i] is None and counts.get(split_ids[i], 0) == 0]
    scoring = Scoring(spec.field, ids, [truth_all[i] for i in keep], [predicted[i] for i in keep], list(manifest.get("labels") or []),
                      None, resamples=resamples, seed=seed)
    if group_key in scored.column_names:
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(pc.fill_null(pc.cast(scored.column(group_key), pa.string()), "")).combine_chunks()
        scoring.groups = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    if missing:
        scoring.problem("missing-prediction", f"{len(missing)} of the split's {len(ids)} labelled records have no prediction; they count as wrong", missing)
    if duplicates:
        scoring.problem("duplicate-id", f"{len(duplicates)} ids are predicted more than once; no prediction is picked for them, so their records count as wrong", duplicates)
    if unknown:
        scoring.problem("unknown-id", f"{len(unknown)} predicted ids are not records of the {split} split; they are not scored", unknown)
    unlabelled = [split_ids[i] for i in np.flatnonzero(~labelled)]
    if unlabelled:
        scoring.problem("unlabelled-record", f"{len(unlabelled)} records of the split have no {spec.field!r} label and are not scored", unlabelled)
    result = record_type.evaluate(spec, scoring, scored)
    import numpy

    report = EvalReport(
        dataset=dataset, version=manifest["version"], manifest_sha256=hashlib.sha256(raw).hexdigest(), split=split, records=len(split_ids),
        task=spec.name, field=spec.field, kind=spec.kind,
        predictions={"path": str(read.path), "format": read.format, "sha256": read.sha256, "rows": len(read.ids)},
        source=source, metrics=result.pop("metrics"),
        coverage={"labelled": len(ids), "predicted": len(ids) - len([p for p in scoring.predictions if p is None]), "missing": len(missing),
                  "duplicate_ids": len(duplicates), "unknown_ids": len(unknown), "unlabelled": len(unlabelled)},
        problems=scoring.problems,
        libraries={"numpy": numpy.__version__, **result.pop("libraries")},
        bootstrap={"resamples": resamples, "seed": seed, "level": 0.95, "unit": "record", "groups": group_key if scoring.groups is not None else None,
                   **({"groups_note": result.pop("groups_note")} if result.get("groups_note") else {})},
        details={k: v for k, v in result.items() if k != "groups_note" and v is not None},
    )
    for check in checks:
        figure = report.figure(check.metric)
        value = figure.get("value")
        report.targets.append({"target": check.text, "metric": check.metric, "op": check.op, "threshold": check.threshold, "value": value,
                               "met": check.met(value)})
    return report
