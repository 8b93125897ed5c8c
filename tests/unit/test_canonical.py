from orchestrator.audit.canonical import GENESIS, canonical_bytes, link_hash


def test_canonical_json_ignores_key_order_and_whitespace():
    assert canonical_bytes({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == canonical_bytes(
        {"a": [1, {"c": "é", "d": 2}], "b": 1}
    )
    assert canonical_bytes({"a": "é"}) == '{"a":"é"}'.encode()


def test_link_hash_depends_on_previous_link_and_every_byte():
    body = canonical_bytes({"kind": "x", "seq": 1})
    first = link_hash(GENESIS, body)
    assert len(first) == 64
    assert link_hash(first, body) != first
    assert link_hash(GENESIS, body.replace(b"1", b"2")) != first
