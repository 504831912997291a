"""Ed25519 signatures of events and log checkpoints, and hashed API keys.

Ed25519 (RFC 8032) through ``cryptography``. API keys are 32 random bytes
(``secrets.token_urlsafe``) shown once; the store keeps only their SHA-256,
which is enough for high-entropy secrets (OWASP API key guidance), and
compares digests with :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

API_KEY_PREFIX = "nsk"


@dataclass(frozen=True)
class KeyPair:
    """Raw 32-byte Ed25519 private and public keys."""

    private: bytes
    public: bytes


def new_keypair() -> KeyPair:
    key = Ed25519PrivateKey.generate()
    return KeyPair(
        private=key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        public=key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )


def sign(private: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private).sign(message)


def verify_signature(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def new_api_key() -> tuple[str, str, str]:
    """``(key, key_id, key_hash)``: the secret shown once, its public id and the stored digest."""
    key_id = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(key: str) -> str | None:
    """The public id embedded in a key, or ``None`` when the key is not of our shape."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def digests_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
