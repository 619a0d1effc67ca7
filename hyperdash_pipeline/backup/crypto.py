"""Backup file encryption: AES-256-GCM in 1 MiB records, keyed by `HYPERDASH_BACKUP_KEY`.

Library: `cryptography` (the Python Cryptographic Authority's package, OpenSSL underneath, audited,
already installed with Dagster's dependencies); only its AEAD and KDF primitives are used, nothing hand-made
but the record framing. The key is either 64 hex characters (a raw 256-bit key) or a passphrase stretched
with scrypt (n=2**15, r=8, p=1, a random 16-byte salt per file).

Framing (the "STREAM" construction): each record is `4-byte length || AES-GCM(ciphertext+tag)` with the nonce
`7-byte random file prefix || 4-byte record counter || 1-byte last-record flag` and the file header as
associated data. Reordered, dropped or altered records, a wrong key and a file cut short (no record carries
the last flag) are all detected before anything is restored.
"""

from __future__ import annotations

import os
import re
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_VAR = "HYPERDASH_BACKUP_KEY"
RECORD_SIZE = 1 << 20
MAGIC = b"HDBACKUP1\n"
MODE_PLAIN, MODE_PASSPHRASE, MODE_RAW_KEY = 0, 1, 2
_SALT_BYTES, _PREFIX_BYTES, _TAG_BYTES = 16, 7, 16
_RAW_KEY = re.compile(r"[0-9a-fA-F]{64}")


class BackupFileError(RuntimeError):
    """A backup file cannot be read: not a backup, truncated, altered, or the key is missing or wrong."""


def key_from_environment() -> str | None:
    return os.environ.get(KEY_VAR) or None


def _derive(secret: str, mode: int, salt: bytes) -> bytes:
    if mode == MODE_RAW_KEY:
        return bytes.fromhex(secret)
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(secret.encode())


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", counter, last)


class EncryptingWriter:
    """A write-only file object: plain bytes in, the backup file's header and records out."""

    def __init__(self, sink: BinaryIO, secret: str | None, record_size: int = RECORD_SIZE) -> None:
        self._sink, self._record_size = sink, record_size
        self._buffer = bytearray()
        self._counter = 0
        if secret is None:
            self._aead: AESGCM | None = None
            self.header = MAGIC + bytes([MODE_PLAIN])
        else:
            mode = MODE_RAW_KEY if _RAW_KEY.fullmatch(secret) else MODE_PASSPHRASE
            salt, self._prefix = os.urandom(_SALT_BYTES), os.urandom(_PREFIX_BYTES)
            self.header = MAGIC + bytes([mode]) + salt + self._prefix
            self._aead = AESGCM(_derive(secret, mode, salt))
        sink.write(self.header)

    def write(self, data: bytes) -> int:
        if self._aead is None:
            self._sink.write(data)
            return len(data)
        self._buffer += data
        while len(self._buffer) > self._record_size:  # keep at least one byte back for the last record
            self._emit(bytes(self._buffer[: self._record_size]), last=False)
            del self._buffer[: self._record_size]
        return len(data)

    def _emit(self, plain: bytes, last: bool) -> None:
        assert self._aead is not None
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), plain, self.header)
        self._sink.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        """Seal the last record (possibly empty): without it a reader reports the file as truncated."""
        if self._aead is not None:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()


class DecryptingReader:
    """A read-only file object over a backup file: checks the header, yields the plain bytes."""

    def __init__(self, source: BinaryIO, secret: str | None, name: str) -> None:
        self._source, self._name = source, name
        magic = source.read(len(MAGIC) + 1)
        if len(magic) < len(MAGIC) + 1 or magic[: len(MAGIC)] != MAGIC:
            raise BackupFileError(f"{name} is not a hyperdash backup file (no {MAGIC!r} header)")
        mode = magic[-1]
        self.encrypted = mode != MODE_PLAIN
        self._buffer = b""
        self._finished = not self.encrypted
        if not self.encrypted:
            return
        if mode not in (MODE_PASSPHRASE, MODE_RAW_KEY):
            raise BackupFileError(f"{name} has an unknown encryption mode {mode}: written by a newer hyperdash?")
        salt, self._prefix = source.read(_SALT_BYTES), source.read(_PREFIX_BYTES)
        if len(self._prefix) < _PREFIX_BYTES:
            raise BackupFileError(f"{name} is truncated (its header is incomplete)")
        if secret is None:
            raise BackupFileError(f"{name} is encrypted: set {KEY_VAR} to the key it was written with")
        if mode == MODE_RAW_KEY and not _RAW_KEY.fullmatch(secret):
            raise BackupFileError(f"{name} was encrypted with a raw key: {KEY_VAR} must be its 64 hex characters")
        self._header = magic + salt + self._prefix
        self._aead = AESGCM(_derive(secret, mode, salt))
        self._counter = 0

    def read(self, size: int = -1) -> bytes:
        if not self.encrypted:
            return self._source.read(size)
        while not self._finished and (size < 0 or len(self._buffer) < size):
            self._buffer += self._next_record()
        if size < 0:
            size = len(self._buffer)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk

    def _next_record(self) -> bytes:
        length_bytes = self._source.read(4)
        if len(length_bytes) < 4:
            raise BackupFileError(f"{self._name} is truncated: it ends before its last record (copy it again)")
        (length,) = struct.unpack(">I", length_bytes)
        sealed = self._source.read(length)
        if len(sealed) < length or length < _TAG_BYTES:
            raise BackupFileError(f"{self._name} is truncated inside record {self._counter} (copy it again)")
        for last in (False, True):
            try:
                plain = self._aead.decrypt(_nonce(self._prefix, self._counter, last), sealed, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            self._finished = last
            return plain
        if self._counter == 0:
            raise BackupFileError(f"{self._name} cannot be decrypted: {KEY_VAR} is not the key it was written with")
        raise BackupFileError(f"{self._name} is corrupt: record {self._counter} fails authentication")
