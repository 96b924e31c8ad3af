"""Progress bars for long work: tqdm on stderr, off with HUB_NO_PROGRESS=1 or `--no-progress`.

tqdm is imported only when a bar is made (it costs ~50 ms of start-up), and a disabled byte
bar (`bytes_bar`) does not import it at all.
"""

from __future__ import annotations

from typing import Any

from hub import config

_forced: bool | None = None


def set_enabled(enabled: bool | None) -> None:
    """Force bars on or off for this process (None: decide from the environment)."""
    global _forced
    _forced = enabled


def enabled(override: bool | None = None) -> bool:
    """Whether bars are shown: `override`, else `set_enabled`'s choice, else the environment."""
    if override is not None:
        return override
    return config.progress_enabled() if _forced is None else _forced


def bar(total: int | None = None, desc: str = "", unit: str = "rows", **kwargs: Any) -> Any:
    """A tqdm progress bar, disabled when bars are off."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled(), leave=False, dynamic_ncols=True, **kwargs)


class _Off:
    """A bar that shows nothing: what `bytes_bar` gives when bars are off."""

    def update(self, n: float = 1) -> None:
        pass

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def bytes_bar(total: int, desc: str, show: bool | None = None) -> Any:
    """A bar counting bytes (a context manager with `update(n)`; n may be negative)."""
    if not enabled(show):
        return _Off()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, dynamic_ncols=True)
