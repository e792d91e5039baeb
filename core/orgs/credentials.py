"""Provider credentials at rest: AES-256-GCM (cryptography), the org and provider bound in as associated data,
so a ciphertext copied to another org's or provider's row does not decrypt."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.config import Settings
from core.errors import InvalidInput

NONCE_BYTES = 12


def load_key(settings: Settings) -> bytes:
    """TOKENTRA_SECRET_KEY (base64 of 32 bytes), else a key file created once under TOKENTRA_HOME (mode 0600)."""
    if settings.secret_key:
        key = base64.b64decode(settings.secret_key)
        if len(key) != 32:
            raise InvalidInput("TOKENTRA_SECRET_KEY must be the base64 encoding of 32 random bytes")
        return key
    path = Path(settings.home) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(AESGCM.generate_key(bit_length=256))
    return path.read_bytes()


def _context(org_id: uuid.UUID, provider: str) -> bytes:
    return f"{org_id}:{provider}".encode()


def encrypt(key: bytes, *, org_id: uuid.UUID, provider: str, credentials: dict[str, Any]) -> tuple[bytes, bytes]:
    """(ciphertext, nonce) of the credentials; a fresh random nonce every time."""
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(credentials, sort_keys=True).encode()
    return AESGCM(key).encrypt(nonce, plaintext, _context(org_id, provider)), nonce


def decrypt(key: bytes, *, org_id: uuid.UUID, provider: str, ciphertext: bytes, nonce: bytes) -> dict[str, Any]:
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, _context(org_id, provider))
    except InvalidTag as exc:
        raise InvalidInput("stored credentials do not decrypt with this key, org and provider") from exc
    data: dict[str, Any] = json.loads(plaintext)
    return data
