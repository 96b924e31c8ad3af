"""Handwritten digits (UCI optdigits test set, bundled with scikit-learn) as 8x8 PNG image records."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

_KNOWN_OPTIONS = {"limit"}
# load_digits() pixels are block counts in 0..16; they are rescaled to 8-bit grey levels.
_MAX_COUNT = 16


def _png(pixels: np.ndarray) -> bytes:
    """Encode one 8x8 array of block counts as a greyscale (mode "L") PNG."""
    grey = np.rint(pixels.astype(np.float64) * (255.0 / _MAX_COUNT)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG")
    return buffer.getvalue()


def load(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield one image record per digit of scikit-learn's ``load_digits()`` (1797 images).

    Options: ``limit`` (int, optional) stops after that many records.
    Ids are ``digits-00000`` .. ``digits-01796`` in the order scikit-learn returns them;
    the data has no writer ids, so each record is its own split group.
    """
    unknown = set(options) - _KNOWN_OPTIONS
    if unknown:
        raise ValueError(f"unknown options for digits: {sorted(unknown)}")
    limit = options.get("limit")

    from sklearn.datasets import load_digits  # deferred: importing sklearn takes a moment

    data = load_digits()
    images, targets = data.images, data.target
    count = len(images) if limit is None else min(int(limit), len(images))
    logger.debug("yielding %d of %d digit images", count, len(images))
    for index in range(count):
        record_id = f"digits-{index:05d}"
        yield {
            "id": record_id,
            "image": {"bytes": _png(images[index]), "path": f"{record_id}.png"},
            "label": str(int(targets[index])),
            "objects": None,
            "group": record_id,
        }
