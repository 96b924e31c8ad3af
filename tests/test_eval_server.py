"""Server scoring (issue #14): `POST .../versions/{v}/evaluate` scores a predictions file against
the version's labels, a blind split's too, with the same figures as local scoring with the
labels; a token, a size limit (413) and a daily limit per token (429); the leaderboard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import httpx
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.metrics import accuracy_score, f1_score

import hub
from conftest import DEMO, run_hub, uvicorn_thread
from hub.access import AccessStore, User
from hub.errors import HubError
from test_blind import DATASET, LABELS, VERSION, blind_copy

URL = f"/api/datasets/{DATASET}/versions/{VERSION}/evaluate"
GATED = "acme/gated-dialogue"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    from hub.server import create_app

    root = hub.init(tmp_path_factory.mktemp("evalserver") / "hub")
    folder = blind_copy(root, blind=["test"], submissions_per_day=3)
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc["targets"] = {"accuracy": ">=0.9", "macro_f1": ">= 95%", "wer": "<=0.04"}  # no WER on a classification task: not drawn on its table
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    published = hub.publish(DATASET, root=root)
    labels = pq.read_table(published.path / LABELS).to_pylist()
    folder = root / "registry" / GATED  # demo/chatterbot-dialogue, gated, its test split blind
    shutil.copytree(DEMO / "chatterbot-dialogue", folder, ignore=shutil.ignore_patterns("versions"))
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc.update(access="gated", terms="Evaluation only.")
    doc["split"]["blind"] = ["test"]
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    gated = hub.publish(GATED, root=root)
    tokens = {user: hub.create_token(user, root=root) for user in ("alice", "bob", "carol", "una", "ada")}
    AccessStore(root).accept(User("ada"), GATED)
    app = create_app(root)
    with uvicorn_thread(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield {"root": root, "app": app, "url": url, "client": client, "labels": labels, "tokens": tokens, "published": published,
               "intents": pq.read_table(gated.path / LABELS).to_pylist(), "intent_names": gated.manifest["labels"]}


def predictions(site: dict[str, Any], path: Path, wrong_every: int = 4, leave_out: int = 1) -> tuple[Path, list[str], list[str]]:
    """Predictions for the blind test split: every `wrong_every`th one wrong (0: none), the last `leave_out` missing."""
    rows = [{"id": r["id"], "prediction": str((r["label"] + 1) % 10 if wrong_every and i % wrong_every == 0 else r["label"])} for i, r in enumerate(site["labels"])]
    kept = rows[: len(rows) - leave_out]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    return path, [str(r["label"]) for r in site["labels"]], [r["prediction"] for r in kept] + ["(missing)"] * leave_out


def auth(site: dict[str, Any], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site['tokens'][user]}"}


def test_the_server_scores_a_blind_split_as_local_scoring_does(site, tmp_path):
    path, truth, predicted = predictions(site, tmp_path / "knn.jsonl")
    result = run_hub("eval", f"{DATASET}@{VERSION}", "--split", "test", "--predictions", str(path), "--server", site["url"],
                     "--token", site["tokens"]["alice"], "--model", "knn-3", "--target", "accuracy>=0.5", "--json")
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)
    local = hub.evaluate(f"{DATASET}@{VERSION}", path, split="test", root=site["root"]).to_dict()  # the registry holds the labels
    assert served["metrics"] == local["metrics"] and served["confusion"] == local["confusion"] and served["per_class"] == local["per_class"]
    assert served["metrics"]["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-6)
    assert served["manifest_sha256"] == local["manifest_sha256"] and served["predictions"]["sha256"] == local["predictions"]["sha256"]
    assert served["coverage"] == local["coverage"] and served["coverage"]["missing"] == 1
    assert served["predictions"]["path"] == "knn-3" and served["source"] == {"kind": "server", "submitted_by": "alice"}
    assert served["targets"][0]["met"] is True and served["passed"] is True
    assert served["submission"]["user"] == "alice" and served["submission"]["model"] == "knn-3"
    text = run_hub("eval", f"{DATASET}@{VERSION}", "--predictions", str(path), "--server", site["url"], "--token", site["tokens"]["alice"],
                   "--out", str(tmp_path / "out"))
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == f"{DATASET}@{VERSION} test (40 records), task classification: 39 of 40 labelled records predicted"
    assert json.loads((tmp_path / "out" / "report.json").read_text())["metrics"] == local["metrics"]
    assert (tmp_path / "out" / "card.md").read_text().startswith("# ")
    missing = site["labels"][-1]["id"]
    assert served["problems"] == [{"slug": "missing-prediction", "message": "1 of the split's 40 labelled records have no prediction; they count as wrong",
                                   "count": 1, "ids": [missing]}]  # the id of the record, not its label


def test_a_pulled_blind_split_cannot_be_scored_on_the_client(site, tmp_path):
    path, _, _ = predictions(site, tmp_path / "p.jsonl")
    with pytest.raises(HubError) as caught:
        hub.evaluate(f"{DATASET}@{VERSION}", path, split="test", endpoint=site["url"], cache_dir=tmp_path / "cache")
    assert caught.value.message == f"{DATASET}@{VERSION}'s test split is blind: its labels never leave the server, so it cannot be scored here"
    assert caught.value.hint == f"Score on the server: hub eval {DATASET}@{VERSION} --split test --predictions FILE --server URL."


def test_scoring_needs_a_token(site):
    got = site["client"].post(URL, content=b'{"id": "x", "prediction": "1"}\n')
    assert (got.status_code, got.json()["error"]) == (401, f"scoring on {DATASET} needs a token")
    bad = site["client"].post(URL, content=b"", headers={"Authorization": "Bearer hub_nope"})
    assert bad.status_code == 401


def test_intents_of_a_gated_blind_dialogue_set_need_accepted_terms(site, tmp_path):
    """demo/chatterbot-dialogue's intents, scored on the server as a download is gated."""
    names, rows = site["intent_names"], site["intents"]
    truth = [names[r["intent"]] for r in rows]
    predicted = [names[(r["intent"] + 1) % len(names)] if i % 3 == 0 else t for i, (r, t) in enumerate(zip(rows, truth))]
    path = tmp_path / "intents.csv"
    path.write_text("id,prediction\n" + "".join(f"{r['id']},{p}\n" for r, p in zip(rows, predicted)), encoding="utf-8")
    url = f"/api/datasets/{GATED}/versions/{VERSION}/evaluate"
    refused = site["client"].post(url, content=path.read_bytes(), headers={"Content-Type": "text/csv", **auth(site, "una")})
    assert (refused.status_code, refused.json()["error"]) == (403, f"user 'una' has not accepted the terms of {GATED!r}")
    anonymous = site["client"].post(url, content=path.read_bytes(), headers={"Content-Type": "text/csv"})
    assert (anonymous.status_code, anonymous.json()["type"]) == (403, "GatedDataset")
    scored = site["client"].post(url, params={"format": "csv"}, content=path.read_bytes(), headers=auth(site, "ada"))
    assert scored.status_code == 200, scored.text
    report = scored.json()
    assert (report["dataset"], report["task"], report["coverage"]["labelled"], report["coverage"]["missing"]) == (GATED, "intent", len(rows), 0)
    assert report["metrics"]["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-6)
    assert report["metrics"]["macro_f1"]["value"] == pytest.approx(f1_score(truth, predicted, average="macro", labels=sorted(set(truth) | set(predicted))), abs=1e-6)


def test_an_upload_over_the_limit_is_413_and_costs_no_submission(site, tmp_path):
    site["app"].state.max_predictions_bytes = 1000
    try:
        body = b"".join(json.dumps({"id": r["id"], "prediction": "1"}).encode() + b"\n" for r in site["labels"])
        assert len(body) > 1000
        got = site["client"].post(URL, content=body, headers=auth(site, "bob"))
        assert (got.status_code, got.json()["error"]) == (413, f"the predictions file is {len(body)} bytes; the most this server scores is 1000 bytes")
        assert got.json()["hint"] == "Send a smaller file: predictions only (`id`, `prediction`), one row per record of the split."
        streamed = site["client"].post(URL, content=iter([body[:600], body[600:]]), headers=auth(site, "bob"))  # chunked: no Content-Length
        assert (streamed.status_code, streamed.json()["error"]) == (413, "the predictions file is more than 1000 bytes; the most this server scores is 1000 bytes")
        big = tmp_path / "big.jsonl"  # larger than the sockets' buffers: the server answers before the upload ends
        big.write_bytes(body * (8_000_000 // len(body)))
        result = run_hub("eval", f"{DATASET}@{VERSION}", "--predictions", str(big), "--server", site["url"], "--token", site["tokens"]["bob"])
        assert result.returncode == 1 and f"the predictions file is {big.stat().st_size} bytes; the most this server scores is 1000 bytes" in result.stderr
    finally:
        del site["app"].state.max_predictions_bytes
    assert [s for s in hub.evaluation.submissions.Submissions(site["root"]).leaderboard(DATASET) if s["user"] == "bob"] == []


def test_the_daily_limit_is_429_with_when_to_retry(site, tmp_path):
    path, _, _ = predictions(site, tmp_path / "p.jsonl", wrong_every=3)
    bad = site["client"].post(URL, content=b"not json\n", headers=auth(site, "carol"))
    assert bad.status_code == 400 and bad.json()["type"] == "PredictionsError"  # a file that cannot be scored costs no slot
    for _ in range(3):
        assert site["client"].post(URL, content=path.read_bytes(), headers=auth(site, "carol")).status_code == 200
    got = site["client"].post(URL, content=path.read_bytes(), headers=auth(site, "carol"))
    assert got.status_code == 429
    body = got.json()
    assert body["error"].startswith(f"user 'carol' has made 3 evaluations of {DATASET} in the last 24 hours, the most it allows; retry after 20")
    assert body["hint"] == f"Retry in {body['retry_after']} seconds. The limit is the dataset's split.submissions_per_day (3)."
    assert got.headers["retry-after"] == str(body["retry_after"]) and 0 < body["retry_after"] <= 24 * 3600
    result = run_hub("eval", f"{DATASET}@{VERSION}", "--predictions", str(path), "--server", site["url"], "--token", site["tokens"]["carol"])
    assert result.returncode == 1 and body["error"] in result.stderr  # the CLI shows the server's message


def test_a_submission_carries_the_submitters_contamination_check(site, tmp_path):
    """--training-data: the check runs on the client (the server never sees the training data);
    the leaderboard shows its outcome per submission, "not checked" without one."""
    import hashlib

    import pyarrow as pa

    published = site["published"]

    def shards(split: str) -> pa.Table:
        return pa.concat_tables([pq.read_table(published.path / f["path"], columns=["id", "image"]) for f in published.manifest["files"] if f["split"] == split])

    train, test = shards("train"), shards("test")
    clean, leaked = tmp_path / "clean.parquet", tmp_path / "leaked.parquet"
    pq.write_table(train, clean)
    pq.write_table(pa.concat_tables([train, test.slice(0, 5)]), leaked)
    path, _, _ = predictions(site, tmp_path / "p.jsonl")
    sent = {}
    for model, data in (("clean-model", clean), ("leaky-model", leaked)):
        result = run_hub("eval", f"{DATASET}@{VERSION}", "--predictions", str(path), "--server", site["url"], "--token", site["tokens"]["ada"],
                         "--model", model, "--training-data", str(data), "--json", root=site["root"])
        assert result.returncode == 0, result.stderr
        sent[model] = json.loads(result.stdout)["submission"]["contamination"]
    own = hub.check_contamination(leaked, against=f"{DATASET}@{VERSION}", record=published.manifest["record"], root=site["root"])  # the check on its own
    (match,) = [m for m in own["matches"] if m["ours"] == "train" and m["split"] == "test"]
    assert (match["rows"], match["exact"], match["near"]) == (5, 5, 0) and sorted(match["ids"]) == sorted(test.column("id").to_pylist()[:5])
    assert sent["leaky-model"] == {"checked": True, "matches": 5, "exact": 5, "near": 0,
                                   "report_sha256": hashlib.sha256(json.dumps(own, sort_keys=True).encode()).hexdigest()}
    assert (sent["clean-model"]["checked"], sent["clean-model"]["matches"]) == (True, 0)
    board = site["client"].get(f"/api/datasets/{DATASET}/leaderboard").json()["tasks"][0]["submissions"]
    status = {s["model"]: s["contamination_status"] for s in board}
    assert (status["clean-model"], status["leaky-model"], status["knn-3"]) == ("checked: no overlap", "checked: 5 records overlap", "not checked")
    assert next(s for s in board if s["model"] == "knn-3")["contamination"] == {"checked": False}
    half = site["client"].post(URL, params={"training_matches": 3}, content=path.read_bytes(), headers=auth(site, "ada"))
    assert (half.status_code, half.json()["error"]) == (400, "a contamination check needs training_matches, training_exact, training_near and "
                                                             "training_report_sha256 together; training_exact, training_near, training_report_sha256 missing")
    alone = run_hub("eval", f"{DATASET}@{VERSION}", "--predictions", str(path), "--training-data", str(clean), root=site["root"])
    assert alone.returncode == 1 and "Error: a contamination check of the training data is sent with a server submission only\n" in alone.stderr


def test_the_leaderboard_ranks_the_submissions(site, tmp_path):
    best, _, _ = predictions(site, tmp_path / "best.jsonl", wrong_every=0, leave_out=0)
    got = site["client"].post(URL, params={"model": "oracle", "link": "https://example.org/oracle"}, content=best.read_bytes(), headers=auth(site, "bob"))
    assert got.status_code == 200 and got.json()["metrics"]["accuracy"]["value"] == 1.0
    board = site["client"].get(f"/api/datasets/{DATASET}/leaderboard", params={"version": VERSION}).json()
    (group,) = board["tasks"]
    assert (group["version"], group["split"], group["task"], group["metric"], group["lower_is_better"]) == (VERSION, "test", "classification", "accuracy", False)
    first = group["submissions"][0]
    assert (first["rank"], first["user"], first["model"], first["link"]) == (1, "bob", "oracle", "https://example.org/oracle")
    values = [s["metrics"]["accuracy"]["value"] for s in group["submissions"]]
    assert values == sorted(values, reverse=True) and [s["rank"] for s in group["submissions"]] == list(range(1, len(values) + 1))
    assert board["targets"] == [{"target": "accuracy>=0.9", "metric": "accuracy", "condition": ">=0.9"},
                                {"target": "macro_f1>= 95%", "metric": "macro_f1", "condition": ">=0.95"},
                                {"target": "wer<=0.04", "metric": "wer", "condition": "<=0.04"}]
    assert group["targets"] == ["accuracy>=0.9", "macro_f1>= 95%"]
    for s in group["submissions"]:
        assert s["targets"] == [{"target": "accuracy>=0.9", "met": s["metrics"]["accuracy"]["value"] >= 0.9},
                                {"target": "macro_f1>= 95%", "met": s["metrics"]["macro_f1"]["value"] >= 0.95}]
    assert first["targets"] == [{"target": "accuracy>=0.9", "met": True}, {"target": "macro_f1>= 95%", "met": True}]
    assert any(not t["met"] for s in group["submissions"] for t in s["targets"])  # the knn's 3 in 4 right miss them


def test_a_target_that_does_not_parse_is_a_problem_of_the_entry(site, tmp_path):
    from hub.entry import load_entry

    root = hub.init(tmp_path / "hub")
    folder = blind_copy(root, "acme/targets")
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc["targets"] = {"accuracy": "at least 0.9", "wer": "<=0.04"}
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    entry = load_entry(root, "acme/targets")
    (problem,) = entry.report.problems
    assert (problem.slug, problem.message, problem.field) == ("entry-schema", "targets.accuracy: 'at least 0.9' is not a condition such as \"<=0.04\" or \">=0.9\"",
                                                             "targets.accuracy")
    assert problem.hint == 'Write the metric as the key and OP number as its value, e.g. accuracy: ">=0.9" (or ">=90%"); OP is one of <=, >=, <, >, ==.'
    assert [t.text for t in entry.targets] == ["wer<=0.04"]


def test_the_leaderboard_page_renders_in_chromium(site, tmp_path, browser):
    path, _, _ = predictions(site, tmp_path / "p.jsonl", wrong_every=2)
    got = site["client"].post(URL, params={"model": "<b>half</b>"}, content=path.read_bytes(), headers=auth(site, "bob"))
    assert got.status_code == 200
    bad = site["client"].post(URL, params={"model": "x", "link": "javascript:alert(1)"}, content=path.read_bytes(), headers=auth(site, "bob"))
    assert (bad.status_code, bad.json()["error"]) == (400, "link 'javascript:alert(1)' is not an http(s) URL")
    board = site["client"].get(f"/api/datasets/{DATASET}/leaderboard").json()["tasks"][0]["submissions"]
    page = browser.new_page(base_url=site["url"])
    try:
        page.goto(f"/datasets/{DATASET}/leaderboard")
        assert page.inner_text("h1") == f"Leaderboard {DATASET}"
        assert page.inner_text("section.leaderboard h2") == f"{VERSION} · test · classification"
        rows = page.locator("table.leaderboard tbody tr")
        assert rows.count() == len(board)
        cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
        assert [c[0] for c in cells] == [str(s["rank"]) for s in board]
        assert [c[3] for c in cells] == [f"{s['metrics']['accuracy']['value']:.4f}" for s in board]
        assert cells[0][1:3] == ["oracle", "bob"] and page.locator("td.model a").first.get_attribute("href") == "https://example.org/oracle"
        assert "<b>half</b>" in [c[1] for c in cells]  # shown as text, not markup
        assert "blind split: test" in page.inner_text("main")
        assert page.inner_text("p.targets") == "Targets of this test set: accuracy >=0.9, macro_f1 >=0.95, wer <=0.04"
        assert page.locator("table.leaderboard thead th.target").all_inner_texts() == ["accuracy>=0.9", "macro_f1>= 95%"]
        marks = [rows.nth(i).locator("td.target").all_inner_texts() for i in range(rows.count())]
        assert marks == [["met" if t["met"] else "not met" for t in s["targets"]] for s in board]
        assert marks[0] == ["met", "met"] and ["not met", "not met"] in marks
        said = [rows.nth(i).locator("td.contamination").inner_text() for i in range(rows.count())]
        assert said == [s["contamination_status"] for s in board] and "checked: 5 records overlap" in said and "not checked" in said
        page.goto("/datasets/acme/no-such/leaderboard")
        assert "dataset 'acme/no-such' is not registered" in page.inner_text("main")
    finally:
        page.close()


def test_a_submissions_file_from_before_the_contamination_column_is_read(tmp_path):
    """The SQLite file of an older hub gains the column; its submissions say "not checked"."""
    import sqlite3

    from hub.evaluation.submissions import Submissions

    submissions = Submissions(hub.init(tmp_path / "hub"))
    submissions.path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(submissions.path) as con:
        con.execute("CREATE TABLE submissions (id INTEGER PRIMARY KEY, user TEXT NOT NULL, dataset TEXT NOT NULL, at REAL NOT NULL, status TEXT NOT NULL, "
                    "version TEXT, manifest_sha256 TEXT, split TEXT, task TEXT, predictions_sha256 TEXT, model TEXT, link TEXT, metrics TEXT, coverage TEXT)")
        con.execute("INSERT INTO submissions VALUES (1, 'ann', 'acme/x', 0, 'scored', '1.0.0', 'm', 'test', 'classification', 'p', 'old', NULL, '{}', '{}')")
    (old,) = submissions.leaderboard("acme/x")
    assert (old["model"], old["contamination"], old["contamination_status"]) == ("old", {"checked": False}, "not checked")
