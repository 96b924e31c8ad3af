"""The catalog as DCAT-AP JSON-LD (`GET /api/catalog/dcat`), for a data portal to harvest.

One `dcat:Catalog` whose `dcat:dataset`s are the registered datasets the caller may see, each
with the properties DCAT-AP makes mandatory or recommends where the hub knows them: identifier,
title, description, keywords (tasks, tags, modality), languages (ISO 639-1 IRIs of the Library of
Congress), publisher (the namespace), landing page, access rights (the EU access-right
vocabulary: public, restricted for a gated dataset, non-public for a private one), the latest
version, and two distributions of it: its Parquet shards (through the version's API) and its
Croissant document, each under the dataset's license (SPDX IRIs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CONTEXT", "catalog"]

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "owl": "http://www.w3.org/2002/07/owl#",
}
_EU = "http://publications.europa.eu/resource/authority"
_ACCESS = {"public": f"{_EU}/access-right/PUBLIC", "gated": f"{_EU}/access-right/RESTRICTED", "private": f"{_EU}/access-right/NON_PUBLIC"}


def _iri(value: str) -> dict[str, str]:
    return {"@id": value}


def _licenses(expression: str | None) -> list[dict[str, str]]:
    """One SPDX IRI per license id of the expression (`LicenseRef-` ids have none)."""
    from hub.license import check_license

    if not expression:
        return []
    try:
        ids = check_license(expression).licenses
    except Exception:  # LicenseError: an entry the catalog lists with a bad license says nothing here
        return []
    return [_iri(f"https://spdx.org/licenses/{key}.html") for key in ids if not key.split(":")[-1].startswith("LicenseRef-")]


def _dataset(root: Path, row: dict[str, Any], base_url: str) -> dict[str, Any]:
    from hub.entry import load_entry

    dataset = row["id"]
    data = load_entry(root, dataset, check=False).data
    licenses = _licenses(row.get("license"))
    item: dict[str, Any] = {
        "@id": f"{base_url}/datasets/{dataset}",
        "@type": "dcat:Dataset",
        "dct:identifier": dataset,
        "dct:title": row.get("title") or dataset,
        "dct:description": data.get("description") or row.get("title") or dataset,
        "dcat:keyword": [k for k in [*(row.get("tasks") or []), *(data.get("tags") or []), row.get("modality")] if k],
        "dct:language": [_iri(f"http://id.loc.gov/vocabulary/iso639-1/{lang.split('-')[0]}") for lang in row.get("languages") or []],
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": dataset.split("/")[0]},
        "dcat:landingPage": _iri(f"{base_url}/datasets/{dataset}"),
        "dct:accessRights": _iri(_ACCESS.get(row.get("access") or "public", _ACCESS["public"])),
    }
    if data.get("homepage"):
        item["foaf:homepage"] = _iri(data["homepage"])
    latest = row.get("latest")
    if latest:
        item["owl:versionInfo"] = latest
        api = f"{base_url}/api/datasets/{dataset}"
        item["dcat:distribution"] = [
            {"@id": f"{api}/versions/{latest}", "@type": "dcat:Distribution", "dct:title": f"{dataset}@{latest}: Parquet shards per split",
             "dcat:accessURL": _iri(f"{api}/versions/{latest}"), "dct:format": _iri(f"{_EU}/file-type/PARQUET"),
             "dcat:mediaType": _iri("https://www.iana.org/assignments/media-types/application/vnd.apache.parquet"), "dct:license": licenses},
            {"@id": f"{api}/croissant?version={latest}", "@type": "dcat:Distribution", "dct:title": f"{dataset}@{latest}: Croissant metadata",
             "dcat:accessURL": _iri(f"{api}/croissant?version={latest}"), "dct:format": _iri(f"{_EU}/file-type/JSON_LD"),
             "dcat:mediaType": _iri("https://www.iana.org/assignments/media-types/application/ld+json"), "dct:license": licenses},
        ]
    return {k: v for k, v in item.items() if v not in (None, [], "")}


def catalog(root: Path, rows: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """The DCAT-AP JSON-LD document of the datasets `rows` (catalog search results), with every
    IRI under `base_url` (the server's address)."""
    base_url = base_url.rstrip("/")
    return {
        "@context": CONTEXT,
        "@id": f"{base_url}/api/catalog/dcat",
        "@type": "dcat:Catalog",
        "dct:title": "hub catalog",
        "dct:description": "Annotated training datasets: speech, images, dialogue, industrial sensor and inspection data, video.",
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": "hub"},
        "foaf:homepage": _iri(f"{base_url}/"),
        "dcat:dataset": [_dataset(root, row, base_url) for row in rows],
    }
