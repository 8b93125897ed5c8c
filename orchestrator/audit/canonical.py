"""Canonical JSON for hashing: sorted keys, no insignificant whitespace, UTF-8 (RFC 8785 style).

Pure stdlib so the offline verifier can share the exact rules.
"""

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def link_hash(prev_hash: str, body: bytes) -> str:
    """The hash of one chain link: SHA-256 over the previous hash, a newline and the canonical body."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()
