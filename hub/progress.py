"""Progress bars for long work: tqdm on stderr, off with HUB_NO_PROGRESS=1 or `--no-progress`."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from hub import config

_forced: bool | None = None


def set_enabled(enabled: bool | None) -> None:
    """Force bars on or off for this process (None: decide from the environment)."""
    global _forced
    _forced = enabled


def bar(total: int | None = None, desc: str = "", unit: str = "rows", **kwargs: Any) -> tqdm:
    """A progress bar, disabled when bars are off."""
    enabled = config.progress_enabled() if _forced is None else _forced
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False, dynamic_ncols=True, **kwargs)
