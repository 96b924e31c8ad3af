"""Where the per-batch stages run: in this process (the default) or on Ray.

A stage written as `hub.batches` says (a function of one batch and a read-only context,
returning a part that merges in batch order) runs the same on either engine; `run` maps it over
the batches and hands back the parts in batch order, and the caller merges them as it would
locally. So the output does not depend on the engine: the same report, rows, shards and
certificate (`tests/test_engine_ray.py` compares them byte for byte).

- `local`: the stage called on each batch in turn, here.
- `ray`: each batch a Ray task (`ray.remote(stage)`, retried when its worker dies), on the
  cluster at `RAY_ADDRESS` (`scripts/ray start` starts one), or on a local Ray started for
  this process when the variable is unset. The context is put in Ray's object store once,
  each batch as its task is submitted, a few tasks per core ahead of the parts taken back
  (in batch order): the store holds the batches in flight, not the dataset.

The engine is `HUB_ENGINE` (`local` or `ray`). What runs on it today: the check stage of
validation (`hub.checks.check_batch`: the schema checks, media decoding and each record type's
own checks, the costly part of a publish), the contamination fingerprints
(`hub.fingerprints.fingerprint_batch`, a task per 65,536 rows) and shard writing
(`hub.shards.write_shard`, a task per shard, each mapping the rows from a file in the staging
folder and encoding and checksumming its shard there; the folder must be one the workers can
read and write). Reading, the split's row hashes (a
thread alongside the read) and split assignment (one decision over all rows' hashes) stay in
the process.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from hub.errors import HubError

__all__ = ["ENGINES", "each", "name", "run"]

ENGINES = ("local", "ray")
Part = TypeVar("Part")


def name() -> str:
    """The engine `HUB_ENGINE` names (default `local`); a `HubError` for another value."""
    value = os.environ.get("HUB_ENGINE", "").strip().lower() or "local"
    if value not in ENGINES:
        raise HubError(f"HUB_ENGINE={os.environ['HUB_ENGINE']!r} is not an engine: use one of {', '.join(ENGINES)}",
                       hint="Unset HUB_ENGINE to run every stage in this process, or set HUB_ENGINE=ray (RAY_ADDRESS names the cluster).")
    return value


def run(stage: Callable[[Any, Any], Part], batches: Iterable[Any], ctx: Any) -> list[Part]:
    """`[stage(batch, ctx) for batch in batches]`, on the engine `name()` says."""
    return list(each(stage, batches, ctx))


def each(stage: Callable[[Any, Any], Part], batches: Iterable[Any], ctx: Any) -> Iterator[Part]:
    """`stage(batch, ctx)` for each batch, in batch order, as they are done: the batches are
    taken as they are needed (on Ray, a few tasks per core ahead), so neither the batches nor
    the parts need to be in memory all at once."""
    if name() == "local":
        for batch in batches:
            yield stage(batch, ctx)
        return
    yield from _on_ray(stage, batches, ctx)


def _on_ray(stage: Callable[[Any, Any], Part], batches: Iterable[Any], ctx: Any) -> Iterator[Part]:
    ray = _ray()
    remote = ray.remote(max_retries=3, retry_exceptions=False)(stage)  # a task whose worker dies is run again
    shared = ray.put(ctx)
    window = 4 * max(1, int(ray.cluster_resources().get("CPU", 1)))  # tasks in flight: the object store holds their batches only
    pending: deque[Any] = deque()
    try:
        for batch in batches:
            pending.append(remote.remote(ray.put(batch), shared))
            if len(pending) >= window:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, HubError):
            raise cause from None
        raise HubError(f"a Ray task of {stage.__name__} failed: {str(exc).splitlines()[0]}",
                       hint="Nothing was published. Check the cluster (`ray status`), or run here with HUB_ENGINE=local.") from exc


def _ray() -> Any:
    """The `ray` module, connected: to `RAY_ADDRESS`, or to a local Ray started now (once per process)."""
    try:
        import ray
    except ImportError:
        raise HubError("HUB_ENGINE=ray needs Ray, which is not installed",
                       hint="Install it with `.venv/bin/pip install 'ray==2.60.0'` (scripts/bootstrap does), or unset HUB_ENGINE.") from None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS") or None
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     **({} if address else {"num_cpus": os.cpu_count()}))
        except ConnectionError as exc:
            raise HubError(f"no Ray cluster answers at RAY_ADDRESS={address}: {exc}",
                           hint="Start one with `scripts/ray start PORT` (then RAY_ADDRESS=127.0.0.1:PORT), or unset RAY_ADDRESS for a local Ray.") from None
        _quiet_driver()
    return ray


def _quiet_driver() -> None:
    """No `(raylet) A worker died ...` lines on this process's stdout (the output of `hub publish`).

    `log_to_driver=False` only stops the workers' logs. The raylet's error messages (a worker
    killed mid-task, which the task's retry already handles; a failure that is not retried
    reaches the caller as the task's error) come through another thread that Ray 2.60 starts in
    every driver with no option to turn it off (`ray._private.worker.listen_error_messages`);
    it prints through `print_worker_logs`, which returns at once while `_worker_logs_enabled` is
    false (Ray's own switch, which its debugger turns off while at a breakpoint). Only for a Ray
    connected here: a caller that started Ray itself keeps its own console.
    """
    from ray._private import worker

    worker._worker_logs_enabled = False
