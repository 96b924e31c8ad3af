"""Dataset ids (`namespace/name`), version numbers (MAJOR.MINOR.PATCH) and `id@version` refs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import InvalidDatasetId, InvalidVersion

_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_VERSION = re.compile(r"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$")


def parse_dataset_id(text: str) -> tuple[str, str]:
    """Split `namespace/name` into its two parts; raise `InvalidDatasetId` on anything else.

    Rejects path tricks (`..`, absolute paths, backslashes, extra slashes), so the result is
    always safe to join under `registry/`.
    """
    if not isinstance(text, str) or text.count("/") != 1:
        raise InvalidDatasetId(f"invalid dataset id {text!r}: expected exactly one '/' (namespace/name)", dataset=str(text))
    namespace, name = text.split("/")
    for part in (namespace, name):
        if not _PART.match(part) or ".." in part or part.endswith("."):
            raise InvalidDatasetId(f"invalid dataset id {text!r}: {part!r} is not a valid part", dataset=text)
    return namespace, name


def check_dataset_id(text: str) -> str:
    """Return `text` if it is a valid dataset id, else raise `InvalidDatasetId`."""
    parse_dataset_id(text)
    return text


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(str(text))
        if not match:
            raise InvalidVersion(f"invalid version {text!r}: expected MAJOR.MINOR.PATCH", version=str(text))
        return cls(*(int(g) for g in match.groups()))

    def bump(self, part: str) -> Version:
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            return Version(self.major, self.minor, self.patch + 1)
        raise InvalidVersion(f"unknown version part {part!r}: use major, minor or patch", version=part)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_ref(text: str) -> tuple[str, str | None]:
    """Split `ns/name@1.2.3` into (`ns/name`, `1.2.3`); the version part is optional."""
    dataset, _, version = text.partition("@")
    check_dataset_id(dataset)
    if version:
        Version.parse(version)
    return dataset, version or None
