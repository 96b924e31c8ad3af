"""The labelling screen in real Chromium: an annotator signs up through the server's invite
link, opens the project's labelling queue, sees the 8x8 digit at a readable size with the
choices on screen, presses 3 and submits: the annotation says "3"; a dialogue shows each
turn with its speaker and the intents, without a fake timestamp (#15 items 2, 6). Each test saves a screenshot."""

from __future__ import annotations

import pytest

import hub
from conftest import copy_demo, run_hub, set_source_options
from labelstudio_fixtures import PASSWORD

VIEWPORT = {"width": 1280, "height": 720}


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport=VIEWPORT)
    try:
        yield page
    finally:
        page.close()


def _open_queue(page, ls_env, root, dataset: str, task: str) -> int:
    """Publish `dataset` (20 records), push one task, sign up through `hub annotate invite`'s
    link and open the project's labelling queue; the project id."""
    copy_demo(root, dataset)
    set_source_options(root, dataset, limit=20)
    hub.publish(dataset, root=root)
    pid = hub.annotate_push(f"{dataset}@1.0.0", task=task, limit=1, overlap=1, root=root)["project"]["id"]
    invited = run_hub("annotate", "invite", root=root)
    assert invited.returncode == 0, invited.stderr
    head, link = invited.stdout.splitlines()[0].split(": ", 1)
    assert head == "Send this link to your annotators" and link.startswith(f"{ls_env.url}/user/signup/?token=")
    page.goto(link)
    page.fill("input[name=email]", f"browser-{pid}@localhost")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/user/signup" not in url, timeout=60_000)
    page.goto(f"{ls_env.url}/projects/{pid}/data?labeling=1", timeout=120_000)
    return pid


def test_digit_hotkeys_and_image_size_in_the_labelling_queue(hub_root, ls_env, page, tmp_path):
    pid = _open_queue(page, ls_env, hub_root, "demo/digits", "classification")
    image = page.locator(".lsf-main-view img, [class*=ImageView] img").first
    image.wait_for(state="visible", timeout=120_000)
    choices = page.locator("label.lsf-choice__checkbox")
    choices.last.wait_for(state="visible", timeout=60_000)
    page.screenshot(path=str(tmp_path / "digits-labelling.png"))
    assert choices.all_inner_texts() == [f"{d}[{d}]" for d in range(10)]  # each digit's hint shows its own key
    box, last = image.bounding_box(), choices.last.bounding_box()
    assert 100 <= box["width"] <= 400, box  # an 8x8 digit at a readable size, not blown up to the screen's width
    assert last["y"] + last["height"] <= VIEWPORT["height"], last  # the choices need no scrolling

    page.keyboard.press("3")
    assert page.locator("input[name='3']").is_checked() and not page.locator("input[name='2']").is_checked()
    page.keyboard.press("Control+Enter")  # submit
    with ls_env.api() as api:
        task = ls_env.tasks(pid)[0]
        for _ in range(60):
            annotations = api.get(f"/api/tasks/{task['id']}/annotations/").json()
            if annotations:
                break
            page.wait_for_timeout(500)
    assert [a["result"][0]["value"]["choices"] for a in annotations] == [["3"]]


def test_dialogue_turns_and_intents_on_screen(hub_root, ls_env, page, tmp_path):
    """Label Studio 1.23.2 stamps each turn "00:00:00 - 00:00:00" (its contextual-scrolling
    flag, for paragraphs played along audio); the label config's Style hides the stamps, and
    the speakers and the whole turns stay on screen."""
    _open_queue(page, ls_env, hub_root, "demo/chatterbot-dialogue", "intent")
    paragraphs = page.locator(".lsf-paragraphs")
    paragraphs.wait_for(state="visible", timeout=120_000)
    page.get_by_text("What is AI?").wait_for(state="visible", timeout=60_000)
    choices = page.locator("label.lsf-choice__checkbox")
    choices.last.wait_for(state="visible", timeout=60_000)
    page.screenshot(path=str(tmp_path / "dialogue-labelling.png"))
    text = paragraphs.inner_text()
    assert "user" in text and "bot" in text and "Artificial Intelligence is the branch of engineering" in text
    assert "00:00:00" not in page.locator("body").inner_text()  # no fake timestamp anywhere on the labelling screen
    assert page.locator(".lsf-paragraphs [class^=time--]").count() > 0  # the stamps the editor draws are there, hidden
    stamp = page.locator(".lsf-paragraphs [class^=time--]").first
    assert not stamp.is_visible() and stamp.text_content() == "00:00:00 - 00:00:00"
    last = choices.last.bounding_box()
    assert last["y"] + last["height"] <= VIEWPORT["height"], last  # every intent on screen
