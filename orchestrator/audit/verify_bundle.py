#!/usr/bin/env python3
"""Verify a Handrail audit export bundle offline, with only the signer's public key.

    python verify_bundle.py BUNDLE(.zip or directory) --public-key KEY.pem

Standalone on purpose: Python's standard library plus the `cryptography` package, nothing from
Handrail or Django, so an auditor can read every line of it. It checks, and exits 1 naming the first
failure otherwise:

1. manifest.sig is a valid Ed25519 signature of manifest.json under the given key;
2. every file's size and SHA-256 match the manifest (events.jsonl, events.csv, proofs.jsonl);
3. every covering checkpoint is signed by the key, hashes to its name and has a consistent heads root;
4. every event's hash is SHA-256(prev_hash, "\\n", body) over the exact bytes, runs of consecutive seq
   link to each other, and each run's last event has a Merkle inclusion proof into a checkpoint;
5. every event matches the manifest's filters; events.csv lists the same events (id, hash);
6. for a zip, the container itself is in the canonical layout Handrail writes (no byte outside it).
"""

import argparse
import base64
import csv
import hashlib
import io
import json
import struct
import sys
import zipfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "handrail-audit-bundle"
VERSION = 1
MEMBERS = ("manifest.json", "manifest.sig", "events.jsonl", "events.csv", "proofs.jsonl", "public_key.pem")
HASHED = ("events.jsonl", "events.csv", "proofs.jsonl")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
GENESIS = "0" * 64
LINE_PREFIX = b'{"prev_hash":"'


class BundleError(Exception):
    """The bundle does not verify; the message says where."""


# --- the rules shared with Handrail (orchestrator/audit/canonical.py, merkle.py) -------------------


def canonical_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def link_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body).hexdigest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    level = [leaf_hash(x) for x in leaves]
    if not level:
        return hashlib.sha256(b"").digest()
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def verify_inclusion(data: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, digest = index, size - 1, leaf_hash(data)
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and digest == root


# --- reading a bundle -------------------------------------------------------------------------------


class Bundle:
    """The members of a bundle, from a directory or a zip (checked for Handrail's canonical layout)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.is_dir():
            names = sorted(p.name for p in path.iterdir())
            if names != sorted(MEMBERS):
                raise BundleError(f"bundle directory must hold exactly {', '.join(MEMBERS)}; found {', '.join(names)}")
        else:
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise BundleError(f"not a readable zip: {exc}") from exc
            self._check_zip_layout()

    def _check_zip_layout(self) -> None:
        assert self.zip is not None
        infos = self.zip.infolist()
        if [i.filename for i in infos] != list(MEMBERS):
            raise BundleError("zip members differ from a Handrail bundle's")
        if self.zip.comment:
            raise BundleError("zip has a comment")
        raw = self.path.read_bytes() if self.path.stat().st_size < (1 << 26) else None
        offset = 0
        with open(self.path, "rb") as handle:
            for info in infos:
                expected = (ZIP_TIME, zipfile.ZIP_STORED, 3, 0o100644 << 16, 0, 0, b"", b"")
                actual = (
                    info.date_time,
                    info.compress_type,
                    info.create_system,
                    info.external_attr,
                    info.internal_attr,
                    info.flag_bits,
                    info.extra,
                    info.comment,
                )
                if actual != expected:
                    raise BundleError(f"zip entry {info.filename} has altered attributes")
                if info.header_offset != offset:
                    raise BundleError(f"zip entry {info.filename} is not where the layout puts it")
                header = info.FileHeader()
                handle.seek(offset)
                if handle.read(len(header)) != header:
                    raise BundleError(f"zip local header of {info.filename} is altered")
                offset += len(header) + info.compress_size
            central = self.zip.start_dir
            if central != offset:
                raise BundleError("zip has bytes between its entries and its directory")
            handle.seek(0, 2)
            end = handle.tell()
        directory = sum(46 + len(i.filename.encode()) for i in infos)
        if end != central + directory + 22:
            raise BundleError("zip has bytes outside its entries and directory")
        if raw is not None:
            # the central directory entries must be exactly what the local headers imply
            pos = central
            for info in infos:
                entry = raw[pos : pos + 46 + len(info.filename.encode())]
                fields = struct.unpack("<4s6H3L5H2L", entry[:46])
                expected_fields = (
                    b"PK\x01\x02",
                    max(20, info.extract_version) | (3 << 8),  # what zipfile writes as "made by"
                    info.extract_version,
                    0,
                    0,
                    (0 << 11) | (0 << 5) | 0,
                    (0 << 9) | (1 << 5) | 1,
                    info.CRC,
                    info.compress_size,
                    info.file_size,
                    len(info.filename.encode()),
                    0,
                    0,
                    0,
                    0,
                    0o100644 << 16,
                    info.header_offset,
                )
                if fields != expected_fields or entry[46:] != info.filename.encode():
                    raise BundleError(f"zip directory entry of {info.filename} is altered")
                pos += len(entry)
            eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(infos), len(infos), directory, central, 0)
            if raw[pos:] != eocd:
                raise BundleError("zip end record is altered")

    def open(self, name: str) -> IO[bytes]:
        if self.zip is not None:
            try:
                return self.zip.open(name)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise BundleError(f"cannot read {name}: {exc}") from exc
        return open(self.path / name, "rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            try:
                return handle.read()
            except (zipfile.BadZipFile, OSError) as exc:
                raise BundleError(f"cannot read {name}: {exc}") from exc


def _load_public_key(path: Path) -> tuple[Ed25519PublicKey, bytes]:
    data = path.read_bytes()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(), validate=True))
    except ValueError as exc:
        raise BundleError(f"cannot read the public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError("the public key is not an Ed25519 key")
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem


def _key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _check_signature(key: Ed25519PublicKey, message: bytes, signature_b64: str, what: str) -> None:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError) as exc:
        raise BundleError(f"{what}: signature is not valid for this public key") from exc


def _sha256_of(handle: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _matches(body: dict[str, Any], filters: dict[str, Any]) -> str | None:
    """The first filter the event does not satisfy, or None."""
    when = _parse_time(body["occurred_at"])
    if "since" in filters and when < _parse_time(filters["since"]):
        return "since"
    if "until" in filters and when >= _parse_time(filters["until"]):
        return "until"
    for key in ("flow", "actor", "queue", "kind", "outcome"):
        if key in filters and body.get(key) != filters[key]:
            return key
    if "decision_id" in filters and body.get("decision_id") != str(filters["decision_id"]):
        return "decision_id"
    for key, holder in (("policy_version", "policy"), ("model_version", "model")):
        if key in filters:
            value = (body.get("data") or {}).get(holder, {})
            version = value.get("version") if isinstance(value, dict) else None
            if version is None or str(version) != filters[key]:
                return key
    return None


def _events(bundle: Bundle) -> Iterator[tuple[int, str, str, bytes]]:
    with bundle.open("events.jsonl") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"}\n") or not line.startswith(LINE_PREFIX):
                raise BundleError(f"events.jsonl line {number} is malformed")
            prev_hash = line[14:78].decode("ascii", "replace")
            if line[78:88] != b'","hash":"' or line[152:161] != b'","body":':
                raise BundleError(f"events.jsonl line {number} is malformed")
            yield number, prev_hash, line[88:152].decode("ascii", "replace"), line[161:-2]


def verify(bundle_path: Path, public_key_path: Path) -> dict[str, Any]:
    """Verify the bundle; return a summary, or raise BundleError naming the first failure."""
    try:
        return _verify(bundle_path, public_key_path)
    except zipfile.BadZipFile as exc:
        raise BundleError(f"zip is damaged: {exc}") from exc
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise BundleError(f"the bundle is malformed ({type(exc).__name__}: {exc})") from exc


def _verify(bundle_path: Path, public_key_path: Path) -> dict[str, Any]:
    key, pem = _load_public_key(public_key_path)
    bundle = Bundle(bundle_path)
    manifest_bytes = bundle.read("manifest.json")
    signature = bundle.read("manifest.sig")
    if not signature.endswith(b"\n") or signature.count(b"\n") != 1:
        raise BundleError("manifest.sig is malformed")
    _check_signature(key, manifest_bytes, signature[:-1].decode("ascii", "replace"), "manifest.json")
    if bundle.read("public_key.pem") != pem:
        raise BundleError("public_key.pem in the bundle is not the key you trust (or was altered)")
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as exc:
        raise BundleError("manifest.json is not JSON") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BundleError("not a Handrail audit bundle (format/version)")
    for name in HASHED:
        with bundle.open(name) as handle:
            digest, size = _sha256_of(handle)
        spec = manifest["files"][name]
        if digest != spec["sha256"] or size != spec["bytes"]:
            raise BundleError(f"{name}: SHA-256 or size differs from the manifest")

    # checkpoints: signed, named by their hash, heads root consistent; index their segments
    segments: dict[tuple[str, int], tuple[int, int, bytes]] = {}
    for ck in manifest["checkpoints"]:
        raw = ck["statement"].encode()
        if hashlib.sha256(raw).hexdigest() != ck["hash"]:
            raise BundleError(f"checkpoint {ck['hash'][:16]}: statement does not match its hash")
        _check_signature(key, raw, ck["signature"], f"checkpoint {ck['hash'][:16]}")
        statement = json.loads(raw)
        heads = statement["heads"]
        if merkle_root([canonical_bytes(h) for h in heads]).hex() != statement["heads_root"]:
            raise BundleError(f"checkpoint {ck['hash'][:16]}: heads root does not match its heads")
        for head in heads:
            root = bytes.fromhex(head["segment_root"])
            segments[(ck["hash"], int(head["partition"]))] = (int(head["from_seq"]), int(head["seq"]), root)

    # proofs, in the same order as the runs of events.jsonl
    proofs: list[dict[str, Any]] = []
    with bundle.open("proofs.jsonl") as handle:
        for line in handle:
            proofs.append(json.loads(line))
    filters = manifest.get("filters", {})
    count, run_index = 0, -1
    last: tuple[int, int, str] | None = None  # partition, seq, hash of the previous event
    csv_rows = _csv_rows(bundle)
    pending_proof: dict[str, Any] | None = None

    def close_run(partition: int, seq: int, hash_: str) -> None:
        assert pending_proof is not None
        if (pending_proof["partition"], pending_proof["last_seq"]) != (partition, seq):
            raise BundleError(f"proof for partition {partition} run ends at the wrong event (seq {seq})")
        segment = segments.get((pending_proof["checkpoint"], partition))
        if segment is None:
            raise BundleError(f"proof for partition {partition} seq {seq} names a checkpoint not in the bundle")
        from_seq, to_seq, root = segment
        if not (from_seq < seq <= to_seq) or pending_proof["leaf_index"] != seq - from_seq - 1:
            raise BundleError(f"proof for partition {partition} seq {seq} does not fit its checkpoint segment")
        path = [bytes.fromhex(p) for p in pending_proof["path"]]
        if pending_proof["tree_size"] != to_seq - from_seq or not verify_inclusion(
            bytes.fromhex(hash_), seq - from_seq - 1, to_seq - from_seq, path, root
        ):
            raise BundleError(f"event partition {partition} seq {seq} is not included in its signed checkpoint")

    for number, prev_hash, hash_, body_bytes in _events(bundle):
        count += 1
        if link_hash(prev_hash, body_bytes) != hash_:
            raise BundleError(f"events.jsonl line {number}: content does not match its hash")
        try:
            body = json.loads(body_bytes)
        except ValueError as exc:
            raise BundleError(f"events.jsonl line {number}: body is not JSON") from exc
        if canonical_bytes(body) != body_bytes:
            raise BundleError(f"events.jsonl line {number}: body is not in canonical form")
        partition, seq = int(body["partition"]), int(body["seq"])
        continues = last is not None and last[0] == partition and last[1] + 1 == seq
        if continues:
            assert last is not None
            if prev_hash != last[2]:
                raise BundleError(f"events.jsonl line {number}: does not link to the previous event")
        else:
            if last is not None and (partition, seq) <= (last[0], last[1]):
                raise BundleError(f"events.jsonl line {number}: out of chain order")
            if last is not None:
                close_run(*last)
            run_index += 1
            if run_index >= len(proofs):
                raise BundleError(f"events.jsonl line {number}: no inclusion proof for this run")
            pending_proof = proofs[run_index]
            if (pending_proof["partition"], pending_proof["first_seq"]) != (partition, seq):
                raise BundleError(f"events.jsonl line {number}: proofs.jsonl does not match the runs")
        failed = _matches(body, filters)
        if failed:
            raise BundleError(f"events.jsonl line {number}: outside the export's filter {failed!r}")
        row = next(csv_rows, None)
        if row is None or (row["partition"], row["seq"], row["hash"]) != (str(partition), str(seq), hash_):
            raise BundleError(f"events.csv row {number} does not list the same event as events.jsonl")
        last = (partition, seq, hash_)
    if last is not None:
        close_run(*last)
    if run_index + 1 != len(proofs):
        raise BundleError("proofs.jsonl has proofs for runs that are not in events.jsonl")
    if next(csv_rows, None) is not None:
        raise BundleError("events.csv has more rows than events.jsonl")
    if count != manifest["counts"]["events"]:
        raise BundleError(f"manifest counts {manifest['counts']['events']} events, the bundle holds {count}")
    return {"events": count, "runs": len(proofs), "checkpoints": len(manifest["checkpoints"]), "key_id": _key_id(key)}


def _csv_rows(bundle: Bundle) -> Iterator[dict[str, str]]:
    with bundle.open("events.csv") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        try:
            yield from csv.DictReader(text)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise BundleError(f"events.csv is not readable CSV: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="the bundle: a .zip or its unpacked directory")
    parser.add_argument("--public-key", type=Path, required=True, help="the signer's Ed25519 public key (PEM)")
    args = parser.parse_args(argv)
    try:
        summary = verify(args.bundle, args.public_key)
    except BundleError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(
        f"bundle verified: {summary['events']} events in {summary['runs']} runs, "
        f"{summary['checkpoints']} signed checkpoints, key {summary['key_id']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
