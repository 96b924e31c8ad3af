"""The license rules table: one test per rule (hub.license_rules)."""

from hub.license_rules import RULES, check_derived


def _messages(declared, parents, **kw):
    return [(f.slug, f.parent, f.message) for f in check_derived(declared, parents, **kw)]


def test_rules_table_names_every_rule():
    assert list(RULES) == ["non-commercial propagates", "share-alike requires the same or a compatible license",
                           "no-derivatives cannot be derived", "attribution propagates"]


def test_non_commercial_propagates():
    assert _messages("CC-BY-4.0", {"a/nc@1.0.0": "CC-BY-NC-4.0"}) == [
        ("license-incompatible", "a/nc@1.0.0", "license CC-BY-4.0 does not satisfy parent a/nc@1.0.0 (CC-BY-NC-4.0), "
         "which forbids commercial use, which the declared license allows")]
    assert _messages("CC-BY-NC-4.0", {"a/nc@1.0.0": "CC-BY-NC-4.0"}) == []


def test_share_alike_requires_same_or_compatible():
    assert _messages("CC-BY-4.0", {"a/sa@1.0.0": "CC-BY-SA-4.0"}) == [
        ("license-incompatible", "a/sa@1.0.0", "license CC-BY-4.0 does not satisfy parent a/sa@1.0.0 (CC-BY-SA-4.0), "
         "which is ShareAlike: the derived dataset must use CC-BY-SA-4.0 or GPL-3.0-only or GPL-3.0-or-later")]
    assert _messages("CC-BY-SA-4.0", {"a/sa@1.0.0": "CC-BY-SA-4.0"}) == []
    assert _messages("GPL-3.0-only", {"a/sa@1.0.0": "CC-BY-SA-4.0"}) == []


def test_no_derivatives_cannot_be_derived():
    assert _messages("CC-BY-ND-4.0", {"a/nd@1.0.0": "CC-BY-ND-4.0"}) == [
        ("license-incompatible", "a/nd@1.0.0", "license CC-BY-ND-4.0 does not satisfy parent a/nd@1.0.0 (CC-BY-ND-4.0), "
         "which allows no derivatives: no dataset can be derived from it")]


def test_attribution_propagates():
    assert [m[0] for m in _messages("CC0-1.0", {"a/by@1.0.0": "CC-BY-4.0"})] == ["license-incompatible"]
    assert _messages("CC-BY-4.0", {"a/pd@1.0.0": "CC0-1.0"}) == []


def test_license_ref_is_unknown_without_accepting_the_risk():
    assert _messages("LicenseRef-mine", {"a/x@1.0.0": "LicenseRef-vendor"}) == [
        ("license-unknown", "a/x@1.0.0", "parent a/x@1.0.0 is under LicenseRef-vendor, whose terms the hub does not know: "
         "check them, then derive with --accept-license-risk")]
    assert [f.slug for f in check_derived("LicenseRef-mine", {"a/x@1.0.0": "LicenseRef-vendor"}, accept_license_risk=True)] == []


def test_mit_over_a_by_and_a_nc_sa_parent_is_refused_naming_the_nc_sa_parent():
    parents = {"a/by@1.0.0": "CC-BY-4.0", "b/ncsa@2.1.0": "CC-BY-NC-SA-4.0"}
    found = check_derived("MIT", parents)
    assert {(f.parent, f.parent_license) for f in found} == {("b/ncsa@2.1.0", "CC-BY-NC-SA-4.0")}
    assert check_derived("CC-BY-NC-SA-4.0", parents) == []


def test_strictest_combination_of_a_dataset_and_its_records_licenses():
    """The effective license of records with their own terms: every part's terms at once."""
    from hub.license import check_license
    from hub.license_rules import strictest

    both = strictest([check_license("BSD-3-Clause"), check_license("CC-BY-4.0"), check_license("CC-BY-NC-SA-4.0")])
    assert (both.expression, both.commercial, both.attribution, both.share_alike, both.no_derivatives) == (
        "BSD-3-Clause AND CC-BY-4.0 AND CC-BY-NC-SA-4.0", False, True, True, False)
    assert check_license(both.expression).to_dict() == both.to_dict()  # the same terms as the AND expression itself
    again = strictest([check_license("BSD-3-Clause AND CC-BY-4.0"), check_license("CC-BY-4.0")])  # no term twice
    assert (again.expression, again.commercial) == ("BSD-3-Clause AND CC-BY-4.0", True)
    assert strictest([check_license("CC0-1.0"), check_license("MIT OR Apache-2.0")]).expression == "CC0-1.0 AND (MIT OR Apache-2.0)"
    assert strictest([check_license("LicenseRef-Inhouse", commercial=True), check_license("CC-BY-4.0")]).commercial is True  # a decided LicenseRef keeps it
