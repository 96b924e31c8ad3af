"""The Label Studio bridge: label configs per modality and task, tasks with media, agreement,
resolution, and publishing the labels as a new version.

    config.py     label configs and result <-> record value conversions
    client.py     a thin wrapper over label_studio_sdk (errors become hub errors)
    tasks.py      tasks from a version's records; media written for local-files serving
    agreement.py  inter-annotator agreement (alpha, WER, IoU-matched F1, span F1)
    resolve.py    majority / reviewer / latest
    bridge.py     push, status, pull, invite
    cli.py        the `hub annotate` command group

The SDK is imported only when a function that talks to Label Studio runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["invite", "pull", "push", "status"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hub.labelstudio import bridge

        return getattr(bridge, name)
    raise AttributeError(name)
