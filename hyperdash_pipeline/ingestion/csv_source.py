"""Reading an export file as CSV records without holding it in memory, whatever bytes it contains.

The file is read in chunks under a size cap. Bytes its encoding cannot decode, and lines longer than
any real export's, do not stop the read: they are marked in the text (with a lone surrogate, which no
decoder produces) so that the record holding them is quarantined and the others still load.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
MAX_LINE_CHARS = 131_072  # csv's own field limit: no export line comes near it
UNDECODABLE = "\udc00"  # stands in for bytes the file's encoding cannot decode
OVERLONG_LINE = "\udc01"  # stands in for a line over MAX_LINE_CHARS
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" makes of a byte that is not UTF-8
_MULTIBYTE = re.compile("[\u0080-\ud7ff\ue000-\U0010ffff]")
_CHUNK = 1 << 20


class CsvFormatError(ValueError):
    """The file is not a report this importer knows; the message says what was expected."""


class CsvTooLarge(CsvFormatError):
    """The file is over the import's size cap."""


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return UNDECODABLE, exc.end
    raise exc


codecs.register_error("hyperdash-mark", _mark_undecodable)


def has_marker(text: str) -> bool:
    """Does `text` hold an undecodable byte or an over-long line (or any other lone surrogate)?"""
    return _SURROGATE.search(text) is not None


def human_size(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + " " + unit
    return f"{size} bytes"


def size_limit_message(name: str, size: int, max_bytes: int) -> str:
    return (
        f"{name} is over the {human_size(max_bytes)} import limit (at least {human_size(size)}): export a shorter "
        "date range, or raise the limit with --max-size (e.g. --max-size 2GiB)"
    )


class _CappedFile(io.RawIOBase):
    """A binary file that raises CsvTooLarge once more than `cap` bytes have been read from it."""

    def __init__(self, handle: IO[bytes], cap: int, name: str) -> None:
        super().__init__()
        self._handle, self._cap, self._name, self._read = handle, cap, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        self._read += len(data)
        if self._read > self._cap:
            raise CsvTooLarge(size_limit_message(self._name, self._read, self._cap))
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


def open_capped(path: Path, max_bytes: int) -> io.BufferedReader:
    """`path` for reading in binary, refused up front when its size is known to be over `max_bytes`."""
    size = path.stat().st_size
    if size > max_bytes:
        raise CsvTooLarge(size_limit_message(path.name, size, max_bytes))
    return io.BufferedReader(_CappedFile(path.open("rb"), max_bytes, path.name))


def sniff_encoding(path: Path, max_bytes: int) -> str:
    """utf-16 when the file starts with its BOM; cp1252 for a legacy 8-bit export (not UTF-8 and without
    a single UTF-8 multi-byte character); else utf-8-sig. A UTF-8 file with a few damaged bytes stays
    UTF-8: only the records holding them are quarantined, the others keep their accents."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    damaged = False
    with open_capped(path, max_bytes) as stream:
        first = stream.read(_CHUNK)
        if first.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
        chunk = first
        while chunk:
            text = decoder.decode(chunk)
            if _MULTIBYTE.search(text):
                return "utf-8-sig"
            damaged = damaged or _ESCAPED.search(text) is not None
            chunk = stream.read(_CHUNK)
        damaged = damaged or _ESCAPED.search(decoder.decode(b"", final=True)) is not None
    return "cp1252" if damaged else "utf-8-sig"


def _physical_lines(text: IO[str]) -> Iterator[str]:
    """The file's lines (endings kept); a line over MAX_LINE_CHARS is skipped and left as a marker."""
    while line := text.readline(MAX_LINE_CHARS):
        if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            while (rest := text.readline(MAX_LINE_CHARS)) and not rest.endswith(("\n", "\r")):
                pass
            line = OVERLONG_LINE + "\n"
        yield line


@dataclass(frozen=True)
class Record:
    """One CSV record: the file line it starts on, its cells, or why it could not be split into cells."""

    line: int
    cells: list[str]
    problem: str | None = None


def records(path: Path, encoding: str, delimiter: str, max_bytes: int) -> Generator[Record]:
    """Every record of the file, streamed; a record csv cannot split comes with its problem instead."""
    with open_capped(path, max_bytes) as binary:
        text = io.TextIOWrapper(binary, encoding=encoding, errors="hyperdash-mark", newline="")
        reader = csv.reader(_physical_lines(text), delimiter=delimiter)
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Record(start, [], f"the line could not be read as CSV ({exc})")
                continue
            yield Record(start, cells)


def first_lines(path: Path, encoding: str, max_bytes: int, count: int) -> list[str]:
    """The first `count` lines, to guess the delimiter from."""
    with open_capped(path, max_bytes) as binary:
        text = io.TextIOWrapper(binary, encoding=encoding, errors="hyperdash-mark", newline="")
        lines = []
        for line in _physical_lines(text):
            lines.append(line)
            if len(lines) == count:
                break
        return lines
