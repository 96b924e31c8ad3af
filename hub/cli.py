"""The `hub` command: parse, make one library call, render, map errors to an exit code.

Exit codes: 0 success, 1 a hub error (invalid data, not found, ...), 2 usage error.
Every command takes `--json`; its output is exactly what the library returned.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import click

import hub
from hub import progress, records
from hub.errors import HubError, ValidationFailed

MODALITIES = records.modalities()
RECORDS = list(records.RECORD_TYPES)
# e.g. "industrial: sensor or inspection": the modalities whose records come in several types
_RECORD_CHOICES = "; ".join(f"{m}: {' or '.join(t.name for t in records.for_modality(m))}" for m in MODALITIES if len(records.for_modality(m)) > 1)


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _print_report(report: dict[str, Any], limit: int | None = None) -> None:
    from hub.report import DETAIL_LIMIT, render_report

    for line in render_report(report, DETAIL_LIMIT if limit is None else limit if limit > 0 else None):
        click.echo(line)


def command(func: Callable) -> Callable:
    """Shared options (--json) and the one place errors become messages and exit codes."""

    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @functools.wraps(func)
    def wrapper(*args: Any, as_json: bool, **kwargs: Any) -> None:
        try:
            func(*args, as_json=as_json, **kwargs)
        except HubError as exc:
            if as_json:
                _dump(exc.to_dict())
            else:
                if isinstance(exc, ValidationFailed):
                    _print_report(exc.report.to_dict())
                click.echo(f"Error: {exc.message}", err=True)
                if exc.hint:
                    click.echo(f"Hint: {exc.hint}", err=True)
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(hub.__version__, prog_name="hub")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), envvar="HUB_ROOT", help="The hub repository (default: found from the current folder).")
@click.option("--no-progress", is_flag=True, envvar="HUB_NO_PROGRESS", help="Turn progress bars off (also HUB_NO_PROGRESS=1).")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, root: Path | None, no_progress: bool, verbose: int) -> None:
    """Register, validate, split and publish annotated datasets."""
    ctx.obj = {"root": root}
    if no_progress:
        progress.set_enabled(False)
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def _root(ctx: click.Context) -> Path | None:
    return ctx.obj.get("root")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--remote", help="DVC remote URL for published data (default: a local folder, .hub/remote); "
              "s3://BUCKET/PREFIX is at HUB_S3_ENDPOINT, with the AWS_* keys.")
@command
def init(path: Path, remote: str | None, as_json: bool) -> None:
    """Create a hub repository at PATH: git + DVC, registry/, pipelines/, schemas/, dvc.yaml."""
    root = hub.init(path, remote=remote)
    if as_json:
        _dump({"root": str(root)})
    else:
        click.echo(f"Created hub repository {root}")
        click.echo(f"Next: cd {path} && hub new NAMESPACE/NAME --modality speech")


@main.command()
@click.argument("dataset")
@click.option("--modality", type=click.Choice(MODALITIES), required=True, help="What the records hold.")
@click.option("--record", type=click.Choice(RECORDS), help=f"Record schema ({_RECORD_CHOICES}).")
@click.option("--license", "license_", default="CC-BY-4.0", show_default=True, help="SPDX license expression.")
@click.option("--title", help="Human title (default: from the name).")
@command
@click.pass_context
def new(ctx: click.Context, dataset: str, modality: str, record: str | None, license_: str, title: str | None, as_json: bool) -> None:
    """Scaffold registry/DATASET/ (dataset.yaml, README.md, raw/, annotations/) to edit."""
    folder = hub.new(dataset, modality=modality, record=record, license=license_, title=title, root=_root(ctx))
    if as_json:
        _dump({"dataset": dataset, "path": str(folder)})
    else:
        click.echo(f"Created {folder}")
        click.echo(f"Next: edit {folder / 'dataset.yaml'}, put records in {folder / 'raw'}, then `hub validate {dataset}`")


def _import_formats() -> list[str]:
    from hub.importers import FORMATS

    return ["auto", *FORMATS]


@main.command(name="import")
@click.argument("format_", metavar="FORMAT", type=click.Choice(_import_formats()))
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("dataset")
@click.option("--license", "license_", default="LicenseRef-Unknown", show_default=True, help="SPDX license expression of the corpus.")
@click.option("--language", help="BCP-47 language of speech records, where the source does not say (e.g. en).")
@click.option("--window", type=click.IntRange(1), help="sensor-csv: samples per window (default 100).")
@click.option("--title", help="Human title (default: from the name).")
@click.option("--all", "show_all", is_flag=True, help="Print every problem line of the validation (default: the first 20).")
@command
@click.pass_context
def import_(ctx: click.Context, format_: str, path: Path, dataset: str, license_: str, language: str | None, window: int | None, title: str | None,
            show_all: bool, as_json: bool) -> None:
    """Import the corpus at PATH (in FORMAT, or auto) as DATASET, then validate it.

    Writes registry/DATASET/ (dataset.yaml with the mapping it inferred, README.md, the
    records and media under raw/); nothing is written if the import fails. Formats: hf-disk
    (save_to_disk), hf-parquet (the Hub's Parquet layout), imagefolder, audiofolder, csv or
    jsonl with a media folder, kaldi, commonvoice, coco, sensor-csv (one CSV per asset)."""
    result = hub.import_corpus(format_, path, dataset, license=license_, language=language, window=window, title=title, root=_root(ctx))
    data = result.to_dict()
    if as_json:
        _dump(data)
    else:
        click.echo(f"Imported {result.rows} records ({result.format}) into {result.path}")
        for field_, source in result.mapping.items():
            click.echo(f"  {field_:<16} <- {source}")
        if result.splits:
            click.echo("  official splits kept: " + ", ".join(f"{k} {v}" for k, v in sorted(result.splits.items())))
        for note in result.notes:
            click.echo(f"  note: {note}")
        _print_report(data["report"], 0 if show_all else None)
    sys.exit(int(not data["report"]["valid"]))


@main.command()
@click.argument("dataset")
@click.option("--from", "sources", multiple=True, required=True, metavar="NS/NAME@X.Y.Z[:SPLIT]", help="A parent: a published version, or one of its splits (repeat for more).")
@click.option("--filter", "filter_", metavar="EXPR", help="Keep the records this SQL condition holds for, over the record fields and `parent`, e.g. \"label = '3'\".")
@click.option("--license", "license_", help="SPDX license of the derived dataset (default: the parents' one license); it must keep every parent's terms.")
@click.option("--accept-license-risk", is_flag=True, help="Derive from parents under LicenseRef- licenses whose terms the hub does not know.")
@click.option("--title", help="Human title (default: from the parents).")
@command
@click.pass_context
def derive(ctx: click.Context, dataset: str, sources: tuple[str, ...], filter_: str | None, license_: str | None, accept_license_risk: bool,
           title: str | None, as_json: bool) -> None:
    """Write registry/DATASET/ from records of published versions (same record type), then validate it.

    Record ids are prefixed by their parent and a `parent` field names it; the license must
    satisfy every parent (non-commercial and ShareAlike terms propagate, NoDerivatives parents
    refuse). Publish it with `hub publish DATASET`: its NOTICE.md and lineage name the parents."""
    result = hub.derive(dataset, list(sources), filter=filter_, license=license_, accept_license_risk=accept_license_risk, title=title, root=_root(ctx))
    data = result.to_dict()
    if as_json:
        _dump(data)
    else:
        click.echo(f"Derived {result.dataset} ({result.license}): {result.rows} records in {result.path}")
        for p in result.parents:
            click.echo(f"  {p['rows']:>8} from {p['dataset']}@{p['version']}{':' + p['split'] if p['split'] else ''} ({p['license']})")
        _print_report(data["report"])
    sys.exit(int(not data["report"]["valid"]))


@main.command()
@click.argument("dataset")
@click.option("--all", "show_all", is_flag=True, help="Print every problem line after the summary (default: the first 20).")
@command
@click.pass_context
def validate(ctx: click.Context, dataset: str, show_all: bool, as_json: bool) -> None:
    """Check DATASET's entry and every record; exit 0 only when all is valid.

    Prints a summary per kind of problem (how many, the first rows, what to change), then the
    problems one per line; --json has all of it."""
    report = hub.validate(dataset, root=_root(ctx)).to_dict()
    _dump(report) if as_json else _print_report(report, 0 if show_all else None)
    sys.exit(int(not report["valid"]))


@main.command()
@click.argument("dataset")
@click.option("--version", "version", help="Version to publish (default: 1.0.0, then the bump the change needs).")
@click.option("--bump", type=click.Choice(["major", "minor", "patch"]), help="Bump the latest version by this part.")
@click.option("--allow-rejects", is_flag=True, help="Publish the valid rows even if some were rejected (they stay in quarantine).")
@click.option("--allow-leaks", is_flag=True, help="Publish a given or time split even if groups or duplicates cross it (the card says how much).")
@click.option("--allow-moves", is_flag=True, help="Let records of the latest version change split (a MAJOR version; the card and page say what moved).")
@click.option("--allow-contamination", is_flag=True, help="Publish even if train records are another dataset's test or validation records (the card names them).")
@click.option("--no-push", is_flag=True, help="Keep the data in the DVC cache only; do not push to the remote.")
@click.option("--skip-unchanged", is_flag=True, help="If the records equal the latest version's, succeed without publishing.")
@command
@click.pass_context
def publish(ctx: click.Context, dataset: str, version: str | None, bump: str | None, allow_rejects: bool, allow_leaks: bool, allow_moves: bool, allow_contamination: bool,
            no_push: bool, skip_unchanged: bool, as_json: bool) -> None:
    """Validate, split and publish DATASET as a new immutable version."""
    result = hub.publish(dataset, version=version, bump=bump, allow_rejects=allow_rejects, allow_leaks=allow_leaks, allow_moves=allow_moves,
                         allow_contamination=allow_contamination, push=not no_push, skip_unchanged=skip_unchanged, root=_root(ctx))
    if as_json:
        _dump(result.to_dict())
        return
    for notice in result.notices:
        click.echo(f"notice: {notice['message']}")
    if result.unchanged:
        click.echo(f"Unchanged: {result.dataset}@{result.version} already holds these records ({result.path})")
        return
    m = result.manifest
    click.echo(f"Published {result.dataset}@{result.version}: {m['rows']} rows in {len(m['files'])} files")
    moves = (m.get("certificate") or {}).get("moves") or []
    if moves:
        parent = (m.get("parent") or {}).get("version")
        click.echo(f"  the splits changed (--allow-moves): {m['certificate']['records_moved']} records published in {parent} moved: "
                   + ", ".join(f"{p['from']} → {p['to']} {p['records']}" for p in moves))
        for gone in sorted({p["from"] for p in moves} - set(m["splits"])):
            click.echo(f"  split {gone} is gone: its {sum(p['records'] for p in moves if p['from'] == gone)} published records are in other splits now")
    for match in (m.get("contamination") or {}).get("matches", []):
        what = "contains test records (--allow-contamination)" if match["ours"] == "train" else "shares records (not refused)"
        click.echo(f"  {what}: {match['rows']} records of {match['ours']} match "
                   f"{match['dataset']}@{match['version']} {match['split']} (exact: {match['exact']}, near: {match['near']})")
    leaks = (m.get("certificate") or {}).get("leaks")
    if leaks and not m["certificate"]["holds"]:
        g, c = leaks["groups_crossing"], leaks["duplicate_clusters_crossing"]
        click.echo(f"  the splits leak (--allow-leaks): {g} group{'s' if g != 1 else ''} ({leaks['group_key']}) and "
                   f"{c} duplicate cluster{'s' if c != 1 else ''} cross them; "
                   + ", ".join(f"{n}: {s['rows_leaking']} of {s['rows']} rows" for n, s in leaks["splits"].items()) + " (the card has the ids)")
    for name, s in m["splits"].items():
        click.echo(f"  {name:<12} {s['rows']:>9} rows {s['groups']:>8} groups")
    if result.report.rows_rejected:
        click.echo(f"  {result.report.rows_rejected} rows rejected, kept in {result.report.quarantine}")
    click.echo(f"  {result.path}")


def _print_certificate(c: dict[str, Any]) -> None:
    click.echo(f"  leakage certificate: {'HOLDS' if c['holds'] else 'BROKEN'}")
    click.echo(f"    groups ({c['group_key']}) in more than one split: {c['groups_crossing_splits']}")
    kinds = ", ".join(f"{k} {v}" for k, v in c["duplicate_clusters_by_kind"].items()) or "none"
    click.echo(f"    duplicate clusters: {c['duplicate_clusters']} ({kinds}); in more than one split: {c['duplicate_clusters_crossing_splits']}")
    if "records_moved" in c:
        click.echo(f"    published records moved to another split: {c['records_moved']}")
    for skipped in c.get("checks_skipped", []):
        click.echo(f"    not checked: {skipped}")
    for name, s in c["splits"].items():
        click.echo(f"    {name:<12} {s['rows']:>9} rows {s['groups']:>8} groups")
    if c.get("stratification"):
        st = c["stratification"]
        click.echo(f"    largest deviation of a {st['key']} share from the whole: {st['largest_deviation']:.3f}")


@main.command(name="split")
@click.argument("dataset")
@click.option("--allow-leaks", is_flag=True, help="Build a given or time split even if groups or duplicates cross it (as publish --allow-leaks).")
@click.option("--allow-moves", is_flag=True, help="Let records of the latest version change split (as publish --allow-moves).")
@command
@click.pass_context
def split_(ctx: click.Context, dataset: str, allow_leaks: bool, allow_moves: bool, as_json: bool) -> None:
    """Validate and split DATASET into .hub/build/ (shards, certificate, stats, card)."""
    result = hub.split(dataset, allow_leaks=allow_leaks, allow_moves=allow_moves, root=_root(ctx))
    if as_json:
        _dump(result)
        return
    click.echo(f"Split {dataset} into {result['path']}")
    _print_certificate(result["certificate"])


@main.command()
@click.argument("dataset")
@click.option("--allow-leaks", is_flag=True, help="Exit 0 for a build whose given or time splits leak (the certificate says how much).")
@command
@click.pass_context
def check(ctx: click.Context, dataset: str, allow_leaks: bool, as_json: bool) -> None:
    """Certify DATASET's build from its files: no group or duplicate in two splits."""
    try:
        certificate = hub.check(dataset, allow_leaks=allow_leaks, root=_root(ctx))
    except hub.LeakageError as exc:
        if not as_json:
            _print_certificate(exc.certificate)
        raise
    if as_json:
        _dump(certificate)
        return
    click.echo(f"Checked {dataset}")
    _print_certificate(certificate)


def _print_leaks(leaks: dict[str, Any]) -> None:
    for g in leaks["groups"]:
        click.echo(f"    group {g['group']!r} in {', '.join(f'{s} ({n})' for s, n in g['rows'].items())}: {', '.join(g['ids'])}")
    for c in leaks["duplicate_clusters"]:
        click.echo(f"    {c['kind']} cluster in {', '.join(c['rows'])}: {', '.join(c['ids'])}")
    for name, s in leaks["splits"].items():
        click.echo(f"    {name}: {s['rows_leaking']} of {s['rows']} rows share a group or a duplicate with another split")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--group-key", help="The column whose values must stay in one split (default: the record type's, e.g. speaker; else id).")
@click.option("--split-column", help="The column naming each row's split, for a folder of one table.")
@click.option("--record", type=click.Choice(RECORDS), help="The record type whose duplicate engine to use (default: inferred from the columns).")
@click.option("--exact-only", is_flag=True, help="Look for exact duplicates only (no near-duplicate search).")
@command
def audit(path: Path, group_key: str | None, split_column: str | None, record: str | None, exact_only: bool, as_json: bool) -> None:
    """Certify the splits of any dataset on disk, without a registry: exit 1 when a group or duplicate crosses them.

    PATH is a `datasets` save_to_disk folder (a DatasetDict) or a Parquet folder
    (data/<split>-*.parquet or <split>/*.parquet)."""
    result = hub.audit(path, group_key=group_key, split_column=split_column, record=record, near=not exact_only)
    if as_json:
        _dump(result)
    else:
        click.echo(f"Audited {result['path']} ({result['layout']}, {result['record'] or 'columns'} duplicates)")
        _print_certificate(result)
        if result.get("leaks"):
            _print_leaks(result["leaks"])
    sys.exit(int(not result["holds"]))


def _print_datasets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("No datasets found.")
        return
    click.echo(f"{'DATASET':<32} {'MODALITY':<10} {'LATEST':<8} {'LICENSE':<24} TITLE")
    for r in rows:
        click.echo(f"{r['id']:<32} {r['modality'] or '?':<10} {r['latest'] or '-':<8} {(r['license'] or '?')[:24]:<24} {r['title'] or ''}")


@main.command(name="list")
@command
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List every registered dataset (on stderr: the entries and versions left out, and why)."""
    from hub.listing import cached_listing
    from hub.repo import find_root

    root = find_root(_root(ctx))
    listed = cached_listing(root)  # the registry unchanged since the index was built: no DuckDB to start
    if listed is None:
        from hub.catalog import Catalog

        catalog = Catalog(root)
        listed = catalog.list(), catalog.problems()
    rows, problems = listed
    _dump(rows) if as_json else _print_datasets(rows)
    for p in problems:
        click.echo(f"skipped {p['dataset']}{'@' + p['version'] if p['version'] else ''}: {p['message']}\n  {p['hint']}", err=True)


@main.command()
@click.argument("query", default="")
@click.option("--modality", type=click.Choice(MODALITIES), help="Only datasets of this modality.")
@click.option("--task", help="A task id, e.g. automatic-speech-recognition.")
@click.option("--language", help="A BCP-47 language code, e.g. en.")
@click.option("--license", "license_", help="Part of an SPDX id, e.g. CC-BY.")
@click.option("--commercial/--non-commercial", default=None, help="Only datasets whose license allows (or does not allow) commercial use.")
@command
@click.pass_context
def search(ctx: click.Context, query: str, modality: str | None, task: str | None, language: str | None, license_: str | None, commercial: bool | None, as_json: bool) -> None:
    """Find datasets by text and filters."""
    rows = hub.search(query, modality=modality, task=task, language=language, license=license_, commercial=commercial, root=_root(ctx))
    _dump(rows) if as_json else _print_datasets(rows)


@main.command()
@click.argument("ref")
@command
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Describe a dataset (ns/name) or one version (ns/name@1.0.0)."""
    info = hub.show(ref, root=_root(ctx))
    if as_json:
        _dump(info)
        return
    click.echo(f"{info['id']}: {info['title']}")
    click.echo(f"  modality {info['modality']} ({info['record']}), license {info['license']}, commercial use {'yes' if info['commercial'] else 'no'}")
    click.echo(f"  tasks: {', '.join(info['tasks']) or '-'}; languages: {', '.join(info['languages']) or '-'}")
    click.echo(f"  versions: {', '.join(info['versions']) or 'none published'}")
    if "manifest" in info:
        m = info["manifest"]
        click.echo(f"  {info['version']}: {m['rows']} rows, created {m['created']}, at {info['path']}")
        for name, s in m["splits"].items():
            click.echo(f"    {name:<12} {s['rows']:>9} rows {s['groups']:>8} groups")
        for f in m["files"]:
            click.echo(f"    {f['path']}  sha256:{f['sha256'][:16]}…  {f['size']} bytes")


@main.command()
@click.argument("target")
@click.option("--against", help="Only this test set (ns/name or ns/name@X.Y.Z); default: every dataset's test and validation splits.")
@click.option("--record", type=click.Choice(list(records.RECORD_TYPES)), help="The record type of a PATH's rows (default: the one whose fields it has).")
@command
@click.pass_context
def contamination(ctx: click.Context, target: str, against: str | None, record: str | None, as_json: bool) -> None:
    """Check TARGET's records against every test and validation split in the hub.

    TARGET is a registered dataset (ns/name: validated and split as a publish would) or data
    on disk: a Parquet file or folder, or a `datasets.save_to_disk` folder (its splits other
    than test and validation count as training data). Exit 1 when training records match."""
    path = Path(target)
    registered = "/" in target and not path.exists()  # ns/name, not a folder
    if not registered and record is None:
        record = _infer_record(path)
    result = hub.check_contamination(target if registered else path, against=against, record=record, root=_root(ctx))
    if as_json:
        _dump(result)
    else:
        for m in result["matches"]:
            click.echo(f"{m['rows']} records of {m['ours']} match {m['dataset']}@{m['version']} {m['split']} "
                       f"(exact: {m['exact']}, near: {m['near']}); first ids: {', '.join(m['ids'][:5])}")
        click.echo(f"{result['target']}: {'training records match test sets' if result['contaminated'] else 'no training record matches a test set'}")
    sys.exit(int(result["contaminated"]))


def _infer_record(path: Path) -> str:
    """The record type whose required fields the data at `path` has."""
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.rglob("*.parquet")) or sorted(path.rglob("*.arrow"))
    if not files:
        raise HubError(f"{path} holds no Parquet or Arrow files", hint="Point at a Parquet file or folder, or a `save_to_disk` folder.")
    if files[0].suffix == ".arrow":
        import pyarrow as pa

        with pa.memory_map(str(files[0])) as source:
            columns = set(pa.ipc.open_stream(source).schema.names)
    else:
        columns = set(pq.read_schema(files[0]).names)
    record = records.infer(columns)
    if record is None:
        raise HubError(f"cannot tell the record type of {path} from its columns ({', '.join(sorted(columns))})",
                       hint=f"Name it with --record ({', '.join(records.RECORD_TYPES)}).")
    return record


@main.command()
@command
@click.pass_context
def index(ctx: click.Context, as_json: bool) -> None:
    """Rebuild the catalog index (DuckDB) from registry/."""
    result = hub.index(root=_root(ctx))
    _dump(result) if as_json else click.echo(f"Indexed {result['datasets']} datasets into {result['path']}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="HUB_HOST", help="Interface to listen on (0.0.0.0 for every one; also HUB_HOST).")
@click.option("--port", default=8000, show_default=True, envvar="HUB_PORT", type=click.IntRange(1, 65535), help="TCP port (also HUB_PORT).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default: HUB_WORKERS, else one per core, at most 4).")
@command
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int | None, as_json: bool) -> None:
    """Serve the catalog: pages, JSON API, the Hugging Face Hub API subset, Croissant."""
    from hub import config

    url = f"http://{host}:{port}"
    workers = workers or config.serve_workers()
    if as_json:
        _dump({"url": url, "hf_endpoint": url, "openapi": f"{url}/openapi.json", "workers": workers})
    else:
        click.echo(f"Serving the catalog at {url}/ with {workers} worker process{'es' if workers != 1 else ''}  (API docs {url}/docs; HF_ENDPOINT={url})")
    hub.serve(host=host, port=port, root=_root(ctx), workers=workers)


@main.command()
@click.argument("ref")
@click.option("--split", "splits", multiple=True, help="Only this split (repeat for several; default: all).")
@click.option("--endpoint", envvar="HUB_ENDPOINT", help="The hub server (default: HUB_ENDPOINT or http://127.0.0.1:8000).")
@click.option("--token", envvar="HUB_TOKEN", help="API token, for private and gated datasets (also HUB_TOKEN).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="HUB_CACHE", help="Where pulled versions are kept (default: HUB_CACHE or ~/.cache/hub).")
@command
def pull(ref: str, splits: tuple[str, ...], endpoint: str | None, token: str | None, cache_dir: Path | None, as_json: bool) -> None:
    """Download REF (ns/name@version) into the cache, verify every sha256, write NOTICE.md."""
    result = hub.pull(ref, split=list(splits) or None, endpoint=endpoint, token=token, cache_dir=cache_dir)
    if as_json:
        _dump(result.to_dict())
        return
    rows = sum(f["rows"] for f in result.files)
    click.echo(f"Pulled {result.dataset}@{result.version} ({', '.join(result.splits)}): {rows} rows in {len(result.files)} file{'s' if len(result.files) != 1 else ''}, all sha256 verified")
    click.echo(f"  {result.downloaded_bytes} bytes downloaded, the rest from the cache")
    click.echo(f"  {result.path}")
    click.echo(f"  license terms: {result.notice}")


@main.group()
def token() -> None:
    """Create API tokens for the server (stored hashed)."""


@token.command(name="create")
@click.argument("user")
@click.option("--publish", "can_publish", is_flag=True, help="Let this token publish through the API.")
@command
@click.pass_context
def token_create(ctx: click.Context, user: str, can_publish: bool, as_json: bool) -> None:
    """Create a token for USER and print it once (only its sha256 is kept)."""
    value = hub.create_token(user, publish=can_publish, root=_root(ctx.parent))
    if as_json:
        _dump({"user": user, "publish": can_publish, "token": value})
    else:
        click.echo(value)
        click.echo(f"Token for {user}{' (may publish)' if can_publish else ''}: keep it, it is not shown again.", err=True)


@main.group()
def db() -> None:
    """The shared PostgreSQL database of server replicas (HUB_CATALOG_URL)."""


@db.command(name="migrate")
@command
def db_migrate(as_json: bool) -> None:
    """Apply the schema migrations HUB_CATALOG_URL's database lacks (none if it is up to date)."""
    from hub import database

    applied = database.migrate()
    where = database.redacted(database.url() or "")
    if as_json:
        _dump({"url": where, "applied": applied, "version": len(database.MIGRATIONS)})
    else:
        click.echo(f"{where}: applied {', '.join(applied)}" if applied else f"{where}: up to date (schema version {len(database.MIGRATIONS)})")


@main.command()
@click.argument("dataset")
@click.option("--endpoint", envvar="HUB_ENDPOINT", help="The hub server (default: HUB_ENDPOINT or http://127.0.0.1:8000).")
@click.option("--token", envvar="HUB_TOKEN", help="Your API token (also HUB_TOKEN): the acceptance is recorded for its user.")
@command
def accept(dataset: str, endpoint: str | None, token: str | None, as_json: bool) -> None:
    """Accept a gated DATASET's terms on the server, so your token may download it."""
    record = hub.accept(dataset, endpoint=endpoint, token=token)
    if as_json:
        _dump(record)
    else:
        click.echo(f"{record['user']} accepted the terms of {record['dataset']} at {record['accepted_at']}")


def _print_evaluation(r: dict[str, Any]) -> None:
    def fig(f: dict[str, Any]) -> str:
        ci = f.get("ci95")
        return "-" if f["value"] is None else f"{f['value']:.4f}" + (f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci and ci[0] is not None else "")

    click.echo(f"{r['dataset']}@{r['version']} {r['split']} ({r['records']} records), task {r['task']}: "
               f"{r['coverage']['predicted']} of {r['coverage']['labelled']} labelled records predicted")
    for name, f in r["metrics"].items():
        click.echo(f"  {name:<16} {fig(f)}")
    for p in r["problems"]:
        click.echo(f"  [{p['slug']}] {p['message']}: {', '.join(p['ids'][:5])}{', ...' if p['count'] > 5 else ''}")
    for t in r["targets"]:
        click.echo(f"  target {t['target']}: {'met' if t['met'] else 'MISSED'} ({t['value']})")


@main.command(name="eval")
@click.argument("ref")
@click.option("--predictions", "predictions", required=True, type=click.Path(path_type=Path), help="JSONL, CSV or Parquet rows of `id` and `prediction`.")
@click.option("--split", default="test", show_default=True, help="The split scored.")
@click.option("--task", help="The task scored (default: the record type's first: classification, transcription, intent, ...).")
@click.option("--target", "targets", multiple=True, help='A check that sets the exit code, e.g. "wer<=0.04", "accuracy>=96%", "fnr[tumor]<0.01" (repeatable).')
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write report.json, card.md and plots/*.svg here.")
@click.option("--resamples", default=1000, show_default=True, type=click.IntRange(0, 100000), help="Bootstrap resamples of the 95% intervals (0: none).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap.")
@click.option("--endpoint", help="Score against a version pulled from this hub server (default: the local registry, else HUB_ENDPOINT).")
@click.option("--token", envvar="HUB_TOKEN", help="API token for --endpoint (also HUB_TOKEN).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="HUB_CACHE", help="The pull cache (default: HUB_CACHE or ~/.cache/hub).")
@click.option("--server", help="Have this hub server score the file (needed for a blind split) and record the submission; needs --token.")
@click.option("--model", help="With --server: the model's name on the leaderboard.")
@click.option("--link", help="With --server: a link about the model (paper, code) on the leaderboard.")
@click.option("--training-data", help="With --server: the model's training data (ns/name, or a Parquet or save_to_disk path), checked here for "
              "contamination against the split; the outcome goes with the submission (default: 'not checked').")
@command
@click.pass_context
def eval_(ctx: click.Context, ref: str, predictions: Path, split: str, task: str | None, targets: tuple[str, ...], out: Path | None, resamples: int, seed: int,
          endpoint: str | None, token: str | None, cache_dir: Path | None, server: str | None, model: str | None, link: str | None, training_data: str | None,
          as_json: bool) -> None:
    """Score a model's predictions (--predictions FILE) on a split of REF (ns/name@X.Y.Z): figures with 95% intervals; exit 1 if a --target is missed."""
    report = hub.evaluate(ref, predictions, split=split, task=task, targets=targets, resamples=resamples, seed=seed,
                          root=None if server and not training_data else _root(ctx), endpoint=endpoint, token=token, cache_dir=cache_dir, server=server,
                          model=model, link=link, training_data=training_data)
    result = report.to_dict()
    if out is not None:
        report.write(out)
    _dump(result) if as_json else _print_evaluation(result)
    sys.exit(int(not report.passed))


from hub.labelstudio.cli import annotate  # noqa: E402  (the group uses `command` above)

main.add_command(annotate)
