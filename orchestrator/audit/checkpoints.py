"""Signed checkpoints: a Merkle root over every partition head, sealed with Ed25519, kept twice.

A checkpoint's statement (canonical JSON, the exact signed bytes) lists for each partition its head
(seq, hash), where the previous checkpoint left it (from_seq), and the Merkle root over the hashes of
the events in between (segment_root: inclusion proofs for filtered exports hang off it). The
statement also names the previous checkpoint's hash, so checkpoints form their own chain. The row
lives in Postgres (append-only, like events); the same statement and signature go to a file under
HANDRAIL_AUDIT_CHECKPOINT_DIR, outside the database.
"""

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orchestrator.audit.canonical import GENESIS, canonical_bytes
from orchestrator.audit.merkle import MerkleStream, MerkleTree, merkle_root
from orchestrator.audit.signing import current_key_id, sign, verify_signature
from orchestrator.errors import ConflictError
from orchestrator.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditTombstone

logger = logging.getLogger(__name__)

STATEMENT_VERSION = 1
_LOCK_KEY = 0x48524C43  # one checkpoint at a time (pg advisory lock)


class AuditIntegrityError(ConflictError):
    code = "audit_integrity"


def statement_of(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return dict(json.loads(checkpoint.statement))


def heads_root_of(heads: list[dict[str, Any]]) -> str:
    return merkle_root(canonical_bytes(entry) for entry in heads).hex()


def _segment_hashes(partition: int, from_seq: int, to_seq: int, batch_size: int = 20000) -> list[bytes]:
    out: list[bytes] = []
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.itersize = batch_size  # type: ignore[attr-defined]
        cursor.execute(
            f"SELECT seq, hash FROM {AuditEvent._meta.db_table} WHERE partition = %s AND seq > %s AND seq <= %s"
            " ORDER BY seq",
            [partition, from_seq, to_seq],
        )
        expected = from_seq + 1
        for seq, hash_ in cursor:
            if seq != expected:
                raise AuditIntegrityError(f"partition {partition} has a gap at seq {expected}", field="partition")
            out.append(bytes.fromhex(hash_))
            expected += 1
    if len(out) != to_seq - from_seq:
        raise AuditIntegrityError(f"partition {partition} ends before its head seq {to_seq}", field="partition")
    return out


def segment_tree(*, partition: int, from_seq: int, to_seq: int) -> MerkleTree:
    """The Merkle tree over one partition's events (from_seq, to_seq], for inclusion proofs."""
    return MerkleTree(_segment_hashes(partition, from_seq, to_seq))


def _segment_root(partition: int, from_seq: int, to_seq: int) -> str:
    return merkle_root(_segment_hashes(partition, from_seq, to_seq)).hex()


def _write_file(checkpoint_dir: Path, name: str, document: dict[str, Any]) -> Path:
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint_dir / name
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        handle.write(canonical_bytes(document) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def file_document(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {"statement": checkpoint.statement, "signature": checkpoint.signature, "key_id": checkpoint.key_id}


@transaction.atomic
def audit_checkpoint_create(*, force: bool = False, now: datetime | None = None) -> AuditCheckpoint | None:
    """Seal every partition head. Returns None when nothing was appended since the last checkpoint."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    prev = AuditCheckpoint.objects.order_by("-id").first()
    prev_seq: dict[int, int] = {}
    if prev is not None:
        prev_seq = {int(h["partition"]): int(h["seq"]) for h in statement_of(prev)["heads"]}
    purged = dict(AuditTombstone.objects.values_list("partition", "up_to_seq").order_by("up_to_seq"))
    heads = []
    for head in AuditChainHead.objects.order_by("partition"):
        from_seq = prev_seq.get(head.partition, 0)
        if head.seq < from_seq:
            raise AuditIntegrityError(f"partition {head.partition} went back behind the last checkpoint")
        if purged.get(head.partition, 0) > from_seq:
            raise AuditIntegrityError(f"partition {head.partition} was purged past the last checkpoint")
        root = _segment_root(head.partition, from_seq, head.seq) if head.seq > from_seq else merkle_root([]).hex()
        heads.append(
            {
                "partition": head.partition,
                "seq": head.seq,
                "hash": head.hash,
                "from_seq": from_seq,
                "segment_root": root,
            }
        )
    for partition, seq in prev_seq.items():  # a head row that vanished is a broken trail, not a fresh start
        if partition not in {h["partition"] for h in heads} and seq > 0:
            raise AuditIntegrityError(f"partition {partition}'s head is missing")
    if prev is not None and not force and all(h["seq"] == h["from_seq"] for h in heads):
        return None
    created_at = (now or timezone.now()).astimezone(UTC)
    statement = {
        "version": STATEMENT_VERSION,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "prev": prev.hash if prev else GENESIS,
        "key_id": current_key_id(),
        "events_total": sum(h["seq"] for h in heads),
        "heads": heads,
        "heads_root": heads_root_of(heads),
    }
    statement_bytes = canonical_bytes(statement)
    digest = hashlib.sha256(statement_bytes).hexdigest()
    signature = sign(statement_bytes)
    checkpoint = AuditCheckpoint(
        created_at=created_at,
        statement=statement_bytes.decode(),
        signature=signature,
        key_id=statement["key_id"],
        heads_root=statement["heads_root"],
        prev_hash=statement["prev"],
        hash=digest,
        events_total=statement["events_total"],
    )
    name = f"checkpoint-{created_at:%Y%m%dT%H%M%S%fZ}-{digest[:16]}.json"
    path = _write_file(Path(settings.HANDRAIL_AUDIT_CHECKPOINT_DIR), name, file_document(checkpoint))
    checkpoint.file_path = str(path)
    checkpoint.save(force_insert=True)
    logger.info("audit checkpoint %s sealed %s events (root %s)", checkpoint.id, checkpoint.events_total, digest)
    return checkpoint


# --- verification ----------------------------------------------------------------------------------


@dataclass
class _Entry:
    checkpoint_id: int
    from_seq: int
    seq: int
    hash: str
    segment_root: str


@dataclass
class CheckpointWalker:
    """Checks the checkpoints themselves, then each partition's events against them during the walk."""

    problems: list[Any] = field(default_factory=list)
    entries: dict[int, list[_Entry]] = field(default_factory=dict)
    starts: dict[int, tuple[int, str]] = field(default_factory=dict)
    _pos: dict[int, int] = field(default_factory=dict)
    _stream: dict[int, MerkleStream] = field(default_factory=dict)

    @classmethod
    def load(cls) -> "CheckpointWalker":
        from orchestrator.audit.chain import ChainBreak

        walker = cls()
        prev_hash, last_seq = GENESIS, dict[int, int]()
        boundaries: dict[tuple[int, int], str] = {}
        for ck in AuditCheckpoint.objects.order_by("id"):

            def problem(reason: str, ck: AuditCheckpoint = ck) -> None:
                walker.problems.append(ChainBreak(-1, 0, None, f"checkpoint {ck.id}: {reason}", ck.id))

            raw = ck.statement.encode()
            if hashlib.sha256(raw).hexdigest() != ck.hash:
                problem("statement does not match its hash")
            if not verify_signature(raw, ck.signature):
                problem("signature is not valid for the configured signing key")
            if ck.prev_hash != prev_hash:
                problem("does not follow the previous checkpoint (one was removed, altered or inserted)")
            prev_hash = ck.hash
            try:
                statement = json.loads(raw)
                heads = statement["heads"]
            except (ValueError, KeyError, TypeError):
                problem("statement is not readable")
                continue
            if statement.get("prev") != ck.prev_hash or heads_root_of(heads) != statement.get("heads_root"):
                problem("statement is inconsistent (prev or heads root)")
            if ck.file_path:
                try:
                    on_file = json.loads(Path(ck.file_path).read_bytes())
                except (OSError, ValueError):
                    problem(f"file copy {ck.file_path} is missing or unreadable")
                else:
                    if on_file != file_document(ck):
                        problem(f"file copy {ck.file_path} differs from the database row")
            for head in heads:
                partition, seq, from_seq = int(head["partition"]), int(head["seq"]), int(head["from_seq"])
                if from_seq != last_seq.get(partition, 0):
                    problem(f"partition {partition} does not continue from the previous checkpoint")
                last_seq[partition] = seq
                boundaries[(partition, seq)] = head["hash"]
                if seq > from_seq:
                    walker.entries.setdefault(partition, []).append(
                        _Entry(ck.id, from_seq, seq, head["hash"], head["segment_root"])
                    )
        for tomb in AuditTombstone.objects.order_by("partition", "up_to_seq"):
            if boundaries.get((tomb.partition, tomb.up_to_seq)) != tomb.last_hash:
                walker.problems.append(
                    ChainBreak(
                        tomb.partition,
                        tomb.up_to_seq,
                        None,
                        "retention tombstone does not end at a signed checkpoint boundary",
                        tomb.checkpoint_id,
                    )
                )
            walker.starts[tomb.partition] = (tomb.up_to_seq, tomb.last_hash)
        return walker

    def chain_starts(self) -> dict[int, tuple[int, str]]:
        return dict(self.starts)

    def partitions(self) -> set[int]:
        return set(self.entries)

    def start_partition(self, partition: int) -> None:
        start = self.starts.get(partition, (0, GENESIS))[0]
        entries = self.entries.get(partition, [])
        pos = 0
        while pos < len(entries) and entries[pos].seq <= start:  # sealed, then purged under retention
            pos += 1
        self._pos[partition] = pos
        self._stream[partition] = MerkleStream()

    def feed(self, partition: int, seq: int, event_id: int, hash_: str) -> Any:
        from orchestrator.audit.chain import ChainBreak

        entries = self.entries.get(partition)
        pos = self._pos.get(partition, 0)
        if not entries or pos >= len(entries):
            return None
        entry = entries[pos]
        stream = self._stream[partition]
        stream.add_leaf(bytes.fromhex(hash_))
        if seq < entry.seq:
            return None
        self._pos[partition] = pos + 1
        self._stream[partition] = MerkleStream()
        if hash_ != entry.hash:
            return ChainBreak(
                partition,
                seq,
                event_id,
                f"differs from checkpoint {entry.checkpoint_id}'s signed head: an event in seq "
                f"{entry.from_seq + 1}..{entry.seq} was edited, inserted, removed or reordered",
                entry.checkpoint_id,
            )
        if stream.root().hex() != entry.segment_root:
            return ChainBreak(
                partition,
                entry.from_seq + 1,
                event_id,
                f"events {entry.from_seq + 1}..{entry.seq} do not match the segment root of checkpoint "
                f"{entry.checkpoint_id}",
                entry.checkpoint_id,
            )
        return None

    def finish_partition(self, partition: int, last_seq: int, last_hash: str) -> Any:
        from orchestrator.audit.chain import ChainBreak

        entries = self.entries.get(partition, [])
        pos = self._pos.get(partition, 0)
        if pos < len(entries):
            entry = entries[pos]
            return ChainBreak(
                partition,
                last_seq + 1,
                None,
                f"events up to seq {entry.seq} sealed by checkpoint {entry.checkpoint_id} are missing",
                entry.checkpoint_id,
            )
        return None
