"""Ed25519 keys (RFC 8032) through ``cryptography``: generate, serialise, sign, verify.

Private keys are stored as PKCS#8 PEM files readable by the owner only; public keys travel
as 32 raw bytes, in JSON as unpadded base64url.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.errors import CampusPassError, SignatureError

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "b64u_decode",
    "b64u_encode",
    "generate_key",
    "load_private_key",
    "private_key_from_seed",
    "public_key_bytes",
    "public_key_from_bytes",
    "save_private_key",
    "sign",
    "verify",
]


def b64u_encode(data: bytes) -> str:
    """Unpadded base64url text (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode unpadded or padded base64url text.

    Raises:
        CampusPassError: code ``bad_base64`` when the text is not base64url.
    """
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise CampusPassError(f"{text[:40]!r} is not base64url", code="bad_base64") from exc


def generate_key() -> Ed25519PrivateKey:
    """A fresh random Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key for a 32-byte seed (RFC 8032 §5.1.5); used for test vectors."""
    if len(seed) != 32:
        raise ValueError(f"Ed25519 seed is {len(seed)} bytes; expected 32")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of the public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    """Load a public key from 32 raw bytes.

    Raises:
        CampusPassError: code ``bad_key`` when ``raw`` is not 32 bytes.
    """
    if len(raw) != 32:
        raise CampusPassError(f"Ed25519 public key is {len(raw)} bytes; expected 32", code="bad_key")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """64-byte Ed25519 signature of ``message``."""
    return key.sign(message)


def verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """Check an Ed25519 signature.

    Raises:
        SignatureError: the signature does not verify.
    """
    try:
        key.verify(signature, message)
    except InvalidSignature as exc:
        raise SignatureError("Ed25519 signature does not verify") from exc


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write ``key`` as PKCS#8 PEM to a new file with mode 0600.

    Raises:
        FileExistsError: the file exists (keys are never overwritten silently).
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key.

    Raises:
        CampusPassError: code ``bad_key`` when the file is not an Ed25519 private key.
    """
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise CampusPassError(f"{path.name} is not a PEM private key", code="bad_key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CampusPassError(f"{path.name} holds a {type(key).__name__}; expected Ed25519", code="bad_key")
    return key
