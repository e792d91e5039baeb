"""AES-GCM credentials: round trip, fresh nonces, and binding to org and provider."""

from __future__ import annotations

import base64
import os
import stat
import uuid
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import InvalidInput
from core.orgs.credentials import decrypt, encrypt, load_key

ORG = uuid.uuid4()
SECRET = {"api_key": "sk-test-123", "admin": True}


def test_round_trip_and_fresh_nonce() -> None:
    key = os.urandom(32)
    first = encrypt(key, org_id=ORG, provider="openai", credentials=SECRET)
    second = encrypt(key, org_id=ORG, provider="openai", credentials=SECRET)
    assert first[1] != second[1]
    assert first[0] != second[0]
    assert b"sk-test-123" not in first[0]
    assert decrypt(key, org_id=ORG, provider="openai", ciphertext=first[0], nonce=first[1]) == SECRET


@pytest.mark.parametrize(("org", "provider"), [(uuid.uuid4(), "openai"), (ORG, "anthropic")])
def test_ciphertext_is_bound_to_org_and_provider(org: uuid.UUID, provider: str) -> None:
    key = os.urandom(32)
    ciphertext, nonce = encrypt(key, org_id=ORG, provider="openai", credentials=SECRET)
    with pytest.raises(InvalidInput):
        decrypt(key, org_id=org, provider=provider, ciphertext=ciphertext, nonce=nonce)


def test_wrong_key_fails() -> None:
    ciphertext, nonce = encrypt(os.urandom(32), org_id=ORG, provider="openai", credentials=SECRET)
    with pytest.raises(InvalidInput):
        decrypt(os.urandom(32), org_id=ORG, provider="openai", ciphertext=ciphertext, nonce=nonce)


def test_key_file_is_created_once_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    key = load_key(settings)
    assert len(key) == 32
    assert load_key(settings) == key
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_configured_key_must_be_32_bytes(tmp_path: Path) -> None:
    good = base64.b64encode(b"k" * 32).decode()
    assert load_key(Settings(home=tmp_path, secret_key=good)) == b"k" * 32
    with pytest.raises(InvalidInput):
        load_key(Settings(home=tmp_path, secret_key=base64.b64encode(b"short").decode()))
