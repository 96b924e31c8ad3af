"""Croissant 1.0 JSON-LD (https://mlcommons.org/croissant/1.0) for one published version.

The document describes the version the way the Croissant spec and the Hugging Face
dataset viewer do:

- the dataset-level properties the spec requires (`@context`, `@type`, `conformsTo`, name,
  description, license, url, creator, datePublished) and those it recommends where the
  entry has them (version, keywords, inLanguage, sameAs, citeAs);
- `distribution`: one `cr:FileObject` per Parquet shard, with the sha256 and size the
  manifest recorded, and the `cr:FileSet` `parquet-files` (`data/*-of-*.parquet`) the records
  are read from;
- provenance (`provenance`): the parents of a derived version, the PII gate and its
  redaction, the labels pulled from annotation, as PROV-O and Croissant RAI properties;
- `recordSet`: `splits` (dataType `cr:Split`, one record per split: train, validation,
  test) and `default`, the records: one field per column of the manifest's
  `datasets.Features`, plus `default/split`, taken from the shard's file name and
  referencing `splits/name`.

`contentUrl`s are absolute when a `base_url` is given (the server's resolve URL of the
version) and relative to the version folder otherwise, so the document works when written
as `croissant.json` next to `manifest.json` (mlcroissant resolves a relative `contentUrl`
and a FileSet's `includes` against the folder of the JSON-LD file).

What mlcroissant 1.1.1 does with it: it validates either form; it loads records only from
a local copy of the version folder. It can union several files only through a FileSet read
from a local folder (or a git repository or archive), not one contained in plain Parquet
FileObjects, so the records come from the FileSet: it does not check the shards' sha256 on
load, and with remote `contentUrl`s it cannot list `data/*.parquet` over HTTP. A
FileObject-per-shard record set would check hashes but could not yield one record set
with a split field across shards.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from hub import blind
from hub.store import Revision

__all__ = ["CONTEXT", "PROV", "RECORD_SET", "SPLITS", "croissant", "provenance"]

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
PROV = "http://www.w3.org/ns/prov#"  # PROV-O terms are written as full IRIs: the context stays mlcroissant's own

_CR_TERMS = (
    "citeAs column equivalentProperty extract field fileObject fileProperty fileSet format includes isLiveDataset "
    "jsonPath key md5 parentField path recordSet references regex repeated replace samplingRate separator source subField transform"
)
CONTEXT: dict[str, Any] = {  # the Croissant 1.0 context, as mlcroissant and the HF viewer write it
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    **{term: f"cr:{term}" for term in _CR_TERMS.split()},
}

PARQUET = "application/x-parquet"
RECORD_SET = "default"  # the records, as the Hugging Face viewer names them
SPLITS = "splits"
FILESET = "parquet-files"
_SPLIT_URLS = {"train": "cr:TrainingSplit", "validation": "cr:ValidationSplit", "test": "cr:TestSplit"}
_VALUE_TYPES = [
    (re.compile(r"^(u?int\d+)$"), "sc:Integer"),
    (re.compile(r"^(float\d+|double|decimal.*)$"), "sc:Float"),
    (re.compile(r"^bool$"), "sc:Boolean"),
    (re.compile(r"^(date\d+.*)$"), "sc:Date"),
    (re.compile(r"^(timestamp.*)$"), "sc:DateTime"),
]
_MEDIA_TYPES = {"Image": "sc:ImageObject", "Audio": "sc:AudioObject", "Video": "sc:VideoObject"}  # stored as struct<bytes, path>
_LIST_TYPES = ("List", "Sequence", "LargeList")


def croissant(revision: Revision, base_url: str | None = None) -> dict[str, Any]:
    """The Croissant 1.0 JSON-LD document of `revision`, as JSON-ready data.

    `base_url` is the URL the version's files are served under (ending in `/`); without it
    the `contentUrl`s are paths relative to the version folder. Reads the entry's
    `dataset.yaml` for the catalog fields; raises `DatasetNotFound` if it is gone.
    """
    from hub.entry import load_entry

    summary = load_entry(revision.root, revision.dataset).summary()
    manifest = revision.manifest
    name = revision.dataset.split("/")[-1]
    page = _dataset_page(base_url)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": name,
        "alternateName": [revision.dataset, summary.get("title") or name],
        "description": summary.get("description") or summary.get("title") or revision.dataset,
        "license": _licenses(manifest.get("license") or {}, summary.get("license")),
        "url": page or summary.get("homepage") or "README.md",  # else the card beside this document
        "creator": [_creator(c) for c in summary.get("creators") or []] or [{"@type": "sc:Organization", "name": revision.dataset.split("/")[0]}],
        "datePublished": manifest.get("created"),
        "version": revision.version,
        "keywords": [k for k in [*summary.get("tasks", []), *summary.get("tags", []), summary.get("modality")] if k],
        "inLanguage": summary.get("languages") or None,
        "sameAs": summary.get("homepage") if page and summary.get("homepage") else None,
        "citeAs": (summary.get("citation") or "").strip() or None,
        "isAccessibleForFree": (summary.get("access") or "public") == "public",
        "identifier": revision.commit,
    }
    doc.update(provenance(manifest))
    doc = {k: v for k, v in doc.items() if v not in (None, [], "")}
    shards = revision.split_files()
    doc["distribution"] = [_file_object(f.path, f.sha256 or "", f.size, f.split, base_url) for f in shards]
    doc["distribution"].append({
        "@type": "cr:FileSet",
        "@id": FILESET,
        "name": FILESET,
        "description": "The Parquet shards of every split, named <split>-NNNNN-of-NNNNN.parquet.",
        "encodingFormat": PARQUET,
        "includes": "data/*-of-*.parquet",  # the shards only (not data/blind/ or data/index/: a glob here crosses folders)
    })
    splits = [s for s in manifest.get("splits", {}) if any(f.split == s for f in shards)]
    doc["recordSet"] = [_split_record_set(splits), _main_record_set(name, splits, manifest.get("features") or {}, _media_fields(manifest))]
    blind.describe_croissant(doc, manifest)  # a blind split's records without the fields its files lack
    return doc


def provenance(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the version was made from and what was done to it, as PROV-O and Croissant RAI
    properties: the parents of a derived version (`prov:wasDerivedFrom`, each with its
    license and manifest sha256), the PII gate (`rai:personalSensitiveInformation`, and the
    redaction as a `prov:Activity`), the labels pulled from annotation (annotators, agreement)."""
    out: dict[str, Any] = {}
    parents = (manifest.get("lineage") or {}).get("parents") or []
    if parents:
        out[f"{PROV}wasDerivedFrom"] = [{"@type": f"{PROV}Entity", "@id": f"{p['dataset']}@{p['version']}", "name": p["dataset"], "version": p["version"],
                                       "license": p["license"], "identifier": f"sha256:{p['manifest_sha256']}",
                                       **({"description": f"The {p['split']} split"} if p.get("split") else {})} for p in parents]
    activities = []
    pii = manifest.get("pii")
    if pii:
        found = ", ".join(f"{kind} {n}" for kind, n in sorted(pii["findings"].items())) or "none"
        out["rai:personalSensitiveInformation"] = (f"PII gate policy {pii['policy']} over {', '.join(pii['fields']) or 'no free-text field'}; "
                                                   f"found at validation: {found}" + (f" (in {pii['rows']} records)" if pii["rows"] else "") + ".")
        if "redacted" in pii:
            replaced = ", ".join(f"{kind} {n}" for kind, n in sorted(pii["redacted"].items())) or "none"
            activities.append({"@type": f"{PROV}Activity", "name": "pii-redaction",
                               "description": f"Spans of personal data replaced by typed placeholders (<EMAIL>, ...): {replaced}."})
    annotation = manifest.get("annotation")
    if annotation:
        agreement = annotation.get("agreement") or {}
        out["rai:dataAnnotationPlatform"] = "Label Studio"
        out["rai:dataAnnotationAnalysis"] = (f"{len(annotation.get('annotators') or [])} annotators (pseudonymized); agreement "
                                             f"({agreement.get('measure', '-')}): {agreement.get('overall')} over {agreement.get('tasks_compared', 0)} tasks.")
        activities.append({"@type": f"{PROV}Activity", "name": "annotation", "description": f"Labels of {annotation.get('field')} resolved by rule "
                           f"{annotation.get('rule')} from Label Studio project {(annotation.get('project') or {}).get('id')}."})
    if activities:
        out[f"{PROV}wasGeneratedBy"] = activities
    return out


def _dataset_page(base_url: str | None) -> str | None:
    """The dataset's page on the server: the resolve URL without `/resolve/<revision>/`."""
    if not base_url:
        return None
    return base_url.split("/resolve/")[0] if "/resolve/" in base_url else base_url.rstrip("/")


def _licenses(license: dict[str, Any], expression: str | None) -> list[Any]:
    """One SPDX URL per license of the expression; a CreativeWork for `LicenseRef-` ids."""
    out: list[Any] = []
    for key in license.get("licenses") or ([expression] if expression else []):
        if key.split(":")[-1].startswith("LicenseRef-"):
            out.append({"@type": "sc:CreativeWork", "name": key, "description": "Custom license: read the dataset card (README.md)."})
        else:
            out.append(f"https://spdx.org/licenses/{key}.html")
    return out


def _creator(creator: dict[str, Any]) -> dict[str, Any]:
    """A `creators` item of dataset.yaml: free-text names, so typed as an Organization."""
    item = {"@type": "sc:Organization", "name": creator["name"], "description": creator.get("role"), "url": creator.get("url")}
    return {k: v for k, v in item.items() if v}


def _file_object(path: str, sha256: str, size: int, split: str | None, base_url: str | None) -> dict[str, Any]:
    """One Parquet shard, at `base_url` + its path or at its path in the version folder."""
    url = base_url.rstrip("/") + "/" + quote(path) if base_url else path
    return {
        "@type": "cr:FileObject",
        "@id": path,
        "name": path.rsplit("/", 1)[-1],
        "description": f"Parquet shard of the {split} split." if split else "Parquet shard.",
        "contentUrl": url,
        "contentSize": f"{size} B",
        "encodingFormat": PARQUET,
        "sha256": sha256,
    }


def _split_record_set(splits: list[str]) -> dict[str, Any]:
    """The `cr:Split` enumeration, inline: a name and the Croissant split class."""
    rid = SPLITS
    return {
        "@type": "cr:RecordSet",
        "@id": rid,
        "name": rid,
        "description": "The splits of the dataset.",
        "dataType": "cr:Split",
        "key": {"@id": f"{rid}/name"},
        "field": [
            {"@type": "cr:Field", "@id": f"{rid}/name", "name": "name", "description": "The name of the split.", "dataType": "sc:Text"},
            {"@type": "cr:Field", "@id": f"{rid}/url", "name": "url", "description": "The kind of split.", "dataType": "sc:URL"},
        ],
        "data": [{f"{rid}/name": s, f"{rid}/url": _SPLIT_URLS.get(s, "cr:Split")} for s in splits],
    }


def _media_fields(manifest: dict[str, Any]) -> dict[str, str]:
    """The record type's media columns and their kind (`Video`, ...): a clip is published as a
    plain struct<bytes, path> (`datasets` decodes a `Video` feature only with torchcodec), so
    its feature does not say it is one; the record schema does."""
    from hub import records

    record = records.RECORD_TYPES.get(manifest.get("record", ""))
    return record.record_schema(manifest.get("labels") or []).media_fields if record is not None else {}


def _main_record_set(name: str, splits: list[str], features: dict[str, Any], media: dict[str, str]) -> dict[str, Any]:
    """The records: the split (from the shard name) and one field per feature (media as their schema.org object)."""
    alternatives = "|".join(re.escape(s) for s in splits)
    split_field = {
        "@type": "cr:Field",
        "@id": f"{RECORD_SET}/split",
        "name": "split",
        "description": "The split the record belongs to, from the name of its shard.",
        "dataType": "sc:Text",
        # matches a shard path and, once extracted, the split name itself (mlcroissant
        # applies the transform twice when it joins on the field)
        "source": {
            "fileSet": {"@id": FILESET},
            "extract": {"fileProperty": "fullpath"},
            "transform": {"regex": rf"^(?:.*/)?({alternatives})(?:-\d+-of-\d+\.parquet)?$"},
        },
        "references": {"field": {"@id": f"{SPLITS}/name"}},
    }
    fields = [_field(f"{RECORD_SET}/{column}", column, {"_type": media[column]} if column in media else feature, column, None)
              for column, feature in features.items()]
    return {
        "@type": "cr:RecordSet",
        "@id": RECORD_SET,
        "name": RECORD_SET,
        "description": f"The records of {name}, one per row of the Parquet shards.",
        "field": [split_field, *fields],
    }


def _source(column: str, json_path: str | None = None) -> dict[str, Any]:
    """Read `column` of the Parquet files (and `json_path` inside a struct value)."""
    source: dict[str, Any] = {"fileSet": {"@id": FILESET}, "extract": {"column": column}}
    if json_path:
        source["transform"] = {"jsonPath": json_path}
    return source


def _field(fid: str, label: str, feature: Any, column: str, json_path: str | None) -> dict[str, Any]:
    """A `cr:Field` for one `datasets` feature, read from `column` (and `json_path` in it)."""
    field: dict[str, Any] = {"@type": "cr:Field", "@id": fid, "name": label}
    kind = feature.get("_type") if isinstance(feature, dict) else None
    if isinstance(feature, list):  # legacy `[feature]` list syntax
        feature, kind = {"_type": "List", "feature": feature[0]}, "List"
    if kind in _LIST_TYPES:
        inner = _field(fid, label, feature["feature"], column, json_path)
        inner["repeated"] = True
        return inner
    if kind in _MEDIA_TYPES:
        path = f"{json_path}.bytes" if json_path else "bytes"
        field["description"] = f"The {kind.lower()} file's bytes (the column is a struct<bytes, path>)."
        return {**field, "dataType": _MEDIA_TYPES[kind], "source": _source(column, path)}
    if kind == "ClassLabel":
        names = feature.get("names") or []
        field["description"] = "Class index into: " + ", ".join(f"{i}={n}" for i, n in enumerate(names)) if names else "Class index (no classes defined)."
        field["dataType"] = ["sc:Integer", "cr:Label"]
    elif kind == "Value":
        dtype = feature.get("dtype", "string")
        field["dataType"] = next((t for rx, t in _VALUE_TYPES if rx.match(dtype)), "sc:Text")
    elif kind is None and isinstance(feature, dict):  # a struct: one sub-field per key
        field["subField"] = [_field(f"{fid}/{k}", k, v, column, f"{json_path}.{k}" if json_path else k) for k, v in feature.items()]
        return field
    else:
        field["dataType"] = "sc:Text"
    field["source"] = _source(column, json_path)
    return field
