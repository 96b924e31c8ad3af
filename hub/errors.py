"""The hub's exceptions: one root, a few branches, each carrying the fields a caller needs.

    HubError
    ├── NotAHubRepo                    (+ FileNotFoundError) no registry/ + dvc.yaml above here
    ├── InvalidDatasetId               (+ ValueError)   "ns/name" rules, path tricks
    ├── InvalidVersion                 (+ ValueError)   not MAJOR.MINOR.PATCH
    ├── DatasetNotFound                (+ LookupError)
    ├── VersionNotFound                (+ LookupError)
    ├── DatasetExists                  (+ FileExistsError)
    ├── VersionExists                  (+ FileExistsError) a published version is never rewritten
    ├── LicenseError                   (+ ValueError)   not a valid SPDX expression
    ├── ValidationFailed               (+ ValueError)   carries the full `Report`
    ├── LeakageError                   (+ ValueError)   a group or duplicate crosses splits
    ├── SourceError                    (+ OSError)      the raw data could not be read
    ├── StorageError                   (+ OSError)      DVC, git or the file system failed
    ├── EntryNotFound                  (+ LookupError)  no such file in a version
    ├── BrokenEntry                    (+ ValueError)   a dataset.yaml or manifest.json the hub cannot read
    ├── UnsafePath                     (+ ValueError)   a registry path or link that leaves the dataset folder
    ├── AccessDenied                   (+ PermissionError) no token, a bad token, or too few rights
    │   └── GatedDataset                                 the terms were not accepted yet
    ├── BadRequest                     (+ ValueError)   a malformed request to the server
    ├── PredictionsError               (+ ValueError)   a predictions file `hub eval` cannot score
    ├── PayloadTooLarge                (+ ValueError)   an upload over the server's size limit (413)
    ├── RateLimited                                     over a per-token limit, e.g. evaluations a day (429)
    ├── IntegrityError                 (+ OSError)      a download's sha256 is not the recorded one
    ├── OfflineError                   (+ ConnectionError) HUB_OFFLINE=1 and not in the cache
    ├── AnnotationError                (+ ValueError)   a Label Studio task the hub cannot do
    │   ├── LabelStudioUnavailable     (+ ConnectionError) unreachable, or 5xx: a rerun resumes
    │   ├── LabelStudioAuthError       (+ PermissionError) the token was refused
    │   └── ProjectNotFound            (+ LookupError)  no such Label Studio project
    ├── SplitsWouldMove                (+ ValueError)   a publish would move published records to another split
    ├── DatabaseUnavailable            (+ ConnectionError) HUB_CATALOG_URL's PostgreSQL cannot be reached (503)
    ├── DatabaseSchemaError                             its schema is older or newer than this hub's migrations
    └── SplitTooSmall                  (+ ValueError)   a split with a ratio would be empty or below its minimum

Every error has a `hint`: what the user should do next. `hub.cli` renders message and hint.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDenied",
    "AnnotationError",
    "BadRequest",
    "BrokenEntry",
    "DatabaseSchemaError",
    "DatabaseUnavailable",
    "DatasetExists",
    "DatasetNotFound",
    "EntryNotFound",
    "GatedDataset",
    "HubError",
    "IntegrityError",
    "InvalidDatasetId",
    "InvalidVersion",
    "LabelStudioAuthError",
    "LabelStudioUnavailable",
    "LeakageError",
    "LicenseError",
    "NotAHubRepo",
    "OfflineError",
    "PayloadTooLarge",
    "PredictionsError",
    "ProjectNotFound",
    "RateLimited",
    "SourceError",
    "SplitTooSmall",
    "SplitsWouldMove",
    "StorageError",
    "UnsafePath",
    "ValidationFailed",
    "VersionExists",
    "VersionNotFound",
]


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: type, message, hint and its fields."""
        data: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        for key, value in self.fields.items():
            data[key] = value.to_dict() if hasattr(value, "to_dict") else value
        return data


class NotAHubRepo(HubError, FileNotFoundError):
    hint = "Run the command inside a hub repository, pass --root, or create one with `hub init DIR`."


class InvalidDatasetId(HubError, ValueError):
    hint = (
        "A dataset id is `namespace/name`: each part 1-96 characters of letters, digits, "
        "'-', '_' or '.', starting with a letter or digit, with no '..'."
    )


class InvalidVersion(HubError, ValueError):
    hint = "A version is MAJOR.MINOR.PATCH, for example 1.0.0."


class DatasetNotFound(HubError, LookupError):
    hint = "See the registered datasets with `hub list`, or create one with `hub new ns/name`."


class VersionNotFound(HubError, LookupError):
    hint = "See the published versions with `hub show ns/name`."


class DatasetExists(HubError, FileExistsError):
    hint = "Pick another name, or edit the existing entry."


class VersionExists(HubError, FileExistsError):
    hint = "A published version is never rewritten: publish a new version (--bump or --version)."


class LicenseError(HubError, ValueError):
    hint = (
        "Use an SPDX license expression, e.g. `CC-BY-4.0`, `MIT OR Apache-2.0`, or "
        "`LicenseRef-<name>` for a custom license (list: https://spdx.org/licenses/)."
    )


class ValidationFailed(HubError, ValueError):
    hint = "Fix the problems listed (rejected rows are in the quarantine file), then run again."


class LeakageError(HubError, ValueError):
    hint = "This is a bug in the split engine, not in your data: report it with the certificate attached."


class SourceError(HubError, OSError):
    hint = "Check the `source` section of dataset.yaml."


class StorageError(HubError, OSError):
    hint = "Check the disk, `dvc doctor` and the DVC remote (`dvc remote list`)."


class EntryNotFound(HubError, LookupError):
    hint = "List the version's files with `hub show ns/name@VERSION --json` or GET /api/datasets/ns/name/tree/VERSION."


class BrokenEntry(HubError, ValueError):
    hint = "Fix the file named (`hub validate ns/name` lists every problem of an entry); until then the hub skips it and serves none of its data."


class UnsafePath(HubError, ValueError):
    hint = "Use paths relative to the dataset folder, without '..'; replace a link that points outside the folder with a copy of the file."


class AccessDenied(HubError, PermissionError):
    hint = "Pass a token (`--token`, HUB_TOKEN, or `Authorization: Bearer ...`); an admin creates one with `hub token create USER`."


class GatedDataset(AccessDenied):
    hint = "Read the dataset's terms and accept them once: `hub accept ns/name --token ...` (POST /api/datasets/ns/name/accept)."


class BadRequest(HubError, ValueError):
    hint = "See the API's OpenAPI document at /openapi.json."


class PredictionsError(HubError, ValueError):
    hint = "Write one row per record of the split: its `id` and a `prediction` shaped like the labelled field (`hub eval --help`)."


class PayloadTooLarge(HubError, ValueError):
    hint = "Send a smaller file: predictions only (`id`, `prediction`), one row per record of the split."


class RateLimited(HubError):
    """Over a limit that a later retry meets; `retry_after` (seconds) goes into the Retry-After header."""

    hint = "Retry after the time the message gives."


class IntegrityError(HubError, OSError):
    hint = "The bad copy was removed; run the command again to download it afresh."


class OfflineError(HubError, ConnectionError):
    hint = "Unset HUB_OFFLINE to download, or pull this version once while online."


class AnnotationError(HubError, ValueError):
    hint = "See `hub annotate --help` for the tasks each modality supports."


class LabelStudioUnavailable(AnnotationError, ConnectionError):
    hint = (
        "Check that Label Studio runs at HUB_LABEL_STUDIO_URL, then run the command again: "
        "nothing was published, and a pull resumes where it stopped."
    )


class LabelStudioAuthError(AnnotationError, PermissionError):
    hint = "Set HUB_LABEL_STUDIO_TOKEN to your API token (Label Studio: Account & Settings > Access Token)."


class ProjectNotFound(AnnotationError, LookupError):
    hint = "Use the project id that `hub annotate push` printed (also in the Label Studio web app), or create one with `hub annotate push`."


class SplitsWouldMove(HubError, ValueError):
    """Published records would land in another split (the error's `moves` says which and why)."""

    hint = ("Nothing was published. Drop or fix the bridging records, or publish with --allow-moves "
            "(`hub.publish(..., allow_moves=True)`): a MAJOR version whose card and page say how the splits changed.")


class SplitTooSmall(HubError, ValueError):
    """A split with a positive ratio would be empty, or below split.min_rows / split.min_groups."""

    hint = ("Nothing was published. Ways out: other ratios (leave the split out of split.ratios, or give it a larger "
            "share), another split.group_key with more distinct values, or a time split (split: {mode: time, time_key: "
            "..., ratios: ...}) for series and logs; or lower split.min_rows / split.min_groups.")


class DatabaseUnavailable(HubError, ConnectionError):
    hint = "Start it (`scripts/postgres start DATA_DIR PORT` prints the URL) or fix HUB_CATALOG_URL; a retry works once it is back."


class DatabaseSchemaError(HubError):
    hint = "Apply the migrations with `hub db migrate` (with HUB_CATALOG_URL set), then start the server again."
