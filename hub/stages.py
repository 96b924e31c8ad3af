"""The DVC pipeline's stages: what the thin scripts in `pipelines/` run, one function each.

`dvc.yaml` runs `python pipelines/<stage>.py DATASET OUT`. Each stage calls one library
function, writes its result as JSON to OUT (replaced in one rename, so an interrupted stage
leaves no half file for DVC to cache) and returns the exit code: 0, or 1 when what the stage
checks does not hold (an invalid dataset, a broken leakage certificate), which stops
`dvc repro` there. A `HubError` is printed with its hint, never as a traceback.

Inside the library, the steps that look at rows (checking, hashing) are functions over Arrow
batches whose results merge: `hub.batches` says how one is written, so that another engine
(#18) can map them over its blocks.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

__all__ = ["STAGES", "check", "main", "split", "validate"]


def _write(out: Path | None, data: Any) -> None:
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def validate(dataset: str, out: Path | None = None) -> int:
    """Validate `dataset`; the report goes to `out`. 1 when any problem is found."""
    import hub

    report = hub.validate(dataset).to_dict()
    _write(out, report)
    return int(not report["valid"])


def split(dataset: str, out: Path | None = None) -> int:
    """Split `dataset` into `.hub/build/<ns>/<name>/`; the summary goes to `out`."""
    import hub

    _write(out, hub.split(dataset))
    return 0


def check(dataset: str, out: Path | None = None) -> int:
    """Certify `dataset`'s build from its files; the certificate goes to `out`. 1 when it does not hold."""
    import hub

    try:
        certificate = hub.check(dataset)
    except hub.LeakageError as exc:
        _write(out, exc.certificate)
        raise
    _write(out, certificate)
    return 0


STAGES: dict[str, Callable[[str, Path | None], int]] = {"validate": validate, "split": split, "check": check}


def main(stage: str, argv: list[str] | None = None) -> None:
    """Run `stage` on `DATASET [OUT]` from the command line and exit with its code."""
    import hub

    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        sys.exit(f"usage: python pipelines/{stage}.py DATASET [OUT.json]")
    os.environ.setdefault("HUB_NO_PROGRESS", "1")  # DVC captures the output: no bars
    try:
        code = STAGES[stage](args[0], Path(args[1]) if len(args) == 2 else None)
    except hub.HubError as exc:
        print(f"{stage} {args[0]}: {exc.message}" + (f"\n  {exc.hint}" if exc.hint else ""), file=sys.stderr)
        code = 1
    sys.exit(code)
