"""Every `HUB_*` environment variable is read here, with its default, and nowhere else.

| variable           | meaning                                             | default                 |
|--------------------|-----------------------------------------------------|-------------------------|
| HUB_ROOT           | the hub repository to work on                       | search up from the cwd  |
| HUB_NO_PROGRESS    | `1` turns progress bars off                         | on when stderr is a tty |
| HUB_SHARD_ROWS     | the most rows in one Parquet shard                  | 500000                  |
| HUB_SHARD_BYTES    | the most uncompressed bytes in one Parquet shard    | 500 MB                  |
| HUB_MAX_ROW_BYTES  | the largest record the importer accepts, counted whole (JSONL line + media) | 64 MiB |
| HUB_PARQUET_COMPRESSION | codec of published shards: zstd (level 1), snappy, lz4, gzip, brotli, none | zstd |
| HUB_MAX_QUERY_BYTES| the longest query string the server takes           | 8192                    |
| HUB_HOST, HUB_PORT | where `hub serve` listens (read by the CLI)         | 127.0.0.1, 8000         |
| HUB_WORKERS        | worker processes of `hub serve`                     | the cores, at most 4    |
| HUB_ENDPOINT       | the server `hub pull` / `hub.load` download from    | http://127.0.0.1:8000   |
| HUB_TOKEN          | the API token sent to that server                   | none                    |
| HUB_CACHE          | where pulled versions are kept (shared by users)    | ~/.cache/hub            |
| HUB_OFFLINE        | `1`: never touch the network, use the cache only    | off                     |
| HUB_DOWNLOAD_RETRIES | times one pull retries a download that was cut off (it resumes with Range) | 5 |
| HUB_DOWNLOAD_BACKOFF | seconds before the first retry; doubled for each next one, at most 30 | 0.5 |
| HUB_DOWNLOAD_TIMEOUT | seconds a download may wait for the server before it counts as cut off | 60 |
| HUB_LABEL_STUDIO_URL   | the Label Studio server `hub annotate` talks to | http://127.0.0.1:8080   |
| HUB_LABEL_STUDIO_TOKEN | its API token (legacy token or personal access token) | none: required    |
| HUB_LABEL_STUDIO_DOCUMENT_ROOT | the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (media go below it) | `.hub/annotate/media` |
| HUB_LABEL_STUDIO_PAGE_SIZE | task ids per page when exporting a project (at most 950) | 950               |
| HUB_ANNOTATOR_SALT | salt of the annotator pseudonyms in manifests       | a random one kept in .hub/annotate/salt |
| HUB_S3_ENDPOINT    | the S3 endpoint of `hub init --remote s3://...` (SeaweedFS, ...) | AWS's own        |
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WORK_DIR = ".hub"  # inside a hub repository: index, build outputs, quarantine, local remote
CATALOG_FILE = "catalog.duckdb"
DEFAULT_REMOTE_DIR = "remote"


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        from hub.errors import HubError

        raise HubError(f"{name}={value!r} is not a whole number", hint=f"Unset {name} or give it an integer.") from None


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        from hub.errors import HubError

        raise HubError(f"{name}={value!r} is not a number", hint=f"Unset {name} or give it a number (seconds).") from None


def root_override() -> Path | None:
    value = env_str("HUB_ROOT")
    return Path(value) if value else None


def progress_enabled() -> bool:
    if env_bool("HUB_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


def shard_rows() -> int:
    return env_int("HUB_SHARD_ROWS", 500_000)


def shard_bytes() -> int:
    return env_int("HUB_SHARD_BYTES", 500_000_000)


# Parquet codecs the hub writes, with the level it asks for. zstd at level 1 makes shards about
# half the size of snappy's on text, for about the same publishing time here (it spends more
# CPU compressing and less hashing, writing and copying): half the bytes to store and download.
PARQUET_CODECS = {"zstd": ("zstd", 1), "snappy": ("snappy", None), "lz4": ("lz4", None), "gzip": ("gzip", None),
                  "brotli": ("brotli", None), "none": ("none", None)}


def parquet_compression() -> tuple[str, int | None]:
    """(codec, level) of published shards."""
    value = (env_str("HUB_PARQUET_COMPRESSION") or "zstd").strip().lower()
    if value not in PARQUET_CODECS:
        from hub.errors import HubError

        raise HubError(f"HUB_PARQUET_COMPRESSION={value!r} is not a codec the hub writes",
                       hint=f"Unset it (zstd) or use one of: {', '.join(PARQUET_CODECS)}.")
    return PARQUET_CODECS[value]


def spill_bytes() -> int:
    """Decoded source bytes a publish holds in memory before it spills them to memory-mapped files (`hub.spill`)."""
    return env_int("HUB_SPILL_BYTES", 256 * 1024 * 1024)


def max_row_bytes() -> int:
    return env_int("HUB_MAX_ROW_BYTES", 64 * 1024 * 1024)


def max_query_bytes() -> int:
    return env_int("HUB_MAX_QUERY_BYTES", 8192)


def serve_workers() -> int:
    """Worker processes of `hub serve`: HUB_WORKERS, else one per core this process may use, at most 4."""
    return max(1, env_int("HUB_WORKERS", min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)))


def endpoint() -> str:
    return (env_str("HUB_ENDPOINT") or "http://127.0.0.1:8000").rstrip("/")


def token() -> str | None:
    return env_str("HUB_TOKEN")


def cache_dir() -> Path:
    value = env_str("HUB_CACHE")
    if value:
        return Path(value)
    base = env_str("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "hub"


def offline() -> bool:
    return env_bool("HUB_OFFLINE")


def download_retries() -> int:
    """How many times one pull retries a file whose download was cut off (0: never)."""
    return max(0, env_int("HUB_DOWNLOAD_RETRIES", 5))


def download_backoff() -> float:
    """Seconds to wait before the first retry; each next wait is twice as long (at most 30 s)."""
    return max(0.0, env_float("HUB_DOWNLOAD_BACKOFF", 0.5))


def download_timeout() -> float:
    """Seconds a request may wait for the server (connect or read) before it counts as cut off."""
    return max(0.1, env_float("HUB_DOWNLOAD_TIMEOUT", 60.0))
DEFAULT_LABEL_STUDIO_URL = "http://127.0.0.1:8080"


def label_studio_url() -> str:
    return (env_str("HUB_LABEL_STUDIO_URL", DEFAULT_LABEL_STUDIO_URL) or DEFAULT_LABEL_STUDIO_URL).rstrip("/")


def label_studio_token() -> str | None:
    return env_str("HUB_LABEL_STUDIO_TOKEN")


def label_studio_document_root() -> Path | None:
    value = env_str("HUB_LABEL_STUDIO_DOCUMENT_ROOT")
    return Path(value) if value else None


def label_studio_page_size() -> int:
    return max(1, env_int("HUB_LABEL_STUDIO_PAGE_SIZE", 950))


def annotator_salt() -> str | None:
    return env_str("HUB_ANNOTATOR_SALT")


def s3_endpoint() -> str | None:
    """The S3 API URL an `s3://` remote lives at (None: AWS itself); the keys stay AWS_*'s."""
    value = env_str("HUB_S3_ENDPOINT")
    return value.rstrip("/") if value else None
