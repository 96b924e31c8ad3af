"""Ids, versions, licenses, the public surface: small pure functions, exact messages."""

from __future__ import annotations

import pytest

import hub
from hub.ids import Version, parse_dataset_id, parse_ref
from hub.license import check_license
from hub.splits import bucket_of, split_of


def test_public_surface_is_pinned():
    assert sorted(hub.__all__) == sorted([
        "AccessDenied", "AnnotationError", "DatasetExists", "DatasetNotFound", "GatedDataset", "HubError", "IntegrityError", "InvalidDatasetId",
        "InvalidVersion", "LabelStudioAuthError", "LabelStudioUnavailable", "LeakageError", "LicenseError", "NotAHubRepo", "OfflineError",
        "ProjectNotFound", "SourceError", "StorageError", "ValidationFailed", "VersionExists", "VersionNotFound", "__version__",
        "accept", "annotate_invite", "annotate_pull", "annotate_push", "annotate_status", "audit", "check", "create_token", "derive", "evaluate", "import_corpus", "index", "init", "list_datasets", "load", "new",
        "publish", "pull", "search", "serve", "show", "split", "validate",
    ])
    for name in hub.__all__:
        assert callable(getattr(hub, name)) or name == "__version__"
    assert issubclass(hub.DatasetNotFound, LookupError) and issubclass(hub.DatasetNotFound, hub.HubError)


@pytest.mark.parametrize("text", ["acme/factory-sounds", "a/b", "UEA/BasicMotions_2", "ns/name.v2"])
def test_valid_dataset_ids(text):
    assert "/".join(parse_dataset_id(text)) == text


def test_refs_and_versions():
    assert parse_ref("acme/x@1.2.3") == ("acme/x", "1.2.3")
    assert parse_ref("acme/x") == ("acme/x", None)
    assert str(Version.parse("1.2.3").bump("minor")) == "1.3.0"
    assert Version.parse("1.10.0") > Version.parse("1.9.9")
    with pytest.raises(hub.InvalidVersion) as err:
        Version.parse("01.0.0")
    assert err.value.message == "invalid version '01.0.0': expected MAJOR.MINOR.PATCH"


@pytest.mark.parametrize("expression, canonical, commercial, share_alike", [
    ("CC-BY-4.0", "CC-BY-4.0", True, False),
    ("mit", "MIT", True, False),
    ("CC-BY-NC-4.0", "CC-BY-NC-4.0", False, False),
    ("CC-BY-SA-4.0", "CC-BY-SA-4.0", True, True),
    ("MIT OR CC-BY-NC-4.0", "MIT OR CC-BY-NC-4.0", True, False),
    ("CC-BY-NC-SA-4.0 AND MIT", "CC-BY-NC-SA-4.0 AND MIT", False, True),
    ("LicenseRef-UEA-Archive", "LicenseRef-UEA-Archive", False, False),
])
def test_license_terms(expression, canonical, commercial, share_alike):
    info = check_license(expression)
    assert (info.expression, info.commercial, info.share_alike) == (canonical, commercial, share_alike)


@pytest.mark.parametrize("expression, message", [
    ("MIT-ish", "license 'MIT-ish': unknown SPDX license id 'MIT-ish'"),
    ("MIT AND", "license 'MIT AND' is not a valid SPDX expression: AND requires two or more licenses as in: MIT AND BSD"),
    ("", "the license is empty: an SPDX expression is required"),
    ("GPL-3.0-or-later AND Bogus-1.0", "license 'GPL-3.0-or-later AND Bogus-1.0': unknown SPDX license id 'Bogus-1.0'"),
])
def test_bogus_licenses_are_errors(expression, message):
    with pytest.raises(hub.LicenseError) as err:
        check_license(expression)
    assert err.value.message == message


def test_split_rule_is_the_documented_md5_rule():
    import hashlib

    from hub.entry import SplitPolicy

    digest = hashlib.md5(b"7:speaker-42").digest()
    assert bucket_of("speaker-42", 7) == int.from_bytes(digest[:8], "little") % 1_000_000
    policy = SplitPolicy("speaker", None, {"train": 0.5, "test": 0.5}, 7)
    assert split_of("speaker-42", policy) == ("train" if bucket_of("speaker-42", 7) < 500_000 else "test")


def test_vectorised_assignment_matches_the_reference_rule():
    import pyarrow as pa

    from hub.entry import SplitPolicy
    from hub.splits import assign

    policy = SplitPolicy("g", None, {"train": 0.8, "validation": 0.1, "test": 0.1}, 20261122)
    groups = [f"speaker-{i}" for i in range(2000)] + ["说话人", ""]
    index, names = assign(pa.array(groups), policy)
    assert [names[i] for i in index] == [split_of(g, policy) for g in groups]
    assert set(index.tolist()) == {0, 1, 2}
