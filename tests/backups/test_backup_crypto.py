"""Backup encryption: what goes in comes out, and a wrong key or a file cut anywhere is refused."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.backup.crypto import MAGIC, BackupFileError, DecryptingReader, EncryptingWriter

RAW_KEY = "ab" * 32
RECORD = 64  # small records so that examples cross many record boundaries


def seal(data: bytes, secret: str | None, writes: list[int] | None = None) -> bytes:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, secret, record_size=RECORD)
    position = 0
    for size in writes or []:
        writer.write(data[position : position + size])
        position += size
    writer.write(data[position:])
    writer.close()
    return sink.getvalue()


def unseal(blob: bytes, secret: str | None, read_size: int = -1) -> bytes:
    reader = DecryptingReader(io.BytesIO(blob), secret, "backup.hdbackup")
    if read_size < 0:
        return reader.read()
    parts = []
    while chunk := reader.read(read_size):
        parts.append(chunk)
    return b"".join(parts)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=700),
    writes=st.lists(st.integers(0, 200), max_size=6),
    read_size=st.sampled_from([-1, 1, 7, 64, 65, 1000]),
    secret=st.sampled_from([None, RAW_KEY]),
)
def test_what_is_written_reads_back_whatever_the_chunking(data, writes, read_size, secret) -> None:
    assert unseal(seal(data, secret, writes), secret, read_size) == data


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=400), cut=st.integers(min_value=1))
def test_an_encrypted_file_cut_anywhere_is_refused(data, cut) -> None:
    blob = seal(data, RAW_KEY)
    truncated = blob[: len(blob) - 1 - cut % (len(blob) - 1)]  # drop 1..len-1 bytes from the end
    with pytest.raises(BackupFileError, match=r"truncated|not a hyperdash backup"):
        unseal(truncated, RAW_KEY)


@settings(max_examples=30, deadline=None)
@given(data=st.binary(min_size=1, max_size=300), position=st.integers(min_value=0))
def test_a_flipped_bit_in_an_encrypted_file_is_refused(data, position) -> None:
    blob = bytearray(seal(data, RAW_KEY))
    index = len(MAGIC) + 1 + position % (len(blob) - len(MAGIC) - 1)  # anywhere after the mode byte
    blob[index] ^= 0x01
    with pytest.raises(BackupFileError):
        unseal(bytes(blob), RAW_KEY)


def test_without_the_key_a_wrong_key_or_a_passphrase_the_errors_say_what_to_do() -> None:
    passphrase_blob = seal(b"secret rows", "correct horse battery staple")
    assert b"secret rows" not in passphrase_blob
    assert unseal(passphrase_blob, "correct horse battery staple") == b"secret rows"
    with pytest.raises(BackupFileError, match="is encrypted: set HYPERDASH_BACKUP_KEY"):
        unseal(passphrase_blob, None)
    with pytest.raises(BackupFileError, match="is not the key it was written with"):
        unseal(passphrase_blob, "wrong horse")
    with pytest.raises(BackupFileError, match="raw key: HYPERDASH_BACKUP_KEY must be its 64 hex"):
        unseal(seal(b"x", RAW_KEY), "a passphrase")
    with pytest.raises(BackupFileError, match="not a hyperdash backup file"):
        unseal(b"PGDMP custom dump", None)
