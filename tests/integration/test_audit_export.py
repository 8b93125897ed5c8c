"""Exports: filters return exactly the matching events; bundles verify offline and fail on any flipped byte."""

import csv
import io
import json
import random
import shutil
import subprocess
import sys
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import transaction

from orchestrator.audit.chain import audit_append
from orchestrator.audit.checkpoints import audit_checkpoint_create
from orchestrator.audit.export import ExportFilters, export_bundle, export_csv, export_jsonl
from orchestrator.audit.signing import public_key_pem
from orchestrator.audit.verify_bundle import BundleError, verify
from orchestrator.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_dirs")]

VERIFIER = Path(__file__).resolve().parents[2] / "orchestrator" / "audit" / "verify_bundle.py"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def public_key(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "trusted.pem"
    path.write_bytes(public_key_pem())
    return path


def _trail(n_decisions: int = 6, checkpoint_every: int = 3) -> list[AuditEvent]:
    """A varied trail: several flows, actors, queues, kinds, outcomes, policy and model versions, times."""
    rng = random.Random(7)
    events = []
    for d in range(n_decisions):
        decision = str(uuid.UUID(int=rng.getrandbits(128)))
        flow = ("loan_approval", "fraud")[d % 2]
        model = str(7 + d % 2)
        steps = [
            ("decision.received", "demo-model", "", "ok", {"model": {"name": "m", "version": model}}),
            (
                "decision.routed",
                "workflow",
                "underwriting" if d % 3 else "fraud-desk",
                "ok",
                {"policy": {"version": 1 + d % 3}, "model": {"name": "m", "version": model}},
            ),
            (
                "review.submitted",
                ("alice", "bob")[d % 2],
                "underwriting",
                ("ok", "rejected")[d % 4 == 3],
                {"verdict": "approve", "note": 'é ü \\" \n'},
            ),
            ("decision.finalized", "workflow", "", "ok", {"outcome": "approved"}),
        ]
        for i, (kind, actor, queue, outcome, data) in enumerate(steps):
            with transaction.atomic():
                events.append(
                    audit_append(
                        kind=kind,
                        actor=actor,
                        decision_id=decision,
                        flow=flow,
                        queue=queue,
                        outcome=outcome,
                        data=data,
                        occurred_at=T0 + timedelta(hours=d, minutes=i),
                    )
                )
        if d % checkpoint_every == checkpoint_every - 1:
            audit_checkpoint_create()
    return events


def _expected(events: list[AuditEvent], f: ExportFilters) -> list[int]:
    def keep(e: AuditEvent) -> bool:
        return (
            (f.since is None or e.occurred_at >= f.since)
            and (f.until is None or e.occurred_at < f.until)
            and (not f.flow or e.flow == f.flow)
            and (not f.decision_id or str(e.decision_id) == f.decision_id)
            and (not f.actor or e.actor == f.actor)
            and (not f.queue or e.queue == f.queue)
            and (not f.kind or e.kind == f.kind)
            and (not f.outcome or e.outcome == f.outcome)
            and (not f.policy_version or str(e.data.get("policy", {}).get("version")) == f.policy_version)
            and (not f.model_version or str(e.data.get("model", {}).get("version")) == f.model_version)
        )

    return sorted(e.id for e in events if keep(e))


FILTERS = [
    ExportFilters(),
    ExportFilters(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4, minutes=2)),
    ExportFilters(flow="fraud"),
    ExportFilters(actor="alice"),
    ExportFilters(queue="fraud-desk"),
    ExportFilters(kind="decision.routed"),
    ExportFilters(outcome="rejected"),
    ExportFilters(policy_version="2"),
    ExportFilters(model_version="8"),
    ExportFilters(flow="loan_approval", kind="review.submitted", since=T0 + timedelta(hours=1)),
    ExportFilters(flow="nothing-matches"),
]


@pytest.mark.parametrize("index", range(len(FILTERS)))
def test_filters_return_exactly_the_matching_events(index, tmp_path, public_key):
    events = _trail()
    filters = FILTERS[index]
    expected = _expected(events, filters)
    out = io.BytesIO()
    export_csv(filters=filters, out=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert sorted(int(r["id"]) for r in rows) == expected
    lines = io.BytesIO()
    export_jsonl(filters=filters, out=lines)
    hashes = [json.loads(line)["hash"] for line in lines.getvalue().splitlines()]
    assert sorted(hashes) == sorted(e.hash for e in events if e.id in expected)
    filters_for_bundle = filters
    result = export_bundle(filters=filters_for_bundle, directory=tmp_path / "b", name="x")
    assert result.events == len(expected)
    summary = verify(result.path, public_key)
    assert summary["events"] == len(expected)


def test_decision_filter_and_csv_signature_columns(tmp_path):
    events = _trail(n_decisions=2)
    decision = str(events[0].decision_id)
    out = io.BytesIO()
    export_csv(filters=ExportFilters(decision_id=decision), out=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [int(r["id"]) for r in rows] == [e.id for e in events if str(e.decision_id) == decision]
    review = next(r for r in rows if r["kind"] == "review.submitted")
    assert review["signature_name"] == "alice"
    assert review["signature_meaning"] == "review verdict: approve"
    assert review["signature_time"] == review["occurred_at"].replace("+00:00", "Z")
    assert next(r for r in rows if r["kind"] == "decision.finalized")["signature_name"] == ""


def _unpack(bundle: Path, into: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(into)
    return into


def test_bundle_verifies_with_the_standalone_script_and_not_with_another_key(tmp_path, public_key):
    _trail()
    result = export_bundle(filters=ExportFilters(flow="fraud"), directory=tmp_path / "b", name="bundle")
    manifest = json.loads(zipfile.ZipFile(result.path).read("manifest.json"))
    assert manifest["counts"]["events"] == result.events and manifest["filters"] == {"flow": "fraud"}
    assert {r["partition"] for r in manifest["seq_ranges"]}
    ok = subprocess.run(
        [sys.executable, str(VERIFIER), str(result.path), "--public-key", str(public_key)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # no Django settings, no project on the path: stdlib + cryptography
    )
    assert ok.returncode == 0, ok.stderr
    assert f"{result.events} events" in ok.stdout
    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    bad = subprocess.run(
        [sys.executable, str(VERIFIER), str(result.path), "--public-key", str(other)], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "signature is not valid" in bad.stderr


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_any_flipped_byte_in_any_file_fails_verification(tmp_path, public_key):
    _trail()
    result = export_bundle(filters=ExportFilters(kind="review.submitted"), directory=tmp_path / "b", name="bundle")
    clean = _unpack(result.path, tmp_path / "clean")
    assert verify(clean, public_key)["events"] == result.events
    rng = random.Random(11)
    checked = 0
    for member in sorted(p.name for p in clean.iterdir()):
        size = (clean / member).stat().st_size
        positions = {0, size - 1, size // 2} | {rng.randrange(size) for _ in range(12)}
        for position in sorted(positions):
            work = tmp_path / f"flip-{member}-{position}"
            shutil.copytree(clean, work)
            _flip(work / member, position)
            with pytest.raises(BundleError):
                verify(work, public_key)
            shutil.rmtree(work)
            checked += 1
    assert checked > 60


def test_any_flipped_byte_of_the_zip_fails_verification(tmp_path, public_key):
    _trail(n_decisions=3)
    result = export_bundle(filters=ExportFilters(), directory=tmp_path / "b", name="bundle")
    size = result.path.stat().st_size
    rng = random.Random(5)
    positions = sorted({0, size - 1, *range(0, 120), *(rng.randrange(size) for _ in range(150))})
    for position in positions:
        work = tmp_path / "flipped.zip"
        shutil.copy(result.path, work)
        _flip(work, position)
        with pytest.raises(BundleError):
            verify(work, public_key)


def test_a_removed_or_reordered_event_line_fails(tmp_path, public_key):
    _trail(n_decisions=3)
    result = export_bundle(filters=ExportFilters(), directory=tmp_path / "b", name="bundle")
    clean = _unpack(result.path, tmp_path / "clean")
    lines = (clean / "events.jsonl").read_bytes().splitlines(keepends=True)
    for mutated in (lines[:3] + lines[4:], [lines[1], lines[0], *lines[2:]]):
        work = tmp_path / "mutated"
        shutil.copytree(clean, work)
        (work / "events.jsonl").write_bytes(b"".join(mutated))
        with pytest.raises(BundleError):
            verify(work, public_key)
        shutil.rmtree(work)


def test_events_after_the_last_checkpoint_are_sealed_by_the_export(tmp_path, public_key):
    _trail(n_decisions=2, checkpoint_every=100)  # no checkpoint yet
    result = export_bundle(filters=ExportFilters(), directory=tmp_path / "b", name="bundle")
    assert result.events == 8
    assert verify(result.path, public_key)["checkpoints"] == 1
