"""Blind splits: published without their labels, scored only by the server.

`split.blind: [test]` in dataset.yaml publishes the test split with the record type's
labelled fields (`labelled_fields`: what its evaluations score and its annotation tasks
fill) removed from its shards. The withheld values, with each record's id, go to
`data/blind/<split>-labels.parquet`: into DVC with the shards, but not into the manifest's
`files`, and the server serves only the files a manifest lists (`hub.store`), so no route
(rows, media, resolve, the Hugging Face API, SQL) can hand them out. The manifest's `blind`
names the file with its sha256 and size, so the version still verifies.

- `withhold`: after the shards are written, before DVC stores them and the manifest lists them;
- `mark`: once the card and the Croissant file are written, they say which splits are blind
  (the card's blind splits are a config of their own, `blind`, whose features lack the
  labels, so `datasets.load_dataset(..., "blind", split="test")` reads them);
  `describe_croissant` is the Croissant part, for any Croissant document of the version;
- `labels`: the withheld labels of one split, checked against the manifest (server scoring).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import HubError, IntegrityError

if TYPE_CHECKING:
    import pyarrow as pa

    from hub.entry import Entry
    from hub.records.base import RecordType
    from hub.store import Revision

__all__ = ["CONFIG", "describe_croissant", "labelled_fields", "labels", "mark", "withhold", "withheld"]

CONFIG = "blind"  # the card's config of the blind splits


def labelled_fields(record_type: RecordType) -> list[str]:
    """The fields a person or a model labels in records of `record_type`: the fields its
    evaluations score and its annotation tasks fill, in that order."""
    return list(dict.fromkeys([*(s.field for s in record_type.evaluations), *(t.field for t in record_type.tasks)]))


def withheld(manifest: dict[str, Any], split: str) -> list[str]:
    """The fields removed from `split`'s shards ([] for a split that is not blind)."""
    return list(((manifest.get("blind") or {}).get(split) or {}).get("withheld") or [])


def _labels_path(split: str) -> str:
    return f"data/blind/{split}-labels.parquet"


def withhold(staging: Path, splits: dict[str, dict[str, Any]], files: list[dict[str, Any]], entry: Entry) -> dict[str, Any] | None:
    """Rewrite the blind splits' shards under `staging` without their labelled fields and keep
    those in `data/blind/<split>-labels.parquet`; update `files` (size, sha256, md5) and
    `splits` (bytes) in place. Returns the manifest's `blind` section, or None without blind splits."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hub import records
    from hub.hashing import HashingWriter
    from hub.shards import writer_options

    names = [name for name in (entry.split.blind if entry.split else ()) if name in splits]
    if not names:
        return None
    features = entry.schema.features
    fields = [f for f in labelled_fields(records.get(entry.schema.record)) if f in features]
    kept = datasets.Features({k: v for k, v in features.items() if k not in fields})
    out: dict[str, Any] = {}
    for name in names:
        shards = [f for f in files if f["split"] == name]
        pieces = []
        for shard in shards:
            path = staging / shard["path"]
            meta = pq.read_metadata(path)
            group = meta.row_group(0).num_rows if meta.num_row_groups else 1  # kept: the rows API reads by row group
            table = pq.read_table(path, schema=features.arrow_schema)
            pieces.append(table.select(["id", *fields]))
            rest = table.drop_columns(fields).cast(kept.arrow_schema)
            sink = HashingWriter(path)
            with pq.ParquetWriter(sink, kept.arrow_schema, **writer_options(rest)) as writer:
                writer.write_table(rest, row_group_size=max(1, group))
            sink.close()
            shard.update(size=path.stat().st_size, sha256=sink.sha256, md5=sink.md5)
        splits[name]["bytes"] = sum(f["size"] for f in shards)
        labels_path = staging / _labels_path(name)
        labels_path.parent.mkdir(parents=True, exist_ok=True)
        sink = HashingWriter(labels_path)
        pq.write_table(pa.concat_tables(pieces), sink)
        sink.close()
        out[name] = {"withheld": fields, "labels": {"path": _labels_path(name), "rows": splits[name]["rows"], "size": labels_path.stat().st_size, "sha256": sink.sha256}}
    return out


def labels(revision: Revision, split: str) -> pa.Table:
    """`id` and the withheld fields of the blind `split` of `revision`, fetched if needed (from
    DVC, or that file alone from an S3 remote) and checked against the sha256 its manifest
    records. Raises `HubError` for a split that is not blind, `IntegrityError` for a labels
    file that is not the one published."""
    import pyarrow.parquet as pq

    from hub.hashing import sha256_file

    entry = ((revision.manifest.get("blind") or {}).get(split) or {}).get("labels")
    if not entry:
        raise HubError(f"{revision.dataset}@{revision.version}'s {split} split is not blind", dataset=revision.dataset, split=split)
    path = revision.fetched(entry["path"], entry["size"], entry["sha256"])  # on disk, or copied from the object store
    if not path.is_file() or sha256_file(path) != entry["sha256"]:
        raise IntegrityError(f"{revision.dataset}@{revision.version}'s withheld labels of {split} ({entry['path']}) are missing or not the ones published",
                             hint="Fetch the version's data again with `dvc pull`.", dataset=revision.dataset, version=revision.version, path=entry["path"])
    return pq.read_table(path)


def mark(staging: Path, manifest: dict[str, Any]) -> None:
    """Say in the staged card (README.md) which splits are blind: the card's blind splits become
    the `blind` config, with features that lack the withheld fields. (The Croissant document
    says it itself: `hub.croissant` calls `describe_croissant`, at publish and when served.)"""
    import datasets
    import yaml

    blind = manifest.get("blind") or {}
    if not blind:
        return
    card = (staging / "README.md").read_text(encoding="utf-8")
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    features = datasets.Features.from_dict(manifest["features"])
    info = meta["dataset_info"]
    rest = {k: v for k, v in info.items() if k not in ("features", "splits", "dataset_size")}

    def config(name: str, splits: list[dict[str, Any]], dropped: list[str]) -> dict[str, Any]:
        kept = datasets.Features({k: v for k, v in features.items() if k not in dropped})
        return {"config_name": name, "features": datasets.DatasetInfo(features=kept)._to_yaml_dict()["features"], "splits": splits,
                "dataset_size": sum(s["num_bytes"] for s in splits), **rest}

    open_splits = [s for s in info["splits"] if s["name"] not in blind]
    dropped = sorted({f for b in blind.values() for f in b["withheld"]})
    meta["configs"] = [*([{"config_name": "default", "data_files": [{"split": s["name"], "path": f"data/{s['name']}-*"} for s in open_splits]}] if open_splits else []),
                       {"config_name": CONFIG, "data_files": [{"split": name, "path": f"data/{name}-*"} for name in blind]}]
    meta["dataset_info"] = [*([config("default", open_splits, [])] if open_splits else []),
                            config(CONFIG, [s for s in info["splits"] if s["name"] in blind], dropped)]
    text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
    (staging / "README.md").write_text(f"---\n{text}\n---\n{body.rstrip()}\n\n{_card_section(blind)}", encoding="utf-8")


def describe_croissant(doc: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Say in a Croissant document (`hub.croissant`) which splits are blind and which fields
    their files lack (in the dataset's description and each withheld field's). The blind
    splits' shards have no withheld column, so they are read as their own FileSet and record
    set, `blind` (the card's config), whose fields are the others; `default` reads the open
    splits' shards only."""
    from hub.croissant import FILESET, RECORD_SET

    blind = manifest.get("blind") or {}
    if not blind:
        return
    doc["description"] = f"{doc.get('description', '').rstrip()} {_sentence(blind)}".strip()
    files = next(d for d in doc["distribution"] if d.get("@id") == FILESET)
    default = next(r for r in doc["recordSet"] if r.get("@id") == RECORD_SET)
    dropped = {f for b in blind.values() for f in b["withheld"]}
    hidden = f"{FILESET}-{CONFIG}"
    doc["distribution"].append({**files, "@id": hidden, "name": hidden, "includes": [f"data/{name}-*-of-*.parquet" for name in blind],
                                "description": f"The Parquet shards of the blind splits ({', '.join(blind)}), without their withheld fields."})
    doc["recordSet"].append({"@type": "cr:RecordSet", "@id": CONFIG, "name": CONFIG, "description": "The records of the blind splits, one per row of their shards.",
                             "field": [_moved(item, CONFIG, hidden) for item in default["field"] if item.get("name") not in dropped]})
    open_splits = [name for name in manifest.get("splits", {}) if name not in blind]
    if open_splits:
        files["includes"] = [f"data/{name}-*-of-*.parquet" for name in open_splits]
    else:
        doc["distribution"].remove(files)
        doc["recordSet"].remove(default)
    for record_set in doc.get("recordSet", []):
        for item in record_set.get("field", []):
            splits = [name for name, b in blind.items() if item.get("name") in b["withheld"]]
            if splits:
                said = item.get("description", "").rstrip()
                said += "." if said and not said.endswith(".") else ""
                item["description"] = f"{said} Withheld in the blind {' and '.join(splits)} split{'s' if len(splits) > 1 else ''}: not in its files.".strip()


def _moved(item: dict[str, Any], record_set: str, fileset: str) -> dict[str, Any]:
    """A field of Croissant's `default` record set as one of `record_set`, read from `fileset`."""
    from hub.croissant import RECORD_SET

    out = {**item, "@id": record_set + item["@id"].removeprefix(RECORD_SET)}
    if "fileSet" in out.get("source", {}):
        out["source"] = {**out["source"], "fileSet": {"@id": fileset}}
    if "subField" in out:
        out["subField"] = [_moved(sub, record_set, fileset) for sub in out["subField"]]
    return out


def _sentence(blind: dict[str, Any]) -> str:
    parts = [f"the {name} split is blind (published without {', '.join(b['withheld'])})" for name, b in blind.items()]
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + ": the hub's server scores predictions on it (POST /api/datasets/{ns}/{name}/versions/{version}/evaluate)."


def _card_section(blind: dict[str, Any]) -> str:
    names = list(blind)
    lines = ["## Blind splits", "",
             f"{_sentence(blind)} Its labels are kept by the hub and never served.", "",
             f"Load it with `datasets.load_dataset(..., \"{CONFIG}\", split=\"{names[0]}\")` (features without the withheld fields); "
             f"score a model with `hub eval ns/name@X.Y.Z --split {names[0]} --predictions FILE --server URL`."]
    return "\n".join(lines) + "\n"
