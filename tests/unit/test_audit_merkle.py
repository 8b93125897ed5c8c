"""Merkle trees (RFC 6962 shape) and the offline verifier's copies of the hashing rules."""

import hashlib

import pytest

from orchestrator.audit import verify_bundle
from orchestrator.audit.canonical import GENESIS, canonical_bytes, link_hash
from orchestrator.audit.merkle import MerkleStream, MerkleTree, leaf_hash, merkle_root, node_hash, verify_inclusion


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written recursively: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33])
def test_stream_tree_and_reference_agree(n):
    leaves = [bytes([i]) * 32 for i in range(n)]
    expected = _reference_root(leaves)
    stream = MerkleStream()
    for leaf in leaves:
        stream.add_leaf(leaf)
    assert stream.root() == expected == MerkleTree(leaves).root() == merkle_root(leaves)
    assert verify_bundle.merkle_root(leaves) == expected


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 8, 13, 32, 37])
def test_every_inclusion_proof_verifies_and_a_wrong_one_does_not(n):
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
    tree = MerkleTree(leaves)
    for index, leaf in enumerate(leaves):
        path = tree.path(index)
        assert verify_inclusion(leaf, index, n, path, tree.root())
        assert verify_bundle.verify_inclusion(leaf, index, n, path, tree.root())
        assert not verify_inclusion(b"\x00" * 32, index, n, path, tree.root())
        if n > 1:
            assert not verify_inclusion(leaf, (index + 1) % n, n, path, tree.root())


def test_the_verifier_hashes_links_like_the_trail():
    body = canonical_bytes({"kind": "x", "data": {"é": [1, 2]}})
    assert verify_bundle.canonical_bytes({"data": {"é": [1, 2]}, "kind": "x"}) == body
    assert verify_bundle.link_hash(GENESIS, body) == link_hash(GENESIS, body)
