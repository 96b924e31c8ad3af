"""Images: one picture (bytes), a class label and/or boxes, `schemas/image.schema.json`.

- Validation: the image must decode (PIL, within its decompression-bomb limit); its size
  bounds the boxes (`hub.checks`).
- Duplicates: the same decoded pixels; near: a difference hash within 4 bits whose 16x16 grey
  thumbnails differ by at most 3% on average (the hash proposes, the pixels decide).
- Stats: width and height of every image.
- Label Studio: `classification` (Image + Choices, into `label`) and `boxes`
  (Image + RectangleLabels, into `objects`).

`hub.records.inspection` (industrial defect images) shares the image parts of this class.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from hub.records.base import EvalSpec, RecordType, TaskSpec, object_names

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from hub.dedup import Thresholds, _Keys
    from hub.fingerprints import Prints

__all__ = ["IMAGE", "Image", "check_pixels", "decode_image", "image_fingerprints", "image_sizes"]


def check_pixels(image: Any) -> None:
    """Raise ValueError for an image that would decode to more pixels than PIL's bomb limit."""
    from PIL import Image as PILImage

    width, height = image.size
    if width * height > PILImage.MAX_IMAGE_PIXELS:
        raise ValueError(f"the image is {width}x{height} pixels, more than the {PILImage.MAX_IMAGE_PIXELS} the decoder allows (a decompression bomb?)")


def decode_image(blob: bytes) -> tuple[int, int]:
    """(width, height) of an image file, decoded whole; raises for one that does not decode."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(blob)) as image:
        check_pixels(image)
        image.load()  # a truncated file fails here, not at open()
        return image.size


def image_fingerprints(blob: bytes | None) -> tuple[bytes | None, int | None, np.ndarray | None]:
    """Digest of the decoded pixels, 64-bit difference hash, 16x16 grey thumbnail."""
    if blob is None:
        return None, None, None
    import numpy as np
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(blob)) as image:
        if image.size[0] * image.size[1] > PILImage.MAX_IMAGE_PIXELS:  # validation rejects these; never decode one
            raise ValueError(f"image of {image.size[0]}x{image.size[1]} pixels: over the decoder's limit")
        import hashlib

        pixels = hashlib.sha256(image.mode.encode() + repr(image.size).encode() + image.tobytes()).digest()
        grey = image.convert("L")
        small = np.asarray(grey.resize((9, 8), PILImage.Resampling.BILINEAR), dtype=np.int16)
        thumb = np.asarray(grey.resize((16, 16), PILImage.Resampling.BILINEAR), dtype=np.float32) / 255
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return pixels, int(np.packbits(bits).view(">u8")[0]), thumb


def image_sizes(column: pa.ChunkedArray) -> np.ndarray:
    """(width, height) of every image of a media column that has bytes."""
    import numpy as np
    import pyarrow.compute as pc
    from PIL import Image as PILImage

    sizes = []
    for blob in pc.struct_field(column, "bytes").to_pylist():
        if blob is not None:
            with PILImage.open(io.BytesIO(blob)) as image:
                sizes.append(image.size)
    return np.asarray(sizes, dtype=np.int64).reshape(-1, 2)


class Image(RecordType):
    name = "image"
    modality = "image"
    schema = "image"
    group_key = "group"
    example = {"label": "ok", "group": "session-001"}
    media_extension = "png"
    tasks = (
        TaskSpec("image", "classification", "label", "choice", "label", "image", "choices"),
        TaskSpec("image", "boxes", "objects", "boxes", "objects", "image", "rectanglelabels"),
    )
    media = "image"  # the column holding the picture

    # -- validation -----------------------------------------------------------------------

    def decode(self, kind: str, blob: bytes) -> Any:
        if kind != "Image":
            return super().decode(kind, blob)
        return decode_image(blob)

    # -- duplicates -----------------------------------------------------------------------

    def duplicates(self, table: pa.Table, keys: _Keys, thresholds: Thresholds, bar: Any, text_hashes: np.ndarray | pa.ChunkedArray | None) -> None:
        import numpy as np
        import pyarrow.compute as pc

        from hub.dedup import hamming_clusters, tracked

        blobs = pc.struct_field(table.column(self.media), "bytes").to_pylist()
        decoded = [image_fingerprints(b) for b in tracked(blobs, bar)]
        keys.add_exact("exact-image", [d[0] for d in decoded])
        if thresholds.near:
            # A difference hash proposes, the pixels decide: on small images (8x8 digits) the
            # hash alone links look-alikes that are not copies.
            def same(x: int, y: int) -> bool:
                return float(np.abs(decoded[x][2] - decoded[y][2]).mean()) <= thresholds.image_mad

            keys.add_pairs("near-image", hamming_clusters([d[1] for d in decoded], thresholds.image_hamming, same), table.num_rows)


    def fingerprints(self, table: pa.Table, thresholds: Thresholds, rows: int | None = None) -> Prints:
        import pyarrow.compute as pc

        from hub.fingerprints import Prints, hamming_bands, safely

        blobs = pc.struct_field(table.column(self.media), "bytes").to_pylist()
        decoded = [safely(image_fingerprints, b) or (None, None, None) for b in blobs]
        if not thresholds.near:
            return Prints([d[0] for d in decoded])
        return Prints([d[0] for d in decoded], [hamming_bands(d[1], thresholds.image_hamming) for d in decoded],
                      [None if d[1] is None else d[1].to_bytes(8, "big") + d[2].tobytes() for d in decoded])

    def near_same(self, ours: bytes, theirs: bytes, thresholds: Thresholds) -> bool:
        """Difference hashes within `image_hamming` bits and thumbnails within `image_mad` (as `duplicates`)."""
        import numpy as np

        bits = bin(int.from_bytes(ours[:8], "big") ^ int.from_bytes(theirs[:8], "big")).count("1")
        mad = float(np.abs(np.frombuffer(ours[8:], np.float32) - np.frombuffer(theirs[8:], np.float32)).mean())
        return bits <= thresholds.image_hamming and mad <= thresholds.image_mad

    # -- stats ----------------------------------------------------------------------------

    def metrics(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        per_row = {}
        sizes = image_sizes(table.column(self.media))
        if len(sizes) == table.num_rows:
            per_row["width"], per_row["height"] = sizes[:, 0], sizes[:, 1]
        return per_row, {}

    # -- pages ----------------------------------------------------------------------------

    def preview(self, row: dict[str, Any], features: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The picture with its boxes (`objects`, COCO [x, y, w, h] in pixels) drawn over it in
        the image's own coordinates, each named by its class; the page adds the media URL."""
        from PIL import Image as PILImage

        picture = row.get(self.media)
        if not isinstance(picture, dict) or not isinstance(picture.get("bytes"), bytes):
            return {}
        try:
            with PILImage.open(io.BytesIO(picture["bytes"])) as image:
                width, height = image.size
        except (OSError, ValueError):
            return {}
        objects = row.get("objects") if isinstance(row.get("objects"), dict) else {}
        names = ((features.get("objects") or {}).get("category") or {}).get("feature", {}).get("names") or []
        boxes = []
        for bbox, category in zip(objects.get("bbox") or [], objects.get("category") or []):
            if bbox is None or len(bbox) != 4 or any(v is None for v in bbox):
                continue
            name = names[category] if isinstance(category, int) and 0 <= category < len(names) else str(category)
            boxes.append({"x": bbox[0], "y": bbox[1], "w": bbox[2], "h": bbox[3], "label": name})
        cells = {self.media: {"kind": "image", "width": width, "height": height, "boxes": boxes}}
        if objects:
            count = f"{len(boxes)} box" + ("" if len(boxes) == 1 else "es")
            cells["objects"] = {"kind": "text", "text": f"{count}: " + ", ".join(b["label"] for b in boxes) if boxes else count}
        return cells

    # -- Label Studio ---------------------------------------------------------------------

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        name, value = object_names(spec)
        # at most 400 px wide, unsmoothed: an 8x8 digit stays sharp pixels and the choices stay
        # on screen below it; the mouse wheel and the toolbar zoom into larger images
        return f'  <Image name={name} value={value} maxWidth="400px" smoothing="false" zoom="true" zoomControl="true"/>'

    def task_media(self, spec: TaskSpec) -> str | None:
        return self.media

    # -- evaluation -----------------------------------------------------------------------

    evaluations = (EvalSpec("classification", "label", "classification"), EvalSpec("boxes", "objects", "boxes"))


IMAGE = Image()
