"""Webhook signing secrets encrypted at rest with AES-256-GCM (docs/security.md#secrets-at-rest).

HMAC verification needs the secret itself, so it cannot be hashed; it is encrypted instead, with a key
that lives outside the database: `HYPERDASH_SECRET_KEY` (or, when unset, a key file under
HYPERDASH_HOME made on first use, mode 0600). A CRM dump then holds only ciphertext.

Stored form: b"hdk1" + key id (8 bytes, SHA-256 prefix of the key) + nonce (12) + ciphertext + tag.
The organization id is the associated data, so a ciphertext copied onto another organization's row
does not decrypt. Rotation: put the new key first and the old ones after it (comma-separated), run
`hyperdash webhook-reencrypt`, then drop the old keys. Rows written before encryption existed (raw
`whsec_` bytes) still verify until re-encrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hyperdash_pipeline.settings import hyperdash_home

SECRET_KEY_VAR = "HYPERDASH_SECRET_KEY"
KEY_FILE = "secret.key"
_MAGIC = b"hdk1"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12


class SecretKeyError(ValueError):
    """The key setting is malformed, or no configured key opens a stored secret; the message says which."""


def new_key() -> str:
    """A fresh key as HYPERDASH_SECRET_KEY takes it: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raise SecretKeyError(
            f"{SECRET_KEY_VAR}: a key is not URL-safe base64 (make one: hyperdash webhook-key)"
        ) from None
    if len(key) != 32:
        raise SecretKeyError(f"{SECRET_KEY_VAR}: a key must be 32 bytes (base64 of 32 random bytes), not {len(key)}")
    return key


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:_KEY_ID_BYTES]


@dataclass(frozen=True)
class Keyring:
    """The current key (encrypts) and older ones (still decrypt during a rotation)."""

    keys: tuple[bytes, ...]

    @classmethod
    def parse(cls, setting: str) -> Keyring:
        texts = [part for part in setting.split(",") if part.strip()]
        if not texts:
            raise SecretKeyError(f"{SECRET_KEY_VAR} is empty")
        return cls(tuple(_decode_key(text) for text in texts))

    @classmethod
    def from_env(cls) -> Keyring:
        """HYPERDASH_SECRET_KEY, else the key file under HYPERDASH_HOME (created, 0600, on first use)."""
        setting = os.environ.get(SECRET_KEY_VAR)
        if setting:
            return cls.parse(setting)
        path = hyperdash_home() / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(new_key() + "\n")
        return cls.parse(Path(path).read_text())

    def encrypt(self, organization_id: uuid.UUID, secret: bytes) -> bytes:
        key = self.keys[0]
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _MAGIC + _key_id(key) + nonce + AESGCM(key).encrypt(nonce, secret, organization_id.bytes)

    def decrypt(self, organization_id: uuid.UUID, stored: bytes) -> bytes:
        if not stored.startswith(_MAGIC):
            return stored  # written before encryption: re-encrypt with `hyperdash webhook-reencrypt`
        key_id = stored[len(_MAGIC) : len(_MAGIC) + _KEY_ID_BYTES]
        nonce_at = len(_MAGIC) + _KEY_ID_BYTES
        nonce, sealed = stored[nonce_at : nonce_at + _NONCE_BYTES], stored[nonce_at + _NONCE_BYTES :]
        for key in self.keys:
            if _key_id(key) == key_id:
                try:
                    return AESGCM(key).decrypt(nonce, sealed, organization_id.bytes)
                except InvalidTag:
                    break
        raise SecretKeyError(
            f"the webhook secret of organization {organization_id} does not open with any key in {SECRET_KEY_VAR}"
        )

    def is_current(self, stored: bytes) -> bool:
        return stored.startswith(_MAGIC + _key_id(self.keys[0]))
