"""COCO detection: a JSON of `images`, `annotations` (bbox [x, y, w, h] in pixels) and
`categories`, and the image files it names (`file_name`, relative to the JSON's folder, an
`images/` folder beside it, or the corpus folder). One JSON per split
(`instances_train2017.json`, `val.json`, ...) keeps them as the official splits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.errors import SourceError
from hub.importers.base import Draft, Media, NotThisFormat, safe_id, split_name
from hub.records.image import IMAGE

__all__ = ["coco"]


def _coco_files(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*.json") if p.stat().st_size < 2 << 30)
    found = []
    for file in candidates:
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(doc, dict) and {"images", "annotations", "categories"} <= doc.keys():
            found.append((file, doc))
    return found


def _split_of(file: Path) -> str | None:
    for token in file.stem.replace("-", "_").split("_"):
        name = split_name("".join(c for c in token if not c.isdigit()))
        if name:
            return name
    return None


def coco(path: Path, *, fmt: str = "coco", **_: Any) -> Draft:
    """COCO detection JSON(s) and their images: image records with `objects` boxes."""
    found = _coco_files(path)
    if not found:
        raise NotThisFormat(fmt, "a .json file with images, annotations and categories", path)
    corpus = path if path.is_dir() else path.parent
    records, labels = [], []
    splits = len(found) > 1 and all(_split_of(f) for f, _ in found)
    for file, doc in found:
        categories = {c["id"]: str(c["name"]) for c in doc["categories"]}
        labels += [n for n in categories.values() if n not in labels]
        boxes: dict[Any, list[dict[str, Any]]] = {}
        for a in doc["annotations"]:
            boxes.setdefault(a["image_id"], []).append(a)
        for image in doc["images"]:
            name = str(image["file_name"])
            source = next((b / name for b in (file.parent, file.parent / "images", corpus, corpus / "images") if (b / name).is_file()), None)
            rel = source.relative_to(corpus).as_posix() if source is not None and source.is_relative_to(corpus) else f"images/{Path(name).name}"
            anns = boxes.get(image["id"], [])
            unknown = [a["category_id"] for a in anns if a["category_id"] not in categories]
            if unknown:
                raise SourceError(f"{file.name}: image {name!r} has a box of category id {unknown[0]!r}, which categories does not list", path=str(file))
            record: dict[str, Any] = {
                "id": safe_id(Path(name).with_suffix("").as_posix()),
                IMAGE.media: Media(rel, source=source) if source is not None else f"raw/{rel}",
                "objects": {"bbox": [[float(v) for v in a["bbox"]] for a in anns], "category": [categories[a["category_id"]] for a in anns]},
                "group": safe_id(Path(name).with_suffix("").as_posix()),
            }
            if splits:
                record["split"] = _split_of(file)
            records.append(record)
    mapping = {"id": "images[].file_name without extension", IMAGE.media: "images[].file_name", "objects.bbox": "annotations[].bbox (COCO [x, y, w, h] in pixels)",
               "objects.category": "categories[].name of annotations[].category_id", "group": "id (no group in COCO: each image is its own group)"}
    if splits:
        mapping["split"] = "the JSON file (instances_<split>.json)"
    return Draft(fmt, IMAGE.modality, IMAGE.name, records, mapping, labels, splits=splits, tasks=["object-detection"],
                 notes=["no group in COCO: each image is its own group; give a group (photo session, scene) for a leak-proof split"])
