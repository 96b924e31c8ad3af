"""Industrial inspection: one image of a part or product, a defect class and/or boxes,
`schemas/industrial-inspection.schema.json`. The image parts are `hub.records.image`'s.

- Label Studio: `defect` (Image + Choices, into `defect`) and `boxes` (Image + RectangleLabels,
  into `objects`).
"""

from __future__ import annotations

from hub.records.base import EvalSpec, TaskSpec
from hub.records.image import Image

__all__ = ["INSPECTION", "Inspection"]


class Inspection(Image):
    name = "inspection"
    modality = "industrial"
    schema = "industrial-inspection"
    group_key = "asset_id"
    example = {"asset_id": "batch-001", "defect": "good"}
    media_extension = "png"
    tasks = (
        TaskSpec("inspection", "defect", "defect", "choice", "defect", Image.media, "choices"),
        TaskSpec("inspection", "boxes", "objects", "boxes", "objects", Image.media, "rectanglelabels"),
    )

    # -- evaluation -----------------------------------------------------------------------

    evaluations = (EvalSpec("defect", "defect", "classification"), EvalSpec("boxes", "objects", "boxes"))


INSPECTION = Inspection()
