"""Croissant 1.1 JSON-LD (http://mlcommons.org/croissant/1.1) for one published version.

The document describes the version the way the Croissant 1.1 spec and the Hugging Face
dataset viewer do:

- the 1.1 `@context` as mlcroissant 1.1 writes it (`name` and `description` language
  containers, `isArray`, `arrayShape`, `containedIn`), with the prefixes of the vocabularies
  the spec uses beside it (`prov`, `odrl`, `duo`, `cc`);
- the dataset-level properties the spec requires (`@context`, `@type`, `conformsTo`, name,
  description, license, url, creator, datePublished) and those it recommends where the
  entry has them (version, keywords, inLanguage, sameAs, citeAs);
- `version`: MAJOR.MINOR.PATCH with the meanings 1.1 gives them, which are the hub's bump
  rules (`hub.versions`); a later version is `prov:wasRevisionOf` the one before, saying
  which kind of change it is;
- `usageInfo` ("Data Use Conditions"): the license's terms as an ODRL offer (permissions,
  attribution and share-alike duties, the non-commercial constraint as DUO's term);
- `distribution`: one `cr:FileObject` per file of the version folder with its sha256 (the
  Parquet shards' as the manifest recorded them; the card, manifest, statistics, certificate
  and plots hashed; this document cannot hash itself), and the `cr:FileSet`
  `parquet-files` (`data/*-of-*.parquet`) the records are read from;
- provenance: the parents of a derived version and the derivation, the PII gate and its
  redaction, the labels pulled from annotation, as PROV-O entities and activities and
  Croissant RAI properties (annotator count, annotations per item, agreement, PII policy);
- `recordSet`: `splits` (dataType `cr:Split`, one record per split: train, validation,
  test, with the split certificate's figures for it: rows, groups, target and reached share,
  class-share deviation) and `default`, the records: one field per column of the manifest's
  `datasets.Features`, plus `default/split`, taken from the shard's file name and
  referencing `splits/name`.

`contentUrl`s are absolute when a `base_url` is given (the server's resolve URL of the
version) and relative to the version folder otherwise, so the document works when written
as `croissant.json` next to `manifest.json` (mlcroissant resolves a relative `contentUrl`
and a FileSet's `includes` against the folder of the JSON-LD file). The server's route gives
the same document with absolute URLs.

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
from hub.store import Revision, file_sha256

__all__ = ["CONFORMS_TO", "CONTEXT", "PROV", "RECORD_SET", "SPLITS", "VOCABULARIES", "croissant", "provenance", "usage_info"]

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
PROV = "http://www.w3.org/ns/prov#"
ODRL = "http://www.w3.org/ns/odrl/2/"
DUO = "http://purl.obolibrary.org/obo/DUO_"
CC = "http://creativecommons.org/ns#"

_CR_TERMS = (
    "arrayShape citeAs column containedIn equivalentProperty extract field fileObject fileProperty fileSet format includes isArray "
    "isLiveDataset jsonPath key md5 parentField path recordSet references regex repeated replace samplingRate separator source subField transform"
)
CONTEXT: dict[str, Any] = {  # the Croissant 1.1 context, as mlcroissant 1.1 writes it, and the vocabularies the 1.1 spec uses beside it
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
    "name": {"@container": "@language"},
    "description": {"@container": "@language"},
    **{term: f"cr:{term}" for term in _CR_TERMS.split()},
    "prov": PROV,  # provenance (spec 1.1, Provenance Representation)
    "odrl": ODRL,  # usage conditions (Data Use Conditions): an odrl:Offer in usageInfo
    "duo": DUO,
    "cc": CC,
}
VOCABULARIES = {"prov": PROV, "odrl": ODRL, "duo": DUO, "cc": CC}  # CONTEXT is mlcroissant's make_context(1.1 context, **VOCABULARIES)

PARQUET = "application/x-parquet"
RECORD_SET = "default"  # the records, as the Hugging Face viewer names them
SPLITS = "splits"
FILESET = "parquet-files"
DOCUMENT = "croissant.json"  # this document, the one file of the version it cannot hash
_CHANGES = {"major": "MAJOR change (records changed, removed or moved across splits)", "minor": "MINOR change (records or fields added; the previous ones unchanged)",
            "unchanged": "PATCH (the same records)", "patch": "PATCH (the same records)"}
_FILE_ROLES = {"README.md": "The dataset card.", "manifest.json": "The version's manifest: every shard's sha256, the lineage, the checks.",
               "stats.json": "Statistics of the records.", "leakage.json": "The split certificate.", "NOTICE.md": "Attribution notices of the parents."}
_MEDIA_BY_SUFFIX = {"md": "text/markdown", "json": "application/json", "svg": "image/svg+xml", "png": "image/png", "jsonl": "application/jsonl", "txt": "text/plain"}
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
    """The Croissant 1.1 JSON-LD document of `revision`, as JSON-ready data.

    `base_url` is the URL the version's files are served under (ending in `/`); without it
    the `contentUrl`s are paths relative to the version folder. Reads the entry's
    `dataset.yaml` for the catalog fields; raises `DatasetNotFound` if it is gone.
    """
    from hub.entry import load_entry

    summary = load_entry(revision.root, revision.dataset).summary()
    manifest = revision.manifest
    name = revision.dataset.split("/")[-1]
    page = _dataset_page(base_url)
    license = manifest.get("license") or {}
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": name,
        "alternateName": [revision.dataset, summary.get("title") or name],
        "description": summary.get("description") or summary.get("title") or revision.dataset,
        "license": _licenses(license, summary.get("license")),
        "usageInfo": usage_info(license) if license else None,
        "url": page or summary.get("homepage") or "README.md",  # else the card beside this document
        "creator": [_creator(c) for c in summary.get("creators") or []] or [{"@type": "sc:Organization", "name": revision.dataset.split("/")[0]}],
        "datePublished": manifest.get("created"),
        "version": revision.version,  # MAJOR.MINOR.PATCH as Croissant 1.1 defines them: the hub picks the bump (hub.versions)
        "keywords": [k for k in [*summary.get("tasks", []), *summary.get("tags", []), summary.get("modality")] if k],
        "inLanguage": summary.get("languages") or None,
        "sameAs": summary.get("homepage") if page and summary.get("homepage") else None,
        "citeAs": (summary.get("citation") or "").strip() or None,
        "isAccessibleForFree": (summary.get("access") or "public") == "public",
        "identifier": revision.commit,
    }
    doc.update(provenance(manifest, revision.dataset))
    doc = {k: v for k, v in doc.items() if v not in (None, [], "")}
    shards = revision.split_files()
    doc["distribution"] = [_file_object(f.path, f.sha256 or "", f.size, PARQUET, f"Parquet shard of the {f.split} split." if f.split else "Parquet shard.", base_url)
                           for f in shards]
    doc["distribution"] += [_file_object(f.path, file_sha256(revision, f), f.size, _media_type(f.path), _FILE_ROLES.get(f.path, "A file of the version."), base_url)
                            for f in revision.files.values() if not f.sha256 and f.path != DOCUMENT]
    doc["distribution"].append({
        "@type": "cr:FileSet",
        "@id": FILESET,
        "name": FILESET,
        "description": "The Parquet shards of every split, named <split>-NNNNN-of-NNNNN.parquet.",
        "encodingFormat": PARQUET,
        "includes": "data/*-of-*.parquet",  # the shards only (not data/blind/ or data/index/: a glob here crosses folders)
    })
    splits = [s for s in manifest.get("splits", {}) if any(f.split == s for f in shards)]
    doc["recordSet"] = [_split_record_set(splits, manifest), _main_record_set(name, splits, manifest.get("features") or {}, _media_fields(manifest))]
    blind.describe_croissant(doc, manifest)  # a blind split's records without the fields its files lack
    return doc


def usage_info(license: dict[str, Any]) -> list[dict[str, Any]]:
    """The license's terms as Croissant 1.1 usage conditions (`usageInfo`, "Data Use
    Conditions"): an ODRL offer whose permission, duties and prohibitions come from the terms
    `hub.license` derived from the expression; non-commercial terms as DUO's "not for profit,
    non commercial use only" (DUO_0000018), as the spec's example does. A `LicenseRef-`
    license's terms are the card's: the offer says so and grants nothing it cannot know."""
    expression = license.get("expression") or " AND ".join(license.get("licenses") or [])
    offer: dict[str, Any] = {"@type": ["sc:CreativeWork", "odrl:Offer"], "name": f"Terms of {expression}",
                             "description": " ".join(license.get("obligations") or []) or "No obligations beyond the license text."}
    if license.get("custom"):
        return [offer]
    actions = [{"@id": "odrl:use"}, {"@id": "odrl:distribute"}] + ([] if license.get("no_derivatives") else [{"@id": "odrl:derive"}])
    permission: dict[str, Any] = {"@type": "odrl:Permission", "odrl:action": actions}
    duties = ([{"@type": "odrl:Duty", "odrl:action": {"@id": "odrl:attribute"}}] if license.get("attribution") else []) + \
             ([{"@type": "odrl:Duty", "odrl:action": {"@id": "cc:ShareAlike"}}] if license.get("share_alike") else [])
    if duties:
        permission["odrl:duty"] = duties
    if not license.get("commercial"):
        permission["odrl:constraint"] = [{"@type": "odrl:Constraint", "name": "Non-commercial use only", "odrl:leftOperand": {"@id": "odrl:purpose"},
                                          "odrl:operator": {"@id": "odrl:eq"}, "odrl:rightOperand": {"@id": "duo:0000018"}}]
        offer["odrl:prohibition"] = [{"@type": "odrl:Prohibition", "odrl:action": {"@id": "odrl:commercialize"}}]
    offer["odrl:permission"] = [permission]
    return [offer]


def provenance(manifest: dict[str, Any], dataset: str | None = None) -> dict[str, Any]:
    """What the version was made from and what was done to it, as PROV-O and Croissant RAI
    properties (spec 1.1, "Provenance Representation"): the version it revises
    (`prov:wasRevisionOf`, with the kind of change its semantic version says), the parents of
    a derived version (`prov:wasDerivedFrom`, each with its license and manifest sha256, and
    the derivation as a `prov:Activity` that used them), the PII gate
    (`rai:personalSensitiveInformation`, and the redaction as a `prov:Activity`), the labels
    pulled from annotation (`rai:` annotator count and agreement, the annotation activity)."""
    out: dict[str, Any] = {}
    activities = []
    parent = manifest.get("parent") or {}
    if parent.get("version") and dataset:
        change = parent.get("change") or "patch"
        out["prov:wasRevisionOf"] = {"@id": f"{dataset}@{parent['version']}", "@type": "prov:Entity", "version": parent["version"],
                                     "description": f"The previous version; this one is a {_CHANGES.get(change, change)}"}
    parents = (manifest.get("lineage") or {}).get("parents") or []
    if parents:
        ids = [f"{p['dataset']}@{p['version']}" for p in parents]
        out["prov:wasDerivedFrom"] = [{"@type": "prov:Entity", "@id": pid, "name": p["dataset"], "version": p["version"],
                                       "license": p["license"], "identifier": f"sha256:{p['manifest_sha256']}",
                                       **({"description": f"The {p['split']} split"} if p.get("split") else {})} for pid, p in zip(ids, parents)]
        activities.append({"@type": "prov:Activity", "prov:label": "derivation", "prov:used": [{"@id": pid} for pid in ids],
                           "description": f"Records of {', '.join(ids)} (ids prefixed by their parent), made with hub derive."})
    pii = manifest.get("pii")
    if pii:
        found = ", ".join(f"{kind} {n}" for kind, n in sorted(pii["findings"].items())) or "none"
        out["rai:personalSensitiveInformation"] = (f"PII gate policy {pii['policy']} over {', '.join(pii['fields']) or 'no free-text field'}; "
                                                   f"found at validation: {found}" + (f" (in {pii['rows']} records)" if pii["rows"] else "") + "."
                                                   + "".join(f" Not looked for: {why}." for why in (pii.get("not_detected") or {}).values()))
        if "redacted" in pii:
            replaced = ", ".join(f"{kind} {n}" for kind, n in sorted(pii["redacted"].items())) or "none"
            activities.append({"@type": "prov:Activity", "prov:label": "pii-redaction",
                               "description": f"Spans of personal data replaced by typed placeholders (<EMAIL>, ...): {replaced}."})
    annotation = manifest.get("annotation")
    if annotation:
        agreement = annotation.get("agreement") or {}
        annotators = len(annotation.get("annotators") or [])
        out["rai:dataAnnotationPlatform"] = "Label Studio"
        out["rai:dataAnnotationAnalysis"] = (f"{annotators} annotators (pseudonymized); agreement "
                                             f"({agreement.get('measure', '-')}): {agreement.get('overall')} over {agreement.get('tasks_compared', 0)} tasks.")
        tasks, made = annotation.get("tasks") or 0, annotation.get("annotations") or 0
        out["rai:annotationsPerItem"] = f"{made / tasks:.2f} annotations per task ({made} over {tasks} tasks)." if tasks else None
        out["rai:annotatorDemographics"] = f"{annotators} annotators, pseudonymized: the hub records no demographics."
        activities.append({"@type": "prov:Activity", "prov:label": "annotation", "prov:wasAssociatedWith": {"@type": "prov:SoftwareAgent", "prov:label": "Label Studio"},
                           "description": f"Labels of {annotation.get('field')} resolved by rule {annotation.get('rule')} from Label Studio project "
                                          f"{(annotation.get('project') or {}).get('id')}."})
    if activities:
        out["prov:wasGeneratedBy"] = activities
    return {k: v for k, v in out.items() if v is not None}


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


def _file_object(path: str, sha256: str, size: int, media_type: str, description: str, base_url: str | None) -> dict[str, Any]:
    """One file of the version, at `base_url` + its path or at its path in the version folder."""
    url = base_url.rstrip("/") + "/" + quote(path) if base_url else path
    return {
        "@type": "cr:FileObject",
        "@id": path,
        "name": path.rsplit("/", 1)[-1],
        "description": description,
        "contentUrl": url,
        "contentSize": f"{size} B",
        "encodingFormat": media_type,
        "sha256": sha256,
    }


def _media_type(path: str) -> str:
    return _MEDIA_BY_SUFFIX.get(path.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def _split_record_set(splits: list[str], manifest: dict[str, Any]) -> dict[str, Any]:
    """The `cr:Split` enumeration, inline: each split's name, Croissant split class and the
    figures of the split certificate (`leakage.json`) for it: rows, groups, the target and
    reached share of the records, and how far its class shares are from the whole's."""
    rid = SPLITS
    certificate = manifest.get("certificate") or {}
    figures = certificate.get("splits") or {}
    deviation = (certificate.get("stratification") or {}).get("deviation") or {}
    columns = [("name", "The name of the split.", "sc:Text", lambda s: s),
               ("url", "The kind of split.", "sc:URL", lambda s: _SPLIT_URLS.get(s, "cr:Split")),
               ("rows", "Its records.", "sc:Integer", lambda s: manifest["splits"][s]["rows"])]
    for key, text, kind in [("groups", f"Its groups (records that share {certificate.get('group_key') or 'a group key'}), which never cross splits.", "sc:Integer"),
                            ("target_share", "The share of the records it was asked for.", "sc:Float"),
                            ("share", "The share of the records it holds.", "sc:Float")]:
        if splits and all(key in figures.get(s, {}) for s in splits):
            columns.append((key, text, kind, lambda s, key=key: figures[s][key]))
    if splits and all(s in deviation for s in splits):
        columns.append(("class_share_deviation", f"The largest gap between its shares of {certificate['stratification'].get('key')} and the whole's.", "sc:Float",
                        lambda s: deviation[s]))
    said = [f"holds: {'yes' if certificate.get('holds') else 'no'}"] if "holds" in certificate else []
    said += [f"{key.replace('_', ' ')}: {certificate[key]}" for key in ("groups_crossing_splits", "duplicate_clusters_crossing_splits") if key in certificate]
    return {
        "@type": "cr:RecordSet",
        "@id": rid,
        "name": rid,
        "description": "The splits of the dataset, with the figures of its split certificate (leakage.json)" + (f"; the certificate {', '.join(said)}." if said else "."),
        "dataType": "cr:Split",
        "key": {"@id": f"{rid}/name"},
        "field": [{"@type": "cr:Field", "@id": f"{rid}/{key}", "name": key, "description": text, "dataType": kind} for key, text, kind, _ in columns],
        "data": [{f"{rid}/{key}": value(s) for key, _, _, value in columns} for s in splits],
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
        if inner.get("isArray"):  # a list of lists: Croissant 1.1's arrayShape, one -1 per unknown dimension
            inner["arrayShape"] = ",".join(["-1"] * (len(inner.get("arrayShape", "-1").split(",")) + 1))
        inner["isArray"] = True  # 1.1 (1.0's `repeated`)
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
