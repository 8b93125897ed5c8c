"""RFC 6962 / RFC 9162 Merkle trees over SHA-256; the hash rules and proof check come from the offline
verifier (orchestrator/audit/verify_bundle.py), so both sides use one definition.

leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the root of no leaves is
SHA-256(""). Checkpoints use them twice: over the partitions' head entries, and over the hashes of
each partition's events since the previous checkpoint (which gives short inclusion proofs).
"""

import hashlib
from collections.abc import Iterable, Sequence

from orchestrator.audit.verify_bundle import leaf_hash, node_hash, verify_inclusion

EMPTY_ROOT = hashlib.sha256(b"").digest()


class MerkleStream:
    """The root of a tree fed one leaf at a time, in O(log n) memory."""

    __slots__ = ("_stack", "count")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.count = 0

    def add_leaf(self, data: bytes) -> None:
        size, digest = 1, leaf_hash(data)
        stack = self._stack
        while stack and stack[-1][0] == size:
            _, left = stack.pop()
            digest = node_hash(left, digest)
            size *= 2
        stack.append((size, digest))
        self.count += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    stream = MerkleStream()
    for data in leaves:
        stream.add_leaf(data)
    return stream.root()


class MerkleTree:
    """A whole tree in memory, for inclusion proofs of many leaves (RFC 9162 audit paths)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = [leaf_hash(data) for data in leaves]
        self.size = len(level)
        self.levels = [level]
        while len(level) > 1:
            nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])  # an odd last node moves up unchanged (same root as RFC 6962)
            self.levels.append(nxt)
            level = nxt

    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def path(self, index: int) -> list[bytes]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        out = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out


__all__ = ["EMPTY_ROOT", "MerkleStream", "MerkleTree", "leaf_hash", "merkle_root", "node_hash", "verify_inclusion"]
