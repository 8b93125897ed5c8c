"""A reviewer in a real browser: log in, take the next task, read why it is here, decide.

Debian Chromium driven by Playwright against pytest-django's live server, with the whole path
behind it: decisions are submitted through the service, routed by the real workflow on a Temporal
dev server, and the approval is delivered back to the workflow, which finalizes the decision.
"""

import os
import re
import time

# Sync Playwright runs an event loop in the test thread; the test still reads the database.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from orchestrator.models import Decision, Review, ReviewTask, TaskState  # noqa: E402
from orchestrator.services.decisions import decision_submit  # noqa: E402

pytestmark = [pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian Chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def site(live_server, transactional_db, demo, worker):
    """The live server with the real path behind it: Temporal dev server and worker, Postgres."""
    return {"url": live_server.url, **demo}


def wait_for(predicate, *, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def make_task(demo, *, key: str, confidence: float, amount: int) -> ReviewTask:
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=key,
        model_name="credit-gbm",
        model_version="7.2.0",
        output={"label": "approve", "limit": amount, "apr": 6.9},
        confidence=confidence,
        payload={
            "applicant_id": f"A-{key}",
            "amount": amount,
            "term_months": 36,
            "annual_income": 64000,
            "employment": "salaried",
            "purpose": "home improvement",
        },
        risk={"country": "DE", "segment": "retail", "politically_exposed": False},
    )
    # The workflow routes it (below the threshold) and creates the task.
    return wait_for(lambda: ReviewTask.objects.filter(decision=decision).first(), what="the review task")


def log_in(page: Page, base_url: str, username: str = "reviewer", password: str = "handrail") -> None:
    page.goto(base_url + "/")
    expect(page).to_have_url(base_url + "/login/?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base_url + "/")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


def test_reviewer_claims_reads_the_explanation_and_approves(site, page):
    base = site["url"]
    first = make_task(site, key="1042", confidence=0.42, amount=25000)
    make_task(site, key="1043", confidence=0.71, amount=12000)
    make_task(site, key="1044", confidence=0.86, amount=40000)
    log_in(page, base)

    queues = page.get_by_role("region", name="Your queues")
    row = queues.get_by_role("row", name="Underwriting")
    expect(row.get_by_role("cell").nth(0)).to_have_text("3")  # ready
    row.get_by_role("button", name="Next task").click()

    expect(page).to_have_url(f"{base}/tasks/{first.id}")
    why = page.get_by_role("region", name="Why this is in review")
    expect(why).to_contain_text("Confidence 0.420 is below the threshold 0.900.")
    expect(why).to_contain_text("Policy v1")
    expect(why.get_by_role("row", name="Confidence")).to_contain_text("Not passed")
    expect(page.get_by_role("region", name="Payload")).to_contain_text('"applicant_id": "A-1042"')
    expect(page.get_by_role("region", name="Audit timeline")).to_contain_text("Task claimed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "task.png"), full_page=True)

    # Back to the inbox: the claimed task is listed and links back to the page.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Inbox").click()
    claimed = page.get_by_role("region", name="My claimed tasks")
    expect(claimed.get_by_role("link")).to_have_count(1)
    expect(row.get_by_role("cell").nth(1)).to_have_text("1")  # reserved
    page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True)
    claimed.get_by_role("link").click()
    expect(page).to_have_url(f"{base}/tasks/{first.id}")

    page.get_by_role("button", name="Approve").click()

    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("status")).to_have_text("Approved.")
    expect(page.get_by_role("region", name="My claimed tasks")).to_contain_text("You hold no tasks")
    review = Review.objects.get(task=first)
    assert (review.verdict, review.reviewer.username) == ("approve", "reviewer")
    assert ReviewTask.objects.get(pk=first.id).state == TaskState.COMPLETED
    wait_for(
        lambda: Decision.objects.filter(pk=first.decision_id, status="completed", outcome="approved").exists(),
        what="the workflow to finalize the approved decision",
    )


def test_reject_without_a_reason_shows_the_error_next_to_the_field(site, page):
    base = site["url"]
    task = make_task(site, key="2001", confidence=0.35, amount=18000)
    log_in(page, base)
    page.get_by_role("button", name="Next task").click()
    expect(page).to_have_url(f"{base}/tasks/{task.id}")

    page.get_by_role("button", name="Reject").click()

    reason = page.get_by_label("Reason")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_have_accessible_description(re.compile(r"Required to reject.*a reason is required to reject"))
    expect(page.locator("#id_reason_error")).to_have_text("a reason is required to reject")
    assert not Review.objects.exists()

    reason.fill("Income could not be verified against the payslips.")
    page.get_by_role("button", name="Reject").click()

    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("status")).to_have_text("Rejected.")
    assert Review.objects.get(task=task).verdict == "reject"


def test_no_task_waiting_says_so(site, page):
    base = site["url"]
    log_in(page, base)
    page.get_by_role("button", name="Next task").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("status")).to_have_text("No tasks waiting in Underwriting")


def test_logout(site, page):
    base = site["url"]
    log_in(page, base)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(base + "/login/")
    page.goto(base + "/")
    expect(page).to_have_url(base + "/login/?next=/")
