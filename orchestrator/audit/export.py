"""Export the audit trail: CSV and JSONL streamed with constant memory, and signed offline-verifiable bundles.

Rows stream straight out of Postgres with `COPY (SELECT …) TO STDOUT` in blocks, so memory does not
grow with the number of events. Every export is bounded by a signed checkpoint (created first when
events were appended since the last one), so the bundle can prove each event's inclusion.

A bundle (a zip) holds:
- `events.jsonl`: one line per event, `{"prev_hash":…,"hash":…,"body":<the exact hashed bytes>}`,
  in chain order (partition, seq);
- `events.csv`: the same events, readable, with signature name/time/meaning columns;
- `proofs.jsonl`: for each run of consecutive events of a partition, a Merkle inclusion proof of the
  run's last event in the segment root of a covering checkpoint (the run's hash links prove the rest);
- `manifest.json`: filters, counts, seq ranges, SHA-256 and size of each file, the covering checkpoints
  (signed statements); `manifest.sig`: Ed25519 signature of manifest.json; `public_key.pem`: for
  convenience only — a verifier must use a key obtained out of band.
"""

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.db import connection
from django.utils import timezone

from orchestrator.audit.canonical import canonical_bytes
from orchestrator.audit.checkpoints import audit_checkpoint_create, segment_tree, statement_of
from orchestrator.audit.merkle import MerkleTree
from orchestrator.audit.signing import current_key_id, public_key_pem, sign
from orchestrator.audit.verify_bundle import FORMAT as BUNDLE_FORMAT
from orchestrator.audit.verify_bundle import MEMBERS as BUNDLE_MEMBERS
from orchestrator.audit.verify_bundle import VERSION as BUNDLE_VERSION
from orchestrator.audit.verify_bundle import ZIP_TIME
from orchestrator.models import AuditCheckpoint, AuditEvent

_T = AuditEvent._meta.db_table

CSV_COLUMNS = [
    "id",
    "partition",
    "seq",
    "occurred_at",
    "kind",
    "outcome",
    "actor",
    "actor_roles",
    "signature_name",
    "signature_time",
    "signature_meaning",
    "decision_id",
    "flow",
    "queue",
    "subject_type",
    "subject_id",
    "request_id",
    "policy_version",
    "model_version",
    "data",
    "context",
    "prev_hash",
    "hash",
]

_TIME = """to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_PERSON = "e.actor NOT IN ('', 'system', 'workflow')"
# 21 CFR Part 11 §11.50: a signed record shows the signer's name, the time and the meaning of the signature.
_MEANING = """CASE
    WHEN e.kind = 'review.submitted' THEN 'review verdict: ' || coalesce(e.data->>'verdict', '')
    WHEN e.kind LIKE 'policy.%%' THEN 'policy ' || split_part(e.kind, '.', 2)
    WHEN e.kind = 'decision.received' THEN 'decision submitted by a client system'
    WHEN e.kind LIKE 'task.%%' THEN 'review task ' || replace(split_part(e.kind, '.', 2), '_', ' ')
    WHEN e.kind LIKE 'audit.export.%%' THEN 'audit export ' || split_part(e.kind, '.', 3)
    WHEN e.kind LIKE 'auth.%%' THEN replace(split_part(e.kind, '.', 2), '_', ' ')
    ELSE e.kind END"""
_CSV_SELECT = f"""e.id, e.partition, e.seq, {_TIME}, e.kind, e.outcome, e.actor,
    (SELECT coalesce(string_agg(r, ';'), '') FROM jsonb_array_elements_text(e.actor_roles) AS r),
    CASE WHEN {_PERSON} THEN e.actor ELSE '' END,
    CASE WHEN {_PERSON} THEN {_TIME} ELSE '' END,
    CASE WHEN {_PERSON} THEN {_MEANING} ELSE '' END,
    e.decision_id, e.flow, e.queue, e.subject_type, e.subject_id, e.request_id, e.policy_version, e.model_version,
    e.data::text, e.context::text, e.prev_hash, e.hash"""
_JSONL_SELECT = """'{"prev_hash":"' || e.prev_hash || '","hash":"' || e.hash || '","body":' || e.body || '}'"""
# Canonical JSON escapes every control character, so \x01/\x02 never occur and COPY passes lines through.
_RAW_LINES = "(FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"


@dataclass
class ExportFilters:
    """What to export. All set filters must hold (AND); times are UTC, `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    flow: str = ""
    decision_id: str = ""
    actor: str = ""
    queue: str = ""
    kind: str = ""
    outcome: str = ""
    policy_version: str = ""
    model_version: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                out[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            elif value:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExportFilters":
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known and v not in (None, "")}
        for key in ("since", "until"):
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key].replace("Z", "+00:00"))
        return cls(**values)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "ExportFilters":
        """Filters from the names the API and the command line take: `decision` is the decision id,
        `action` the event kind; a missing or empty value filters nothing."""
        return cls(
            since=params.get("since"),
            until=params.get("until"),
            flow=params.get("flow") or "",
            decision_id=str(params["decision"]) if params.get("decision") else "",
            actor=params.get("actor") or "",
            queue=params.get("queue") or "",
            kind=params.get("action") or "",
            outcome=params.get("outcome") or "",
            policy_version=params.get("policy_version") or "",
            model_version=params.get("model_version") or "",
        )

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.since:
            clauses.append("e.occurred_at >= %s")
            params.append(self.since)
        if self.until:
            clauses.append("e.occurred_at < %s")
            params.append(self.until)
        for column in ("flow", "actor", "queue", "kind", "outcome", "policy_version", "model_version"):
            value = getattr(self, column)
            if value:
                clauses.append(f"e.{column} = %s")
                params.append(value)
        if self.decision_id:
            clauses.append("e.decision_id = %s::uuid")
            params.append(str(self.decision_id))
        return (" AND ".join(clauses) or "TRUE"), params


def _bounded(filters: ExportFilters, checkpoint: AuditCheckpoint | None) -> tuple[str, list[Any]]:
    """FROM/WHERE for the filtered events, limited to what `checkpoint` sealed (when given)."""
    where, params = filters.where()
    if checkpoint is None:
        return f"FROM {_T} AS e WHERE {where}", params
    heads = [(int(h["partition"]), int(h["seq"])) for h in statement_of(checkpoint)["heads"]]
    if not heads:
        return f"FROM {_T} AS e WHERE FALSE", []
    values = ", ".join("(%s::int, %s::bigint)" for _ in heads)
    flat = [x for pair in heads for x in pair]
    return (
        f"FROM {_T} AS e JOIN (VALUES {values}) AS h(p, s) ON e.partition = h.p AND e.seq <= h.s WHERE {where}",
        flat + params,
    )


def export_blocks(*, filters: ExportFilters, fmt: str, checkpoint: AuditCheckpoint | None = None) -> Iterator[bytes]:
    """The matching events as CSV (header first) or JSONL lines carrying the exact hashed bytes, in chain
    order: blocks straight from `COPY … TO STDOUT`, so memory stays flat whatever the range."""
    source, params = _bounded(filters, checkpoint)
    if fmt == "csv":
        yield (",".join(CSV_COLUMNS) + "\n").encode()
        select, options = _CSV_SELECT, "(FORMAT csv)"
    else:
        select, options = _JSONL_SELECT, _RAW_LINES
    sql = f"COPY (SELECT {select} {source} ORDER BY e.partition, e.seq) TO STDOUT WITH {options}"
    with connection.cursor() as cursor:
        with cursor.cursor.copy(sql, params) as copy:  # type: ignore[attr-defined]
            for block in copy:
                yield bytes(block)


def export_csv(*, filters: ExportFilters, out: IO[bytes], checkpoint: AuditCheckpoint | None = None) -> None:
    """Write the matching events as CSV (header first), in chain order, with constant memory."""
    for block in export_blocks(filters=filters, fmt="csv", checkpoint=checkpoint):
        out.write(block)


def export_jsonl(
    *,
    filters: ExportFilters,
    out: IO[bytes],
    checkpoint: AuditCheckpoint | None = None,
    on_block: Callable[[bytes], None] | None = None,
) -> None:
    """Write the matching events as JSONL lines carrying the exact hashed bytes, in chain order."""
    for block in export_blocks(filters=filters, fmt="jsonl", checkpoint=checkpoint):
        out.write(block)
        if on_block is not None:
            on_block(block)


class _HashingWriter:
    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)


@dataclass
class BundleResult:
    path: Path
    sha256: str
    size_bytes: int
    events: int
    checkpoint_id: int | None
    manifest: dict[str, Any]


def _runs(filters: ExportFilters, checkpoint: AuditCheckpoint) -> Any:
    """(partition, first_seq, last_seq, count) of each run of consecutive exported seqs (gaps and islands)."""
    source, params = _bounded(filters, checkpoint)
    sql = f"""SELECT partition, min(seq), max(seq), count(*) FROM (
        SELECT e.partition, e.seq, e.seq - row_number() OVER (PARTITION BY e.partition ORDER BY e.seq) AS grp
        {source}) AS runs GROUP BY partition, grp ORDER BY partition, min(seq)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(5000):
            yield from batch


def _write_proofs(filters: ExportFilters, checkpoint: AuditCheckpoint, out: Any) -> tuple[list[dict[str, Any]], dict]:
    """Write one inclusion proof per run; return the seq ranges and the covering checkpoints used."""
    checkpoints = list(AuditCheckpoint.objects.filter(id__lte=checkpoint.id).order_by("id"))
    segments: list[tuple[AuditCheckpoint, int, int, int]] = []  # (checkpoint, partition, from_seq, seq)
    for ck in checkpoints:
        for head in statement_of(ck)["heads"]:
            if int(head["seq"]) > int(head["from_seq"]):
                segments.append((ck, int(head["partition"]), int(head["from_seq"]), int(head["seq"])))
    used: dict[int, AuditCheckpoint] = {}
    ranges: dict[int, dict[str, int]] = {}
    trees: dict[tuple[int, int], MerkleTree] = {}
    current_partition = None
    for partition, first, last, count in _runs(filters, checkpoint):
        if partition != current_partition:
            trees.clear()  # runs come partition by partition: keep only this partition's trees
            current_partition = partition
        rng = ranges.setdefault(partition, {"partition": partition, "first_seq": first, "last_seq": last, "count": 0})
        rng["last_seq"], rng["count"] = last, rng["count"] + count
        ck, from_seq, to_seq = next((c, f, s) for c, p, f, s in segments if p == partition and f < last <= s)
        tree = trees.get((ck.id, partition))
        if tree is None:
            tree = trees[(ck.id, partition)] = segment_tree(partition=partition, from_seq=from_seq, to_seq=to_seq)
        used[ck.id] = ck
        proof = {
            "partition": partition,
            "first_seq": first,
            "last_seq": last,
            "checkpoint": ck.hash,
            "leaf_index": last - from_seq - 1,
            "tree_size": to_seq - from_seq,
            "path": [p.hex() for p in tree.path(last - from_seq - 1)],
        }
        out.write(canonical_bytes(proof) + b"\n")
    return list(ranges.values()), used


def export_bundle(
    *,
    filters: ExportFilters,
    directory: Path,
    name: str,
    export_id: str = "",
    requested_by: str = "",
    progress: Callable[[int], None] | None = None,
) -> BundleResult:
    """Build `directory/name.zip`. Seals the trail first, so every exported event is covered by a checkpoint."""
    audit_checkpoint_create()
    checkpoint = AuditCheckpoint.objects.order_by("-id").first()
    if checkpoint is None:  # an empty trail still gets a (signed, empty) checkpoint
        checkpoint = audit_checkpoint_create(force=True)
    assert checkpoint is not None
    directory.mkdir(parents=True, exist_ok=True)
    work = directory / f"{name}.parts"
    work.mkdir(exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    lines = 0

    def count_lines(block: bytes) -> None:
        nonlocal lines
        before = lines // 10000
        lines += block.count(b"\n")
        if progress is not None and lines // 10000 != before:
            progress(lines)

    with open(work / "events.jsonl", "wb") as handle:
        writer = _HashingWriter(handle)
        export_jsonl(filters=filters, out=writer, checkpoint=checkpoint, on_block=count_lines)  # type: ignore[arg-type]
        files["events.jsonl"] = {"sha256": writer.digest.hexdigest(), "bytes": writer.size}
    with open(work / "events.csv", "wb") as handle:
        writer = _HashingWriter(handle)
        export_csv(filters=filters, out=writer, checkpoint=checkpoint)  # type: ignore[arg-type]
        files["events.csv"] = {"sha256": writer.digest.hexdigest(), "bytes": writer.size}
    with open(work / "proofs.jsonl", "wb") as handle:
        writer = _HashingWriter(handle)
        ranges, used = _write_proofs(filters, checkpoint, writer)
        files["proofs.jsonl"] = {"sha256": writer.digest.hexdigest(), "bytes": writer.size}
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "export_id": export_id,
        "created_at": timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "requested_by": requested_by,
        "filters": filters.to_json(),
        "order": "partition, seq",
        "counts": {
            "events": lines,
            "partitions": len(ranges),
            "runs": _count_lines(work / "proofs.jsonl"),
        },
        "seq_ranges": ranges,
        "files": files,
        "sealed_by": checkpoint.hash,
        "checkpoints": [
            {"hash": ck.hash, "statement": ck.statement, "signature": ck.signature, "key_id": ck.key_id}
            for ck in sorted(used.values(), key=lambda c: c.id)
        ]
        or [
            {
                "hash": checkpoint.hash,
                "statement": checkpoint.statement,
                "signature": checkpoint.signature,
                "key_id": checkpoint.key_id,
            }
        ],
        "key_id": current_key_id(),
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"
    (work / "manifest.json").write_bytes(manifest_bytes)
    (work / "manifest.sig").write_text(sign(manifest_bytes) + "\n")
    (work / "public_key.pem").write_bytes(public_key_pem())
    path = directory / f"{name}.zip"
    tmp = directory / f"{name}.zip.tmp"
    _write_zip(tmp, work)
    os.replace(tmp, path)
    for member in work.iterdir():
        member.unlink()
    work.rmdir()
    digest = hashlib.sha256()
    with open(path, "rb") as archive_file:
        while chunk := archive_file.read(1 << 20):
            digest.update(chunk)
    if progress is not None:
        progress(lines)
    return BundleResult(path, digest.hexdigest(), path.stat().st_size, lines, checkpoint.id, manifest)


def _write_zip(path: Path, work: Path) -> None:
    """A zip in one canonical layout (stored, fixed times and modes), so every byte of it is checkable."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for member in BUNDLE_MEMBERS:
            info = zipfile.ZipInfo(member, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            info.file_size = (work / member).stat().st_size
            with open(work / member, "rb") as source, archive.open(info, "w") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)
