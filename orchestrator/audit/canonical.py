"""Canonical JSON for hashing: sorted keys, no insignificant whitespace, UTF-8 (RFC 8785 style).

The rules live once, in the standalone offline verifier (stdlib + cryptography), so what Handrail
writes and what a regulator's copy of the verifier checks cannot drift apart.
"""

from orchestrator.audit.verify_bundle import GENESIS, canonical_bytes, link_hash

__all__ = ["GENESIS", "canonical_bytes", "link_hash"]
