"""`hub annotate push|status|pull`: parse, make one library call, render (see `hub.cli`)."""

from __future__ import annotations

import json
from typing import Any

import click

import hub
from hub.cli import _dump, _root, command
from hub.labelstudio.config import TASKS
from hub.labelstudio.resolve import RULES

TASK_NAMES = sorted({name for _, name in TASKS})


@click.group()
def annotate() -> None:
    """Annotate a published version in Label Studio and publish the labels as a new version.

    The server is HUB_LABEL_STUDIO_URL (default http://127.0.0.1:8080) with the API token in
    HUB_LABEL_STUDIO_TOKEN.
    """


@annotate.command()
@click.argument("ref")
@click.option("--split", default="train", show_default=True, help="The split whose records become tasks.")
@click.option("--task", type=click.Choice(TASK_NAMES), help="What annotators do (default: the record type's first task, e.g. transcription for speech).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N records of the split (by id).")
@click.option("--sample", type=click.IntRange(min=1), help="A random sample of N records of the split (see --seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--prelabel", is_flag=True, help="Attach the records' current labels as pre-annotations (predictions).")
@click.option("--predictions", type=click.File("r", encoding="utf-8"), help='A model\'s output as pre-annotations: JSONL lines {"id": record id, "value": the field\'s value}.')
@click.option("--model-version", help="The model version the pre-annotations carry (default: ns/name@X.Y.Z).")
@click.option("--overlap", type=click.IntRange(min=1),
              help="How many different annotators label each task through the labelling queue; 1 for a single pass (a new project: "
                   "dataset.yaml's annotation.overlap, else 3; an existing project keeps its own).")
@command
@click.pass_context
def push(ctx: click.Context, ref: str, split: str, task: str | None, limit: int | None, sample: int | None, seed: int, prelabel: bool,
         predictions: Any, model_version: str | None, overlap: int | None, as_json: bool) -> None:
    """Create or update the Label Studio project for REF (ns/name@X.Y.Z) and import its new records."""
    values = None
    if predictions is not None:
        try:
            values = {item["id"]: item["value"] for item in map(json.loads, filter(str.strip, predictions))}
        except (ValueError, KeyError, TypeError) as exc:
            raise click.BadParameter(f"not JSONL lines with 'id' and 'value': {exc}", param_hint="--predictions") from None
    result = hub.annotate_push(ref, split=split, task=task, limit=limit, sample=sample, seed=seed, prelabel=prelabel, predictions=values,
                               model_version=model_version, overlap=overlap, root=_root(ctx))
    if as_json:
        _dump(result)
        return
    p = result["project"]
    click.echo(f"Project {p['id']} ({p['title']}): {result['imported']} tasks imported, {result['already_there']} already there"
               + (f", {result['predictions']} with pre-annotations" if result["predictions"] else ""))
    click.echo(f"  each task goes to {p['overlap']} annotator{'s' if p['overlap'] > 1 else ''} through the labelling queue")
    for problem in result["problems"]:
        click.echo(f"  not imported: {problem['message']}")
    click.echo(f"  annotate at {p['url']}")
    click.echo(f"  then: hub annotate pull {p['id']}")


@annotate.command()
@command
def invite(as_json: bool) -> None:
    """Print the server's sign-up link to send to annotators (Label Studio's own invite flow)."""
    result = hub.annotate_invite()
    if as_json:
        _dump(result)
        return
    click.echo(f"Send this link to your annotators: {result['invite_url']}")
    click.echo("  each signs up with an email and a password, opens the project and presses Label All Tasks")


def _print_agreement(a: dict[str, Any]) -> None:
    overall = "-" if a["overall"] is None else f"{a['overall']:.3f}"
    alpha = f", Krippendorff's alpha {a['alpha']:.3f}" if a.get("alpha") is not None else ""
    click.echo(f"  agreement ({a['measure']}): {overall} over {a['tasks_compared']} tasks with 2+ annotations{alpha}")
    for who, s in a["per_annotator"].items():
        click.echo(f"    {who}: {s['score']:.3f} over {s['pairs']} pairs")


def _print_progress(r: dict[str, Any]) -> None:
    per = ", ".join(f"{n} annotations: {count}" for n, count in r["annotations_per_task"].items())
    click.echo(f"  tasks {r['tasks']}, done {r['done']}, annotations {r['annotations']} ({per})")
    click.echo(f"  skipped {r['skipped']}, empty {r['empty']}, not fitting the config {r['rejected']}")
    _print_agreement(r["agreement"])


@annotate.command()
@click.argument("project")
@command
@click.pass_context
def status(ctx: click.Context, project: str, as_json: bool) -> None:
    """Progress of Label Studio PROJECT: tasks, done, annotations per task and per annotator, how
    many tasks still need how many annotations, agreement so far."""
    result = hub.annotate_status(project, root=_root(ctx))
    if as_json:
        _dump(result)
        return
    click.echo(f"Project {result['project']['id']}: {result['dataset']}@{result['version']} {result['split']} {result['task']}")
    click.echo(f"  {result['project']['url']}")
    _print_progress(result)
    needed = ", ".join(f"{count} need {more} more" for more, count in result["still_needed"].items()) or "none needs more"
    click.echo(f"  overlap {result['overlap']} annotators per task: {result['overlap_reached']} tasks reached it; {needed}")
    for who, n in result["per_annotator"].items():
        click.echo(f"    {who}: {n['annotations']} annotations, {n['skipped']} skipped")


@annotate.command()
@click.argument("project")
@click.option("--rule", type=click.Choice(RULES), default="majority", show_default=True, help="How a task's annotations become one label.")
@click.option("--reviewer", "reviewers", multiple=True, help="Email of a reviewer whose annotation wins (with --rule reviewer); repeatable.")
@click.option("--no-push", is_flag=True, help="Keep the new version's data in the DVC cache only; do not push to the remote.")
@command
@click.pass_context
def pull(ctx: click.Context, project: str, rule: str, reviewers: tuple[str, ...], no_push: bool, as_json: bool) -> None:
    """Pull PROJECT's annotations, resolve them and publish the changed labels as a new version."""
    result = hub.annotate_pull(project, rule=rule, reviewers=list(reviewers), push=not no_push, root=_root(ctx))
    if as_json:
        _dump(result)
        return
    click.echo(result["message"].capitalize())
    for warning in result["warnings"]:
        click.echo(f"  warning: {warning}")
    _print_progress(result)
    click.echo(f"  resolved by {result['rule']}: {result['records_changed']} changed, {result['records_unchanged']} unchanged")
    for c in result["conflicts"]:
        values = "; ".join(f"{v['annotator']}: {v['value']!r}" for v in c["values"])
        click.echo(f"  conflict, not published: {c['record_id']} (task {c['task']}): {values}")
    for m in result["missing_records"]:
        click.echo(f"  record no longer in the dataset, not published: {m['record_id']} (task {m['task']})")
    for r in result["rejected_annotations"]:
        click.echo(f"  annotation {r['annotation']} on {r['record_id']} does not fit the label config: {r['message']}")
    for e in result["empty_annotations"]:
        click.echo(f"  annotation {e['annotation']} on {e['record_id']} is empty")
    for s in result["skipped_tasks"]:
        click.echo(f"  task {s['task']} ({s['record_id']}) was skipped by {s['annotator']}")
