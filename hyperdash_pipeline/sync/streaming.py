"""Binary COPY from one connection straight into another, in bounded memory."""

from __future__ import annotations

import psycopg
from psycopg import sql

# psycopg hands buffers up to 128 KiB to libpq without slicing them again.
_FLUSH_BYTES = 128 * 1024


def stream_copy(src: psycopg.Connection, copy_out: sql.Composed, dst: psycopg.Connection, copy_in: sql.Composed) -> int:
    """Pipe `COPY ... TO STDOUT (FORMAT binary)` on `src` into `COPY ... FROM STDIN (FORMAT binary)` on `dst`.

    The bytes are never decoded: the binary stream (header, rows, trailer) passes through as is, in
    ~128 KiB chunks, so memory stays flat whatever the table size. Returns the rows copied.
    """
    with dst.cursor() as dst_cur, src.cursor() as src_cur:
        with dst_cur.copy(copy_in) as writer, src_cur.copy(copy_out) as reader:
            buffer = bytearray()
            for chunk in reader:
                buffer += chunk
                if len(buffer) >= _FLUSH_BYTES:
                    writer.write(buffer)
                    buffer = bytearray()
            if buffer:
                writer.write(buffer)
        return dst_cur.rowcount
