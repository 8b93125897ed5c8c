"""RFC 6962 / RFC 9162 Merkle trees over SHA-256 (pure stdlib; the offline verifier repeats these rules).

leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the root of no leaves is
SHA-256(""). Checkpoints use them twice: over the partitions' head entries, and over the hashes of
each partition's events since the previous checkpoint (which gives short inclusion proofs).
"""

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


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


def verify_inclusion(data: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `data` sit at `index` of the tree of `size` leaves with this root?"""
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
