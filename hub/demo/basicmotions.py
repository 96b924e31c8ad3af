"""BasicMotions (UEA multivariate archive): smartwatch accelerometer and gyroscope recordings of four activities."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_KNOWN_OPTIONS = {"limit"}
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
# The archive documents neither the units nor the device: see the dataset card.
UNITS = ["unknown"] * len(CHANNELS)
SAMPLE_RATE = 10.0  # "sampled once every tenth of a second" (header of the .ts files)
_SPLITS = ("train", "test")


def _data_dir() -> Path:
    """The BasicMotions folder shipped inside sktime, found without importing sktime."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("sktime is not installed: the BasicMotions files ship inside it")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "BasicMotions"


def _read_ts(path: Path) -> list[tuple[list[list[float]], str]]:
    """Parse an equal-length multivariate .ts file into (channel-major series, class label) pairs."""
    cases: list[tuple[list[list[float]], str]] = []
    in_data = False
    for line_number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dimensions, label = line.split(":")
        if len(dimensions) != len(CHANNELS):
            raise ValueError(f"{path}:{line_number}: expected {len(CHANNELS)} dimensions, got {len(dimensions)}")
        series = [[float(value) for value in dimension.split(",")] for dimension in dimensions]
        cases.append((series, label.strip()))
    return cases


def load(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the 80 BasicMotions recordings (the archive's 40 train then 40 test cases).

    Each record has 6 channels of 100 samples at 10 Hz; ``fault`` is the activity
    (standing, running, walking, badminton). Ids look like ``basicmotions-train-007``;
    the archive has no participant ids, so ``asset_id`` is the recording id.
    Options: ``limit`` (int, optional).
    """
    unknown = set(options) - _KNOWN_OPTIONS
    if unknown:
        raise ValueError(f"unknown options for basicmotions: {sorted(unknown)}")
    limit = options.get("limit")
    emitted = 0
    for split in _SPLITS:
        path = _data_dir() / f"BasicMotions_{split.upper()}.ts"
        for index, (series, label) in enumerate(_read_ts(path)):
            if limit is not None and emitted >= int(limit):
                return
            record_id = f"basicmotions-{split}-{index:03d}"
            emitted += 1
            yield {
                "id": record_id,
                "asset_id": record_id,
                "channels": list(CHANNELS),
                "units": list(UNITS),
                "sample_rate": SAMPLE_RATE,
                "series": series,
                "fault": label.lower(),
            }
    logger.debug("yielded %d BasicMotions recordings", emitted)
