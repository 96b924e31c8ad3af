"""The Label Studio bridge: label configs per modality and task, tasks with media, agreement,
resolution, and publishing the labels as a new version.

    config.py     label configs and result <-> record value conversions
    client.py     a thin wrapper over label_studio_sdk (errors become hub errors)
    tasks.py      tasks from a version's records; media written for local-files serving
    agreement.py  inter-annotator agreement (alpha, WER, IoU-matched F1, span F1)
    resolve.py    majority / reviewer / latest
    bridge.py     push, status, pull
"""

from hub.labelstudio.bridge import pull, push, status
from hub.labelstudio.client import Client
from hub.labelstudio.config import TASKS

__all__ = ["TASKS", "Client", "pull", "push", "status"]
