"""The Ed25519 key that signs audit checkpoints and export bundles.

Production sets HANDRAIL_AUDIT_SIGNING_KEY (base64 of the 32-byte raw private key). Without it, a
development key is generated once under HANDRAIL_AUDIT_KEY_DIR (mode 0600) and a warning says so.
"""

import base64
import hashlib
import logging
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[str, Ed25519PrivateKey] = {}
DEV_KEY_FILE = "audit-signing-ed25519.key"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _load_or_create_dev_key(directory: Path) -> Ed25519PrivateKey:
    path = directory / DEV_KEY_FILE
    if path.exists():
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip()))
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(raw).decode() + "\n")
    logger.warning(
        "HANDRAIL_AUDIT_SIGNING_KEY is unset: generated a DEVELOPMENT audit signing key at %s (key id %s). "
        "Set HANDRAIL_AUDIT_SIGNING_KEY in production.",
        path,
        key_id_of(key.public_key()),
    )
    return key


def signing_key() -> Ed25519PrivateKey:
    """The configured private key (cached per value of the setting)."""
    configured = settings.HANDRAIL_AUDIT_SIGNING_KEY
    cache_key = configured or f"dev:{settings.HANDRAIL_AUDIT_KEY_DIR}"
    with _lock:
        key = _cache.get(cache_key)
        if key is None:
            if configured:
                key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(configured))
            else:
                key = _load_or_create_dev_key(Path(settings.HANDRAIL_AUDIT_KEY_DIR))
            _cache[cache_key] = key
        return key


def public_key_pem() -> bytes:
    """The public half, as PEM: what an auditor needs to verify bundles offline."""
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def current_key_id() -> str:
    return key_id_of(signing_key().public_key())


def sign(message: bytes) -> str:
    """Base64 Ed25519 signature of `message`."""
    return base64.b64encode(signing_key().sign(message)).decode()


def verify_signature(message: bytes, signature_b64: str, public_key: Ed25519PublicKey | None = None) -> bool:
    key = public_key or signing_key().public_key()
    try:
        key.verify(base64.b64decode(signature_b64), message)
    except Exception:  # InvalidSignature, or a signature that is not even base64
        return False
    return True


def generate_private_key_b64() -> str:
    """A fresh key for HANDRAIL_AUDIT_SIGNING_KEY."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()
