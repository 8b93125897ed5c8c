"""A reviewer in a real browser: log in, take the next task, read why it is here, decide.

Debian Chromium driven by Playwright against pytest-django's live server, with the whole path
behind it: decisions are submitted through the service, routed by the real workflow on a Temporal
dev server, and the approval is delivered back to the workflow, which finalizes the decision.
"""

import os
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from orchestrator.audit.tasks import audit_export_run_task
from orchestrator.models import AuditEvent, AuditExport, Decision, Review, ReviewTask, TaskState
from orchestrator.services.decisions import decision_submit
from orchestrator.services.reviews import review_submit
from orchestrator.services.tasks import task_claim_next
from tests.support.waiting import wait_for

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


@pytest.fixture(scope="module")
def shots(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Where screenshots go: docs/screenshots under `make screenshots` (HANDRAIL_SCREENSHOTS), which
    refreshes the README's pictures; otherwise a scratch folder, so the suite never changes tracked files."""
    folder = os.environ.get("HANDRAIL_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        # `make test` installs it; a missing browser is a broken environment, never a reason to skip.
        pytest.fail("Debian Chromium is not installed: run `make test` (it installs it) or apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def site(live_server, transactional_db, demo, worker):
    """The live server with the real path behind it: Temporal dev server and worker, Postgres."""
    return {"url": live_server.url, **demo}


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


def test_reviewer_works_by_keyboard_and_the_next_task_opens(site, page, shots):
    base = site["url"]
    first = make_task(site, key="1042", confidence=0.42, amount=25000)
    make_task(site, key="1043", confidence=0.71, amount=12000)
    # Medium tier (amount over 20,000): priority 1, so it comes before the low-tier 1043.
    second = make_task(site, key="1044", confidence=0.86, amount=40000)
    log_in(page, base)

    queues = page.get_by_role("region", name="Your queues")
    row = queues.get_by_role("row", name="Underwriting")
    expect(row.get_by_role("cell").nth(0)).to_have_text("3")  # ready
    row.get_by_role("button", name="Next task").click()

    expect(page).to_have_url(f"{base}/tasks/{first.id}")
    why = page.get_by_role("region", name="Why this is in review")
    expect(why).to_contain_text("Confidence 0.420 is below the threshold 0.900.")
    expect(why).to_contain_text("Policy v1")
    expect(why.get_by_role("row", name=re.compile(r"^Confidence confidence confidence ="))).to_contain_text("Fired")
    expect(page.get_by_role("region", name="Payload")).to_contain_text("25,000")
    expect(page.get_by_role("region", name="Audit timeline")).to_contain_text("Work started")
    wait_for(lambda: ReviewTask.objects.get(pk=first.id).state == TaskState.IN_PROGRESS, what="task_start")
    expect(page.locator("#lease-countdown time")).to_have_text(re.compile(r"^1[45]:\d\d$"))

    # The claim is renewed while the reviewer works.
    ReviewTask.objects.filter(pk=first.id).update(lease_expires_at=timezone.now() + timedelta(seconds=40))
    page.mouse.wheel(0, 200)
    page.evaluate("document.querySelector('[data-renew-url]').renewNow()")
    wait_for(
        lambda: ReviewTask.objects.get(pk=first.id).lease_expires_at > timezone.now() + timedelta(minutes=10),
        what="the lease to be renewed",
    )
    expect(page.locator("#lease-countdown time")).to_have_text(re.compile(r"^1[45]:\d\d$"))
    page.mouse.wheel(0, -400)
    page.screenshot(path=str(shots / "task.png"), full_page=True)

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    page.screenshot(path=str(shots / "shortcuts.png"))
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    page.keyboard.press("a")

    expect(page).to_have_url(f"{base}/tasks/{second.id}")
    expect(page.get_by_role("status")).to_have_text("Approved. Next task opened.")
    review = Review.objects.get(task=first)
    assert (review.verdict, review.reviewer.username) == ("approve", "reviewer")
    assert ReviewTask.objects.get(pk=first.id).state == TaskState.COMPLETED
    wait_for(
        lambda: Decision.objects.filter(pk=first.decision_id, status="completed", outcome="approved").exists(),
        what="the workflow to finalize the approved decision",
    )

    # Back to the inbox: the claimed task is listed with its lease countdown and links back.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Inbox").click()
    claimed = page.get_by_role("region", name="My claimed tasks")
    expect(claimed.get_by_role("link")).to_have_count(1)
    expect(claimed.locator("[data-countdown] time").first).to_have_text(re.compile(r"^1[45]:\d\d$"))
    page.screenshot(path=str(shots / "inbox.png"), full_page=True)


def test_reject_requires_a_reason(site, page):
    base = site["url"]
    task = make_task(site, key="2001", confidence=0.35, amount=18000)
    log_in(page, base)
    page.get_by_role("button", name="Next task").click()
    expect(page).to_have_url(f"{base}/tasks/{task.id}")

    page.keyboard.press("r")

    reason = page.get_by_label("Reason")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_be_focused()
    expect(reason).to_have_accessible_description(re.compile(r"Required to reject.*a reason is required to reject"))
    expect(page.locator("#id_reason_error")).to_have_text("a reason is required to reject")
    assert not Review.objects.exists()

    reason.select_option("income_mismatch")
    page.get_by_label("Comment", exact=True).fill("Income could not be verified against the payslips.")
    page.get_by_role("button", name="Reject").click()

    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("status")).to_contain_text("Rejected.")
    assert Review.objects.get(task=task).verdict == "reject"


def test_supervisor_reassigns_from_the_queue_board(site, page, shots):
    base = site["url"]
    tasks = [make_task(site, key=f"30{i}", confidence=0.5 + i / 20, amount=9000 + i * 7000) for i in range(4)]
    done = task_claim_next(queue_slug="underwriting", user=site["reviewer"])
    review_submit(task_id=done.id, reviewer=site["reviewer"], verdict="approve")
    log_in(page, base, "supervisor")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queues").click()
    board = page.get_by_role("region", name="Your queues")
    expect(board.get_by_role("row", name=re.compile("Underwriting"))).to_contain_text("1 done in 24 h")
    expect(board.get_by_role("img", name=re.compile("1 tasks completed in the last 24 hours"))).to_be_visible()
    page.screenshot(path=str(shots / "board.png"), full_page=True)
    board.get_by_role("link", name="Underwriting").click()

    target = next(t for t in tasks if t.id != done.id)
    page.get_by_label(f"Select task {str(target.id)[:8]}").check()
    page.get_by_label("Action", exact=True).select_option("reassign")
    page.get_by_label("Reviewer", exact=True).select_option("reviewer")
    page.get_by_role("button", name="Apply to selected").click()

    results = page.get_by_role("region", name="Results")
    expect(results).to_contain_text("1 done")
    expect(results.get_by_role("row", name=str(target.id)[:8])).to_contain_text("Done")
    page.screenshot(path=str(shots / "queue.png"), full_page=True)
    reassigned = ReviewTask.objects.get(pk=target.id)
    assert (reassigned.state, reassigned.claimed_by.username) == (TaskState.RESERVED, "reviewer")


def test_compliance_officer_exports_and_downloads(site, page, settings, tmp_path, shots):
    settings.HANDRAIL_AUDIT_EXPORT_DIR = tmp_path / "exports"
    settings.HANDRAIL_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    base = site["url"]
    task = make_task(site, key="4001", confidence=0.4, amount=30000)
    log_in(page, base, "compliance")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    page.get_by_label("Decision id").fill(str(task.decision_id))
    page.get_by_role("button", name="Search").click()
    events = page.get_by_role("region", name="Events")
    expect(events).to_contain_text("Routed by the gates")
    page.screenshot(path=str(shots / "audit.png"), full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").click()
    page.get_by_label("Flow").fill("loan_approval")
    page.get_by_role("button", name="Export").click()
    expect(page.get_by_role("status")).to_contain_text("Export requested")
    export = wait_for(lambda: AuditExport.objects.first(), what="the export job")
    jobs = page.get_by_role("region", name="Your exports")
    expect(jobs).to_contain_text("Queued")

    audit_export_run_task(str(export.id))  # what the Celery worker runs; the page polls until it is done

    download_link = jobs.get_by_role("link", name="Download")
    expect(download_link).to_be_visible()
    page.screenshot(path=str(shots / "exports.png"), full_page=True)
    with page.expect_download() as info:
        download_link.click()
    saved = tmp_path / "bundle.zip"
    info.value.save_as(saved)
    assert zipfile.is_zipfile(saved) and "manifest.json" in zipfile.ZipFile(saved).namelist()
    wait_for(
        lambda: AuditEvent.objects.filter(kind="audit.export.downloaded", actor="compliance").exists(),
        what="the download to be audited",
    )


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
