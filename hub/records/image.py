"""Images: one picture (bytes), a class label and/or boxes, `schemas/image.schema.json`.

- Stats: width and height of every image.
- Label Studio: `classification` (Image + Choices, into `label`) and `boxes`
  (Image + RectangleLabels, into `objects`).

`hub.records.inspection` (industrial defect images) shares the image parts of this class.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from hub.records.base import RecordType, TaskSpec, object_names

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["IMAGE", "Image", "image_sizes"]


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

    # -- stats ----------------------------------------------------------------------------

    def metrics(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        per_row = {}
        sizes = image_sizes(table.column(self.media))
        if len(sizes) == table.num_rows:
            per_row["width"], per_row["height"] = sizes[:, 0], sizes[:, 1]
        return per_row, {}

    # -- Label Studio ---------------------------------------------------------------------

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        name, value = object_names(spec)
        return f"  <Image name={name} value={value}/>"

    def task_media(self, spec: TaskSpec) -> str | None:
        return self.media


IMAGE = Image()
