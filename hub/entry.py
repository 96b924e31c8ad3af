"""Dataset entries: `registry/<ns>/<name>/dataset.yaml`, loaded, checked and scaffolded."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hub import records
from hub.errors import DatasetExists, DatasetNotFound, HubError, UnsafePath
from hub.ids import parse_dataset_id
from hub.license import LicenseInfo, check_license
from hub.report import Report
from hub.repo import dataset_dir, inside
from hub.schema import MODALITY_RECORDS, RecordSchema, load_json_schema, record_schema

log = logging.getLogger(__name__)

__all__ = ["Entry", "SplitPolicy", "load_entry", "new_entry", "read_card", "registered"]

DEFAULT_RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


@dataclass(frozen=True)
class SplitPolicy:
    group_key: str
    stratify_key: str | None
    ratios: dict[str, float]
    seed: int
    duplicates: tuple[tuple[str, Any], ...] = ()  # overrides of `hub.dedup.Thresholds`
    mode: str = "hash"  # hash, given or time (`hub.split_modes`)
    column: str | None = None  # given: the column naming each record's split
    time_key: str | None = None  # time: the field ordering the records
    gap: float = 0.0  # time: seconds between a split's last window end and the next split's start
    growth: str = "append"  # time: later records join the published last split, or begin a new test window (`new-window`)
    min_rows: dict[str, int] = field(default_factory=dict)  # per split: the fewest rows a publish accepts (default 1)
    min_groups: dict[str, int] = field(default_factory=dict)  # per split: the fewest groups (default 1)
    blind: tuple[str, ...] = ()  # splits published without their labels, scored only by the server (`hub.blind`)
    submissions_per_day: int = 10  # server evaluations a token may make on this dataset per 24 hours

    def thresholds(self):
        """The duplicate-detection thresholds this policy asks for."""
        from hub.dedup import Thresholds

        return Thresholds(**dict(self.duplicates))

    def to_dict(self) -> dict[str, Any]:
        out = {"group_key": self.group_key, "stratify_key": self.stratify_key, "ratios": dict(self.ratios), "seed": self.seed,
               "duplicates": dict(self.duplicates)}
        out.update({key: dict(value) for key, value in (("min_rows", self.min_rows), ("min_groups", self.min_groups)) if value})
        if self.blind:
            out.update(blind=list(self.blind), submissions_per_day=self.submissions_per_day)
        if self.mode != "hash":
            out["mode"] = self.mode
            out.update({"column": self.column} if self.mode == "given" else {"time_key": self.time_key, "gap": self.gap})
            if self.mode == "time" and self.growth != "append":
                out["growth"] = self.growth
        return out


@dataclass
class Entry:
    """A dataset entry as read from the registry (possibly with problems, see `report`)."""

    id: str
    path: Path  # the dataset's folder
    data: dict[str, Any]
    report: Report
    license: LicenseInfo | None = None
    schema: RecordSchema | None = None
    split: SplitPolicy | None = None
    targets: list[Any] = field(default_factory=list)  # `hub.evaluation.Target`s of dataset.yaml's `targets`, for the leaderboard
    overlap: int | None = None  # `annotation: {overlap: N}`: annotators per task of a new Label Studio project (`hub annotate push`)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def yaml_path(self) -> Path:
        return self.path / "dataset.yaml"

    @property
    def modality(self) -> str:
        return self.data.get("modality", "")

    @property
    def labels(self) -> list[str]:
        return list(self.data.get("labels") or [])

    def summary(self) -> dict[str, Any]:
        """The entry's catalog fields as JSON-ready data."""
        d = self.data
        return {
            "id": self.id,
            "title": d.get("title"),
            "description": d.get("description"),
            "modality": d.get("modality"),
            "record": self.schema.record if self.schema else d.get("record"),
            "tasks": list(d.get("tasks") or []),
            "languages": list(d.get("languages") or []),
            "license": self.license.expression if self.license else d.get("license"),
            "commercial": self.license.commercial if self.license else None,
            "labels": self.labels,
            "tags": list(d.get("tags") or []),
            "homepage": d.get("homepage"),
            "creators": list(d.get("creators") or []),
            "citation": d.get("citation"),
            "privacy": d.get("privacy"),
            "access": d.get("access") or "public",
            "terms": d.get("terms"),
            "split": self.split.to_dict() if self.split else None,
        }


def _yaml(text: str) -> Any:
    """YAML, parsed by libyaml when PyYAML has it (ten times faster than pure Python); an error
    is raised by the pure-Python parser, whose messages say what it expected."""
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return yaml.safe_load(text)


@functools.lru_cache(maxsize=8)
def _params(path: Path, _mtime: int, _size: int) -> dict[str, Any]:
    """params.yaml, parsed once per version of the file (the catalog reads it for every entry)."""
    try:
        params = _yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return {}
    return params if isinstance(params, dict) else {}


def registered(root: Path) -> list[str]:
    """Every dataset id in `registry/`, sorted."""
    ids = []
    for yaml_path in sorted((root / "registry").glob("*/*/dataset.yaml")):
        ids.append(f"{yaml_path.parent.parent.name}/{yaml_path.parent.name}")
    return ids


def _yaml_problem(report: Report, exc: yaml.YAMLError, file: str) -> None:
    mark = getattr(exc, "problem_mark", None)
    line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    report.add("malformed-yaml", f"dataset.yaml is not valid YAML{line}: {problem}", file=file, row=mark.line + 1 if mark else None)


# Files of a dataset's folder that the hub reads besides dataset.yaml and the source files:
# each must stay inside the folder, links followed (media paths are checked row by row).
LINKED_FILES = ("README.md", "annotations/labels.jsonl")


def read_card(folder: Path) -> str:
    """The prose card (README.md) of a dataset's folder; "" when it has none.

    Raises `UnsafePath` when README.md is a link out of the folder.
    """
    path = inside(folder, "README.md")
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def load_entry(root: Path, dataset: str, *, check: bool = True) -> Entry:
    """Read and check `registry/<dataset>/dataset.yaml`.

    Returns the `Entry`; problems are in `entry.report` (the entry is usable only when the
    report is valid). `check=False` only reads the YAML (and refuses links out of the folder),
    without checking the fields. Raises `InvalidDatasetId` or `DatasetNotFound`.
    """
    folder = dataset_dir(root, dataset)
    yaml_path = folder / "dataset.yaml"
    if not yaml_path.is_file():
        raise DatasetNotFound(f"dataset {dataset!r} is not registered (no {yaml_path.relative_to(root)})", dataset=dataset)
    rel = str(yaml_path.relative_to(root))
    report = Report(dataset)
    entry = Entry(id=dataset, path=folder, data={}, report=report)
    if not _inside(entry, root, "dataset.yaml"):  # a link out of the folder is never read
        return entry
    try:
        data = _yaml(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        _yaml_problem(report, exc, rel)
        return entry
    except UnicodeDecodeError as exc:
        report.add("malformed-yaml", f"dataset.yaml is not UTF-8 text: {exc}", file=rel)
        return entry
    if not isinstance(data, dict):
        report.add("malformed-yaml", f"dataset.yaml must be a mapping of fields, not {type(data).__name__}", file=rel)
        return entry
    entry.data = data
    source = data.get("source") if isinstance(data.get("source"), dict) else {}
    files = source.get("files") if isinstance(source.get("files"), list) else []
    for name in [*LINKED_FILES, *(f["path"] for f in files if isinstance(f, dict) and isinstance(f.get("path"), str))]:
        _inside(entry, root, name)
    if check:
        _check_entry(entry, rel)
    return entry


def _inside(entry: Entry, root: Path, name: str) -> bool:
    """Whether file `name` of the entry's folder stays inside it (`hub.repo.inside`); if not, a problem."""
    try:
        inside(entry.path, name)
        return True
    except UnsafePath as exc:
        linked = "through a link" in exc.message  # the link is the file to fix; else the path in dataset.yaml
        where = f"{entry.path.relative_to(root).as_posix()}/{name if linked else 'dataset.yaml'}"
        entry.report.add("unsafe-path", exc.message, file=where, field=None if linked or name in LINKED_FILES else "source.files")
        return False


def _check_entry(entry: Entry, rel: str) -> None:
    data, report = entry.data, entry.report
    modality = data.get("modality")
    if modality is not None and modality not in MODALITY_RECORDS:
        report.add("unknown-modality", f"unknown modality {modality!r}: use one of {', '.join(MODALITY_RECORDS)}", file=rel, field="modality")
    validator = jsonschema.Draft202012Validator(load_json_schema("dataset"))
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or None
        if where == "modality" and modality not in MODALITY_RECORDS or where == "annotation.overlap":
            continue  # reported below, with the fix
        report.add("entry-schema", f"{where or 'dataset.yaml'}: {error.message}", file=rel, field=where)
    if isinstance(data.get("license"), str):
        try:
            entry.license = check_license(data["license"], commercial=data.get("commercial"))
        except Exception as exc:  # LicenseError: reported, not raised
            report.add("bad-license", getattr(exc, "message", str(exc)), file=rel, field="license",
                       hint=exc.hint if getattr(exc, "suggestions", None) else None)  # the did-you-mean spelling
    if modality in MODALITY_RECORDS:
        record = data.get("record") or MODALITY_RECORDS[modality][0]
        if record not in MODALITY_RECORDS[modality]:
            allowed = ", ".join(MODALITY_RECORDS[modality])
            report.add("unknown-record", f"record type {record!r} does not fit modality {modality!r} (use {allowed})", file=rel, field="record")
        else:
            labels = [str(x) for x in data.get("labels") or []]
            entry.schema = record_schema(record, labels)
            entry.split = _split_policy(entry, rel)
    _targets(entry, rel)
    _annotation(entry, rel)


def _annotation(entry: Entry, rel: str) -> None:
    """`annotation: {overlap: N}`: how many annotators each task of a new Label Studio project
    reaches; a value that is not a whole number of at least 1 is a problem with the fix."""
    raw = entry.data.get("annotation")
    if not isinstance(raw, dict) or "overlap" not in raw:
        return  # absent, or not a mapping (the schema reported it)
    value = raw["overlap"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(value, float) and not value.is_integer() or value < 1:
        entry.report.add("entry-schema", f"annotation.overlap: {value!r} is not a number of annotators", file=rel, field="annotation.overlap",
                         hint="Give how many different annotators label each task: 1 (a single pass) or more, e.g. annotation: {overlap: 2}.")
        return
    entry.overlap = int(value)


def _targets(entry: Entry, rel: str) -> None:
    """`targets: {wer: "<=0.04"}`: each metric's condition parsed as `hub eval --target` parses
    it; one that does not parse is a problem naming the metric and the fix."""
    raw = entry.data.get("targets")
    if not isinstance(raw, dict):
        return  # absent, or not a mapping (the schema reported it)
    from hub.evaluation import parse_target

    for metric, condition in raw.items():
        if not isinstance(condition, str):
            continue  # the schema reported it
        try:
            entry.targets.append(parse_target(f"{metric}{condition}"))
        except HubError:
            entry.report.add("entry-schema", f"targets.{metric}: {condition!r} is not a condition such as \"<=0.04\" or \">=0.9\"", file=rel,
                             field=f"targets.{metric}", hint=f'Write the metric as the key and OP number as its value, e.g. {metric}: ">=0.9" (or ">=90%"); OP is one of <=, >=, <, >, ==.')


def params_overrides(root: Path, dataset: str) -> dict[str, Any]:
    """`datasets.<key>.split` from params.yaml: what the pipeline overrides of the split policy."""
    path = root / "params.yaml"
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    params = _params(path, st.st_mtime_ns, st.st_size)
    item = params_item(params.get("datasets") or {}, dataset, path=path)
    return dict(item.get("split") or {}) if isinstance(item, dict) else {}


def _split_policy(entry: Entry, rel: str) -> SplitPolicy | None:
    raw = entry.data.get("split") if isinstance(entry.data.get("split"), dict) else {}
    raw = {**raw, **params_overrides(entry.path.parents[2], entry.id)}
    assert entry.schema is not None  # set by the caller
    group_key = raw.get("group_key") or records.get(entry.schema.record).group_key
    stratify_key = raw.get("stratify_key")
    ratios = raw.get("ratios") or DEFAULT_RATIOS
    ok = True  # group_key and stratify_key may name any column, extra fields included: checked when the source is read (hub.sources.read_table)
    if isinstance(ratios, dict) and all(isinstance(v, (int, float)) for v in ratios.values()):
        total = sum(ratios.values())
        if abs(total - 1.0) > 1e-6:
            entry.report.add("bad-split-policy", f"split.ratios sum to {total:g}, not 1", file=rel, field="split.ratios")
            ok = False
    else:
        ok = False
    from hub.split_modes import parse_policy

    modes = parse_policy(entry, raw, rel, ratios if isinstance(ratios, dict) else {})  # given or time splits; may add the given column to the schema
    if not ok or modes is None:
        return None
    duplicates = tuple(sorted((raw.get("duplicates") or {}).items()))
    minimums = {key: _per_split(entry, rel, key, raw.get(key), list(ratios)) for key in ("min_rows", "min_groups")}
    if None in minimums.values():
        return None
    blind = [str(name) for name in raw.get("blind") or []]
    unknown = [name for name in blind if name not in ratios]
    if unknown:
        entry.report.add("bad-split-policy", f"split.blind names {', '.join(map(repr, unknown))}, not a split of split.ratios ({', '.join(ratios)})", file=rel, field="split.blind")
        return None
    return SplitPolicy(group_key, stratify_key, {str(k): float(v) for k, v in ratios.items()}, int(raw.get("seed", 0)), duplicates, **modes, **minimums,
                       blind=tuple(blind), submissions_per_day=int(raw.get("submissions_per_day", 10)))


def _per_split(entry: Entry, rel: str, key: str, value: Any, splits: list[str]) -> dict[str, int] | None:
    """`split.min_rows`/`min_groups`: one number for every split, or {split: number}; None (reported) if it names no split of the ratios."""
    if value is None:
        return {}
    if isinstance(value, int) and not isinstance(value, bool):
        return {name: value for name in splits}
    unknown = [name for name in value if name not in splits] if isinstance(value, dict) else []
    if unknown:
        entry.report.add("bad-split-policy", f"split.{key} names {', '.join(map(repr, unknown))}, not a split of split.ratios ({', '.join(splits)})", file=rel, field=f"split.{key}")
        return None
    return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}


def new_entry(root: Path, dataset: str, *, modality: str, record: str | None = None, license: str = "CC-BY-4.0", title: str | None = None) -> Path:
    """Scaffold `registry/<dataset>/` with a dataset.yaml to edit, a README card, a raw/ folder and annotations/.

    Returns the new folder. Raises `InvalidDatasetId`, `DatasetExists`, or `HubError` for an
    unknown modality.
    """
    parse_dataset_id(dataset)
    if modality not in MODALITY_RECORDS:
        raise HubError(f"unknown modality {modality!r}", hint=f"Use one of: {', '.join(MODALITY_RECORDS)}.", modality=modality)
    record = record or MODALITY_RECORDS[modality][0]
    if record not in MODALITY_RECORDS[modality]:
        raise HubError(f"record type {record!r} does not fit modality {modality!r}", hint=f"Use one of: {', '.join(MODALITY_RECORDS[modality])}.")
    check_license(license)
    folder = dataset_dir(root, dataset)
    if folder.exists():
        raise DatasetExists(f"dataset {dataset!r} already exists at {folder.relative_to(root)}", dataset=dataset)
    params = root / "params.yaml"
    if params.is_file():  # a pipeline key another dataset holds is refused before anything is written
        params_item((yaml.safe_load(params.read_text(encoding="utf-8")) or {}).get("datasets") or {}, dataset, path=params)
    (folder / "raw").mkdir(parents=True)
    kind = records.get(record)
    example = {"id": "example-0001", **kind.example}
    labels = sorted({v for k, v in example.items() if k in ("label", "intent", "fault", "defect") and v})
    if kind.media_extension:
        example[next(iter(record_schema(record).media_fields))] = "raw/example-0001." + kind.media_extension
    doc = {
        "title": title or dataset.split("/")[1].replace("-", " ").capitalize(),
        "description": f"TODO: what the {modality} data is, where it comes from, what it is for.",
        "modality": modality,
        "record": record,
        "tasks": [],
        "languages": ["en"] if kind.languages else [],
        "license": license,
        "source": {"format": "jsonl", "files": [{"path": "raw/records.jsonl"}]},
        "labels": labels,
        "split": {"group_key": kind.group_key, "stratify_key": None, "ratios": dict(DEFAULT_RATIOS), "seed": 0},
        "creators": [{"name": "TODO", "role": "data"}],
        "citation": "",
        "privacy": "TODO: does the data hold personal data (voices, faces, names)? How was consent obtained?",
        "tags": [],
    }
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (folder / "raw" / "records.jsonl").write_text("# one JSON record per line, for example:\n# " + json.dumps(example, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(f"# {doc['title']}\n\nTODO: the dataset card's prose: motivation, collection, annotation, known limitations.\n", encoding="utf-8")
    add_to_params(root, dataset, source=f"registry/{dataset}/raw")
    return folder


PARAMS_HEADER = """\
# One entry per dataset in registry/ (written by `hub new`); dvc.yaml loops over them.
#   id:     the dataset
#   source: what the pipeline watches for the raw data (a folder, or the loader's module)
#   split:  overrides of dataset.yaml's split policy (seed, ratios, duplicates): changing
#           them rebuilds that dataset only
"""


def params_key(dataset: str) -> str:
    """The dataset's key in params.yaml and its DVC stage names: one key per dataset id.

    DVC stage names take letters, digits, '_' and '-' only, so the '/' becomes '-' and the
    characters that would make two ids meet are escaped with '_': in the namespace '-' is
    `_-` (the first bare '-' is the separator), and in both parts '_' is `__` and '.' is `_d`.
    `demo/espeak-speech` stays `demo-espeak-speech`; `a-b/c` is `a_-b-c` and `a/b-c` is `a-b-c`.
    """
    namespace, name = parse_dataset_id(dataset)

    def escape(part: str, *, dash: bool) -> str:
        part = part.replace("_", "__").replace(".", "_d")
        return part.replace("-", "_-") if dash else part

    return f"{escape(namespace, dash=True)}-{escape(name, dash=False)}"


def params_item(datasets: dict[str, Any], dataset: str, *, path: Path) -> dict[str, Any]:
    """The params.yaml entry of `dataset`: under its key, or under an older key with its `id`.

    Raises `HubError` when the key holds another dataset, or two entries claim the same id, so
    that no dataset silently takes another's place in the pipeline.
    """
    key = params_key(dataset)
    claims = [k for k, item in datasets.items() if isinstance(item, dict) and item.get("id") == dataset]
    item = datasets.get(key)
    if isinstance(item, dict) and item.get("id") not in (None, dataset):
        raise HubError(f"{path.name}: the pipeline key {key!r} of {dataset!r} holds {item.get('id')!r}", path=str(path),
                       hint=f"Give the entry of {item.get('id')!r} its own key ({params_key(str(item.get('id')))!r} if it is a valid id), or run `hub new` again.")
    if len(claims) > 1:
        raise HubError(f"{path.name}: {len(claims)} pipeline entries claim {dataset!r}: {', '.join(sorted(claims))}", path=str(path),
                       hint=f"Keep one of them, under the key {key!r}.")
    if isinstance(item, dict):
        return item
    return datasets[claims[0]] if claims else {}


ANNOTATIONS_README = """# Annotations

`labels.jsonl` here (written by `hub annotate pull`) holds the labels that came back from
Label Studio, one JSON line per labelled field of a record: `{"id", "field", "value",
"provenance"}`; later lines win. Validation lays them over the source records, so the next
version holds them. Commit this folder with the entry; the DVC pipeline watches it.
"""


def _ensure_annotations_folder(folder: Path) -> None:
    """`annotations/` with its README: the pipeline's stages depend on the folder."""
    readme = folder / "annotations" / "README.md"
    if not readme.is_file():
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(ANNOTATIONS_README, encoding="utf-8")


def add_to_params(root: Path, dataset: str, *, source: str) -> None:
    """List `dataset` in params.yaml so dvc.yaml's `foreach` stages pick it up.

    `source` is the path the pipeline watches for the raw data (a folder or a loader module);
    `split` (empty at first) overrides the entry's split policy, e.g. `{seed: 7}`.
    """
    path = root / "params.yaml"
    params = (yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None) or {}
    datasets = params.get("datasets") or {}
    key = params_key(dataset)
    params_item(datasets, dataset, path=path)  # refuses a key that another dataset holds
    for legacy in [k for k, item in datasets.items() if k != key and isinstance(item, dict) and item.get("id") == dataset]:
        del datasets[legacy]  # an entry written under an older key scheme moves to its key
    datasets[key] = {"id": dataset, "source": source, "split": {}}
    _ensure_annotations_folder(dataset_dir(root, dataset))
    params["datasets"] = dict(sorted(datasets.items()))
    header = PARAMS_HEADER
    path.write_text(header + yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
