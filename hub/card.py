"""The version's README.md: a dataset card whose YAML header the `datasets` library reads."""

from __future__ import annotations

from typing import Any

import datasets
import yaml

from hub.entry import Entry, read_card
from hub.notice import parent_lines
from hub.split_modes import card_lines

# Hugging Face's license ids are lower-case SPDX ids for the common licenses.
_HF_LICENSES = {
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-4.0", "cc-by-3.0", "cc-by-sa-3.0", "gpl-3.0", "lgpl-3.0",
    "odbl", "pddl", "cdla-permissive-2.0", "cdla-sharing-1.0", "unlicense", "openrail", "afl-3.0", "artistic-2.0",
}


def card_metadata(entry: Entry, features: datasets.Features, splits: dict[str, dict[str, Any]], version: str,
                  license: dict[str, Any] | None = None) -> dict[str, Any]:
    """The YAML header: license, tasks, languages, configs (data files per split) and features.
    `license` is the manifest's, the effective one when records carry their own."""
    info = datasets.DatasetInfo(features=features)
    features_yaml = info._to_yaml_dict()["features"]
    effective = license if license and "per_record" in license else None
    spdx = effective["expression"] if effective else entry.license.expression if entry.license else entry.data.get("license")
    meta: dict[str, Any] = {"pretty_name": entry.data.get("title")}
    if spdx and spdx.lower() in _HF_LICENSES:
        meta["license"] = spdx.lower()
    else:
        meta["license"] = "other"
        meta["license_name"] = spdx
    if entry.data.get("languages"):
        meta["language"] = list(entry.data["languages"])
    if entry.data.get("tasks"):
        meta["task_categories"] = list(entry.data["tasks"])
    meta["tags"] = [entry.modality, *(entry.data.get("tags") or [])]
    meta["configs"] = [{
        "config_name": "default",
        "data_files": [{"split": name, "path": f"data/{name}-*"} for name in splits],
    }]
    meta["dataset_info"] = {
        "features": features_yaml,
        "splits": [{"name": name, "num_bytes": s["bytes"], "num_examples": s["rows"]} for name, s in splits.items()],
        "dataset_size": sum(s["bytes"] for s in splits.values()),
    }
    commercial = effective["commercial"] if effective else entry.license.commercial if entry.license else None
    meta["hub"] = {"id": entry.id, "version": version, "license_spdx": spdx, "commercial_use": commercial}
    return meta


def render_card(entry: Entry, features: datasets.Features, splits: dict[str, dict[str, Any]], version: str, manifest: dict[str, Any],
                plots: list[str] = ()) -> str:
    """The whole README.md: YAML header, then the registry's prose card and the facts."""
    meta = card_metadata(entry, features, splits, version, manifest.get("license"))
    lic = manifest.get("license") or {}
    d = entry.data
    prose = read_card(entry.path).strip() or f"# {d.get('title')}"  # raises UnsafePath for a link out of the folder
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip(), "---", "",
        prose, "",
        f"## Version {version}", "",
        f"- Dataset id: `{entry.id}`; modality: {entry.modality}; record schema: `{entry.schema.record}`",
        f"- License: `{meta['hub']['license_spdx']}` (commercial use {'allowed' if meta['hub']['commercial_use'] else 'not allowed or unknown'})",
    ]
    if "per_record" in lic:  # records with their own licenses (hub.license_rules.effective_license)
        held = ", ".join(f"`{k}` {n}" for k, n in lic["per_record"].items()) or "none"
        lines.append(f"  - The effective license: the dataset's `{lic['declared']}` and every record's own license ({held}"
                     f"{'; ' + str(lic['records_without_license']) + ' records name none' if lic['records_without_license'] else ''}), the strictest combination")
    for note in (lic.get("obligations", []) if "per_record" in lic else entry.license.obligations() if entry.license else []):
        lines.append(f"  - {note}")
    lines += ["", "| split | rows | groups |", "|---|---:|---:|"]
    lines += [f"| {name} | {s['rows']} | {s['groups']} |" for name, s in splits.items()]
    certificate = manifest.get("certificate")
    lines += ["", *card_lines(entry.split, certificate)]  # how the splits were made (hash, given, time) and what leaks (hub.split_modes)
    if certificate and certificate.get("moves"):
        lines += ["", *moves_lines(certificate, (manifest.get("parent") or {}).get("version"), version)]
    if certificate:
        lines += ["", *certificate_lines(certificate)]
    if manifest.get("contamination"):
        lines += ["", *contamination_lines(manifest["contamination"])]
    if plots:
        lines += ["", "## Statistics", "", "Per split figures are in `stats.json`.", ""]
        lines += [f"![{name.rsplit('.', 1)[0]}](plots/{name})" for name in plots]
    if manifest.get("annotation"):
        lines += ["", *annotation_lines(manifest["annotation"])]
    if manifest.get("parent"):
        lines.append(f"Parent version: {manifest['parent']['version']} ({manifest['parent']['change']} change).")
    privacy, pii = [d["privacy"].strip()] if d.get("privacy") else [], pii_lines(manifest.get("pii"))
    if privacy or pii:
        lines += ["", "## Privacy", "", *privacy, *([""] if privacy and pii else []), *pii]
    if (manifest.get("lineage") or {}).get("parents"):
        lines += ["", *parents_lines(manifest["lineage"]["parents"])]
    if d.get("citation"):
        lines += ["", "## Citation", "", "```bibtex", d["citation"].strip(), "```"]
    return "\n".join(lines) + "\n"


def contamination_lines(contamination: dict[str, Any]) -> list[str]:
    """The card's account of other datasets' test and validation records this version holds (`hub.contamination`)."""
    lines = ["## Contamination", ""]
    if contamination.get("train_contaminated"):
        lines += ["**Warning: the train split holds test records of other datasets** (published with --allow-contamination). "
                  "A model trained on it cannot be scored fairly on those test sets.", ""]
    for m in contamination["matches"]:
        lines.append(f"- {m['rows']} records of {m['ours']} match {m['dataset']}@{m['version']} {m['split']} "
                     f"(exact: {m['exact']}, near: {m['near']}); first ids: {', '.join(m['ids'])}")
    return lines


def moves_lines(certificate: dict[str, Any], parent: str | None, version: str) -> list[str]:
    """The card's plain account of published records that changed split (`--allow-moves`)."""
    moves, n = certificate["moves"], certificate.get("records_moved", 0)
    changed = sorted({p["from"] for p in moves} | {p["to"] for p in moves}, key=lambda s: (s != "test", s != "validation", s))
    evaluated = [s for s in changed if s != "train"]  # the splits scores are reported on
    named = evaluated or changed
    lines = ["## Splits changed in this version", "",
             f"The {' and '.join(named)} split{'s' if len(named) > 1 else ''} changed: {n} record{'s' if n != 1 else ''} "
             f"published in {parent or 'the parent version'} moved to another split (published with --allow-moves).", ""]
    lines += [f"- {p['records']} record{'s' if p['records'] != 1 else ''} ({p['groups']} group{'s' if p['groups'] != 1 else ''}) moved from {p['from']} to {p['to']}" for p in moves]
    if evaluated:
        lines += ["", f"Scores on the {' and '.join(evaluated)} split{'s' if len(evaluated) > 1 else ''} of {parent or 'the parent version'} and of {version} are not comparable."]
    return lines


def certificate_lines(c: dict[str, Any]) -> list[str]:
    """The card's leakage certificate: what crosses (0), per split target vs achieved, clusters by kind with their first members.

    Reads certificates written before these fields too (`rows_moved_by_duplicates`)."""
    kinds = c.get("duplicate_clusters_by_kind") or {}
    lines = ["## Leakage certificate", "",
             f"- Groups (`{c['group_key']}`) in more than one split: {c['groups_crossing_splits']}",
             f"- Duplicate clusters found: {c['duplicate_clusters']} ({', '.join(f'{k}: {v}' for k, v in kinds.items()) or 'none'}); "
             f"in more than one split: {c['duplicate_clusters_crossing_splits']}"]
    if "records_moved" in c:
        lines.append(f"- Published records moved to another split: {c['records_moved']}")
        lines.append(f"- Groups sharing their split with another group because of a duplicate: {c.get('groups_tied_by_duplicates', 0)}")
    elif "rows_moved_by_duplicates" in c:
        lines.append(f"- Records placed with a duplicate's group instead of their own: {c['rows_moved_by_duplicates']}")
    splits = c.get("splits") or {}
    if splits and all("target_share" in s for s in splits.values()):
        lines += ["", "| split | rows | groups | target share | achieved share |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {s['rows']} | {s['groups']} | {s['target_share']:.1%} | {s['share']:.1%} |" for name, s in splits.items()]
    examples = {k: v for k, v in (c.get("duplicate_cluster_examples") or {}).items() if v}
    if examples:
        lines += ["", "First duplicate clusters (record ids):", ""]
        lines += [f"- {kind}: " + "; ".join(", ".join(f"`{i}`" for i in members) for members in clusters) for kind, clusters in examples.items()]
    if c.get("checks_skipped"):
        lines.append(f"- Not checked: {'; '.join(c['checks_skipped'])}")
    lines += ["", "Details and thresholds: `leakage.json`."]
    return lines


def annotation_lines(a: dict[str, Any]) -> list[str]:
    """The card's section on labels pulled from Label Studio: where, who (pseudonyms), agreement."""
    agreement = a.get("agreement") or {}
    overall = agreement.get("overall")
    lines = ["## Annotation", "",
             f"- Labels of `{a['field']}` ({a['task']}) from Label Studio project {a['project']['id']} ({a['project']['title']!r}), pulled {a['pulled']}",
             f"- Records relabelled in this version: {a['records_changed']}; tasks exported: {a['tasks']}; annotations: {a['annotations']}; rule: {a['rule']}",
             f"- Annotators (pseudonymized, salted sha256): {len(a['annotators'])}",
             f"- Agreement ({agreement.get('measure', '-')}): {'-' if overall is None else f'{overall:.3f}'} over {agreement.get('tasks_compared', 0)} tasks"
             + (f"; Krippendorff's alpha {agreement['alpha']:.3f}" if agreement.get("alpha") is not None else "")]
    for who, s in sorted((agreement.get("per_annotator") or {}).items()):
        lines.append(f"  - `{who}`: {s['score']:.3f} over {s['pairs']} pairs")
    lines.append(f"- Left out: {a['conflicts']} conflicts, {a['skipped']} skipped tasks, {a['rejected']} rejected annotations (listed in `manifest.json`)")
    return lines


_PII_POLICIES = {
    "reject": "records with personal data in their free text are rejected (kept out of the version, in quarantine)",
    "redact": "personal data in the free text is replaced by a typed placeholder (`<EMAIL>`, `<PHONE>`, ...) in the published shards",
    "report": "personal data in the free text is reported, not removed",
}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"


def pii_lines(pii: dict[str, Any] | None) -> list[str]:
    """The privacy section's account of the PII gate (`hub.pii`): the policy, the fields read, what was found and done."""
    if not pii:
        return []
    lines = [f"- PII policy: `{pii['policy']}`: {_PII_POLICIES[pii['policy']]}.",
             f"- Fields read: {', '.join(f'`{f}`' for f in pii['fields']) or 'none'}; "
             "found at validation: " + (f"{_counts(pii['findings'])} (in {pii['rows']} record{'s' if pii['rows'] != 1 else ''})" if pii["rows"] else "none")]
    if "redacted" in pii:
        lines.append(f"- Spans replaced in this version: {_counts(pii['redacted'])}")
    for kind, why in (pii.get("not_detected") or {}).items():
        lines.append(f"- Not looked for: {why}. A record may name people although the gate found nothing ({kind}).")
    return lines


def parents_lines(parents: list[dict[str, Any]]) -> list[str]:
    """The card's list of the datasets a derived version was made from (`hub.deriving`)."""
    lines = ["## Derived from", ""]
    for p in parents:
        lines.append(f"- `{p['dataset']}@{p['version']}`{' (' + p['split'] + ' split)' if p.get('split') else ''}: {p['rows']} records, "
                     f"license `{p['license']}`, manifest sha256 `{p['manifest_sha256']}`")
    return lines


def notice(entry: Entry, manifest: dict[str, Any]) -> str:
    """NOTICE.md of a derived version: its license and, for every parent, its version, license,
    creators and citation, which its users must credit."""
    lic = manifest["license"]
    lines = [f"# {entry.data.get('title') or entry.id} ({entry.id}@{manifest['version']})", "", f"License: `{lic['expression']}`"
             f" (commercial use {'allowed' if lic.get('commercial') else 'NOT allowed'})", ""]
    lines += [f"- {note}" for note in lic.get("obligations", [])]
    lines += ["", *parent_lines(manifest["lineage"]["parents"])]
    return "\n".join(lines).rstrip() + "\n"
