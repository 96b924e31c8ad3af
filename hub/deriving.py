"""Derived datasets (`hub derive`): a registry entry made of records of published versions.

`derive` reads each parent's shards (checked against its manifest), keeps the records a filter
selects (a DuckDB SQL condition over the record fields, class labels as their names, and
`parent`), gives each record an id and a group key prefixed by its parent (`demo.digits@1.0.0:digits-00042`,
so two parents never share one) and a `parent` field, and writes them as the entry's source,
`raw/records.parquet`, whose sha256 dataset.yaml pins. The parents (version, split, license,
creators, citation, manifest sha256; a parent whose records carry their own licenses is under
the effective license of the records kept, `hub.license_rules`) travel in that file's metadata (`hub.derived`): validation
checks the entry's license against them on every run (`license_problems`, `hub.license_rules`), and
publishing names them in the lineage and the version's NOTICE.md.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from hub.arrowutil import map_leaf
from hub.errors import DatasetExists, HubError, LicenseError, VersionNotFound
from hub.hashing import sha256_file
from hub.ids import Version, check_dataset_id
from hub.license_rules import check_derived
from hub.repo import dataset_dir

if TYPE_CHECKING:
    from hub.entry import Entry
    from hub.report import Report

__all__ = ["Derived", "Parent", "derive", "license_problems", "parents_of", "parse_parent"]

METADATA_KEY = b"hub.derived"
RECORDS = "raw/records.parquet"


@dataclass(frozen=True)
class Parent:
    """One `--from`: a published version of a dataset, and one of its splits (None: all)."""

    dataset: str
    version: str
    split: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def prefix(self) -> str:
        """What the parent's record ids and group keys are prefixed with (an id holds no '/')."""
        return f"{self.dataset.replace('/', '.')}@{self.version}:"


@dataclass
class Derived:
    """A derived entry as written: where, how many records from each parent, and its validation."""

    dataset: str
    path: Path
    license: str
    parents: list[dict[str, Any]]
    report: Report
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "path": str(self.path), "license": self.license, "rows": self.rows, "parents": self.parents,
                "report": self.report.to_dict()}


def parse_parent(text: str) -> Parent:
    """`ns/name@X.Y.Z[:split]` as a `Parent`; raises `HubError` naming what is missing."""
    ref, _, split = text.partition(":")
    dataset, _, version = ref.partition("@")
    check_dataset_id(dataset)
    if not version:
        raise HubError(f"--from {text!r} names no version", hint=f"Derive from a published version: {dataset}@1.0.0 (`hub show {dataset}` lists them).")
    return Parent(dataset, str(Version.parse(version)), split or None)


def derive(root: Path, dataset: str, sources: list[str], *, filter: str | None = None, license: str | None = None,
           accept_license_risk: bool = False, title: str | None = None) -> Derived:
    """Write `registry/<dataset>/` from the records of the published versions `sources`
    (`ns/name@X.Y.Z[:split]`), then validate it; return the `Derived` entry.

    `license` (SPDX) defaults to the parents' one license. Nothing is written when a parent is
    unknown (`DatasetNotFound`, `VersionNotFound`), the parents hold different record types or
    the filter does not parse (`HubError`), a shard does not match its manifest (`StorageError`),
    or the license drops a parent's terms (`LicenseError`: every parent it fails, by name).
    """
    from hub.entry import add_to_params, load_entry
    from hub.store import resolve_revision
    from hub.validation import validate

    check_dataset_id(dataset)
    folder = dataset_dir(root, dataset)
    if folder.exists():
        raise DatasetExists(f"dataset {dataset!r} already exists at {folder.relative_to(root)}", dataset=dataset)
    if not sources:
        raise HubError("a derived dataset needs at least one parent", hint="Pass --from ns/name@X.Y.Z[:split] once per parent.")
    parents = [parse_parent(text) for text in sources]
    revisions = [resolve_revision(root, p.dataset, p.version) for p in parents]
    records = {r.manifest["record"] for r in revisions}
    if len(records) > 1:
        kinds = ", ".join(f"{r.dataset}@{r.version} holds {r.manifest['record']} records" for r in revisions)
        raise HubError(f"the parents are of different record types: {kinds}", hint="Derive from parents of one record type.")
    entries = [load_entry(root, p.dataset, check=False).data for p in parents]
    tables = [_records(parent, revision, filter) for parent, revision in zip(parents, revisions)]
    licenses = {p.ref: _kept_license(r, table) for p, r, table in zip(parents, revisions, tables)}
    declared = license or _common_license(licenses)
    _check_licenses(declared, licenses, accept_license_risk)
    info = []
    for parent, revision, data, table in zip(parents, revisions, entries, tables):
        info.append({"dataset": parent.dataset, "version": parent.version, "split": parent.split, "rows": table.num_rows,
                     "license": licenses[parent.ref], "manifest_sha256": sha256_file(revision.path / "manifest.json"),
                     "title": data.get("title"), "creators": list(data.get("creators") or []), "citation": data.get("citation"),
                     "homepage": data.get("homepage")})
    table = pa.concat_tables(tables, promote_options="permissive")
    derivation = {"parents": info, "filter": filter, "accept_license_risk": accept_license_risk}
    staging = folder.with_name(f".{folder.name}.deriving")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "raw").mkdir(parents=True)
    try:
        pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(derivation, ensure_ascii=False)}), staging / RECORDS)
        doc = _entry_yaml(dataset, title, declared, revisions, entries, info, filter, sha256_file(staging / RECORDS))
        (staging / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        (staging / "README.md").write_text(_readme(doc["title"], info, filter), encoding="utf-8")
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    add_to_params(root, dataset, source=f"registry/{dataset}/raw")
    report = validate(root, dataset).report
    return Derived(dataset, folder, declared, info, report, table.num_rows)


def _kept_license(revision: Any, table: pa.Table) -> str:
    """The license of a parent's records that are kept: its license, or, when its records carry
    their own, the effective license of the kept ones (a filter on `license` keeps a subset
    whose terms are those of its records, with the parent's declared license)."""
    from hub.license import check_license
    from hub.license_rules import effective_license

    lic = revision.manifest["license"]
    if "per_record" not in lic:
        return lic["expression"]
    return effective_license(check_license(lic["declared"]), table)["expression"]


def _common_license(licenses: dict[str, str]) -> str:
    distinct = sorted(set(licenses.values()))
    if len(distinct) == 1:
        return distinct[0]
    fits = [lic for lic in distinct if not check_derived(lic, licenses)]
    hint = f"Pass --license {fits[0]}: it keeps every parent's terms." if fits else "Pass --license with an SPDX license that keeps every parent's terms."
    raise LicenseError(f"the parents are under different licenses ({', '.join(f'{ref}: {lic}' for ref, lic in licenses.items())}): name the derived dataset's license",
                       hint=hint)


def _check_licenses(declared: str, licenses: dict[str, str], accept_license_risk: bool) -> None:
    findings = check_derived(declared, licenses, accept_license_risk=accept_license_risk)
    if findings:
        raise LicenseError("; ".join(f.message for f in findings), hint="Declare a license that keeps every parent's terms (--license), or derive from other parents.",
                           findings=[f.__dict__ for f in findings])


def _records(parent: Parent, revision: Any, condition: str | None) -> pa.Table:
    """The parent's records of its split (or all splits), labels as names, `parent` added, the
    filter applied (it may name `parent`), ids and group keys prefixed."""
    from hub.blind import withheld
    from hub.schema import record_schema

    manifest = revision.manifest
    if parent.split is not None and parent.split not in manifest["splits"]:
        raise VersionNotFound(f"{parent.ref} has no split {parent.split!r} (splits: {', '.join(manifest['splits'])})", dataset=parent.dataset, version=parent.version)
    blind = [s for s in manifest["splits"] if parent.split in (None, s) and withheld(manifest, s)]
    if blind:  # its labels are kept by the server, for scoring: a derived dataset would publish them, or records without them
        raise HubError(f"{parent.ref}: the {' and '.join(blind)} split{'s are' if len(blind) > 1 else ' is'} blind (published without "
                       f"{', '.join(withheld(manifest, blind[0]))}): it cannot be derived from",
                       hint=f"Derive from the other splits, e.g. --from {parent.ref}:{next((s for s in manifest['splits'] if s not in blind), 'train')}.")
    files = [f for f in manifest["files"] if parent.split in (None, f["split"])]
    pieces = []
    for f in files:  # on disk, or (a replica without the data) each shard copied from the object store
        where = revision.fetched(f["path"], f["size"], f["sha256"])
        pieces.append(pq.read_table(revision.verified(f["path"], f["sha256"], where=where)).replace_schema_metadata(None))
    table = pa.concat_tables(pieces)
    table = _label_names(table, record_schema(manifest["record"], manifest["labels"]).label_paths, manifest["labels"])
    parents = pa.array([parent.ref] * table.num_rows, pa.string())
    if "parent" in table.column_names:  # a derived parent's: its id prefixes keep the chain, `parent` names the nearest
        table = table.set_column(table.column_names.index("parent"), pa.field("parent", pa.string()), parents)
    else:
        table = table.append_column("parent", parents)
    if condition:
        table = _filtered(table, condition, parent)
    group_key = ((manifest.get("lineage") or {}).get("params") or {}).get("split", {}).get("group_key")
    for name in ("id", group_key):
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            i = table.column_names.index(name)
            table = table.set_column(i, table.field(i), pc.binary_join_element_wise(parent.prefix, table.column(i), ""))
    return table


def _label_names(table: pa.Table, paths: list[tuple[str, ...]], labels: list[str]) -> pa.Table:
    """Class indices back to their names (the source form a registry entry holds)."""
    names = pa.array(labels, pa.string())
    for path in paths:
        i = table.column_names.index(path[0])
        column = table.column(i)
        chunks = [map_leaf(chunk, path[1:], lambda values: names.take(values)) for chunk in column.chunks]
        kind = chunks[0].type if chunks else column.type
        table = table.set_column(i, pa.field(path[0], kind), pa.chunked_array(chunks, type=kind))
    return table


def _filtered(table: pa.Table, condition: str, parent: Parent) -> pa.Table:
    import duckdb

    from hub.arrowutil import ordered_connection

    con = ordered_connection()
    rows = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))  # the filter picks rows; `take` keeps the types
    try:
        keep = con.from_arrow(rows).filter(condition).project("__row").to_arrow_table().column(0)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise HubError(f"--filter {condition!r} does not fit the records of {parent.ref}: {first}",
                       hint="Write a SQL condition over the record fields, e.g. --filter \"label = '3'\" or --filter \"language = 'en'\".",
                       filter=condition) from None
    return table.take(keep)


def _entry_yaml(dataset: str, title: str | None, license: str, revisions: list, entries: list[dict], info: list[dict], condition: str | None,
                sha256: str) -> dict[str, Any]:
    first, data = revisions[0].manifest, entries[0]
    split = ((first.get("lineage") or {}).get("params") or {}).get("split", {})
    labels: list[str] = []
    for r in revisions:
        labels += [label for label in r.manifest["labels"] if label not in labels]
    named = "; ".join(f"{p['dataset']}@{p['version']}{':' + p['split'] if p['split'] else ''} ({p['rows']} records, {p['license']})" for p in info)
    creators: dict[str, dict[str, Any]] = {}  # by name: one person credited by two parents is listed once, with both roles
    for p in info:
        for c in p["creators"]:
            c = c if isinstance(c, dict) else {"name": str(c)}
            role = f"{c.get('role', 'creator')}, of {p['dataset']}@{p['version']}"
            known = creators.setdefault(c["name"], {**c, "role": role})
            if role not in known["role"]:
                known["role"] += f"; {role}"
    citation = "\n".join(f"% {p['dataset']}@{p['version']} ({p['license']})\n{p['citation'].strip()}" for p in info if p.get("citation"))
    doc: dict[str, Any] = {
        "title": title or f"Derived from {', '.join(p['dataset'] for p in info)}",
        "description": f"Records of {named}{f', where {condition}' if condition else ''}; each record's id is prefixed by its parent and its `parent` field names it.",
        "modality": first["modality"],
        "record": first["record"],
        "tasks": sorted({t for d in entries for t in d.get("tasks") or []}),
        "languages": sorted({lang for d in entries for lang in d.get("languages") or []}),
        "license": license,
        "source": {"format": "parquet", "files": [{"path": RECORDS, "sha256": sha256}]},
        "labels": labels,
        "split": {"group_key": split.get("group_key") or "id", "stratify_key": split.get("stratify_key"), "ratios": split.get("ratios") or {"train": 0.8, "validation": 0.1, "test": 0.1},
                  "seed": split.get("seed", 0)},
        "creators": list(creators.values()),
        "citation": citation,
        "privacy": "\n\n".join(f"{p['dataset']}@{p['version']}: {d['privacy'].strip()}" for p, d in zip(info, entries) if d.get("privacy")) or None,
        "tags": sorted({"derived", *(t for d in entries for t in d.get("tags") or [] if t != "demo")}),
    }
    if any(d.get("pii") for d in entries):  # the strictest of the parents' PII policies
        doc["pii"] = next(mode for mode in ("reject", "redact", "report", "off") if any(d.get("pii") == mode for d in entries))
    return {k: v for k, v in doc.items() if v is not None}


def _readme(title: str, info: list[dict], condition: str | None) -> str:
    lines = [f"# {title}", "", "A dataset derived with `hub derive` from these published versions:", ""]
    lines += [f"- {p['dataset']}@{p['version']}{' (' + p['split'] + ' split)' if p['split'] else ''}: {p['rows']} records, `{p['license']}`"
              + (f" — {p['title']}" if p.get("title") else "") for p in info]
    if condition:
        lines += ["", f"Records kept: `{condition}`."]
    return "\n".join(lines) + "\n"


def parents_of(entry: Entry) -> dict[str, Any] | None:
    """The derivation an entry's source carries (`hub.derived` metadata of its Parquet file),
    or None for an entry that is not derived."""
    source = entry.data.get("source") or {}
    if source.get("format") != "parquet":
        return None
    for item in source.get("files") or []:
        path = entry.path / item.get("path", "")
        if item.get("path") == RECORDS and path.is_file():
            metadata = pq.read_schema(path).metadata or {}
            if METADATA_KEY in metadata:
                return json.loads(metadata[METADATA_KEY])
    return None


def license_problems(entry: Entry, report: Report) -> None:
    """Report every way the entry's license fails its parents' (`license-incompatible`,
    `license-unknown`, against dataset.yaml's `license`); nothing for an entry not derived."""
    derivation = parents_of(entry) if entry.license is not None else None
    if derivation is None:
        return
    rel = entry.yaml_path.relative_to(entry.path.parents[2]).as_posix()
    licenses = {f"{p['dataset']}@{p['version']}": p["license"] for p in derivation["parents"]}
    for finding in check_derived(entry.license.expression, licenses, accept_license_risk=derivation.get("accept_license_risk", False)):
        report.add(finding.slug, finding.message, file=rel, field="license")
