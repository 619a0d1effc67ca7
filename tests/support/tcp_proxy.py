"""A TCP proxy in front of the test PostgreSQL that a test can cut and restore: a CRM outage on demand.

The shared test server cannot be stopped under other tests, but the webhook only ever sees the CRM
through a socket: closing every proxied connection and refusing new ones is, to the webhook, exactly a
CRM that went away (connections reset, reconnects refused); reopening the same port is its return.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict


def _upstream(url: str) -> tuple[int, str | tuple[str, int]]:
    """The socket family and address of the server `url` names (a Unix socket for the embedded one)."""
    info = conninfo_to_dict(url)
    host, port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)
    if host.startswith("/"):
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host, port)


class PgProxy:
    """Listens on 127.0.0.1:<port>; `url` is the proxied database URL; `cut()` and `restore()` the outage."""

    def __init__(self, database_url: str) -> None:
        self._family, self._address = _upstream(database_url)
        info = conninfo_to_dict(database_url)
        self._listener = self._listen(0)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"postgresql://{quote(str(info.get('user') or 'postgres'))}@127.0.0.1:{self.port}/{info['dbname']}"
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._serve()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(256)
        return listener

    def _serve(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed by cut()
                return
            try:
                server = socket.socket(self._family, socket.SOCK_STREAM)
                server.connect(self._address)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """The CRM is gone: every open connection is reset and new ones are refused."""
        # close() alone leaves the accept() blocked in the serving thread listening (the kernel keeps the
        # socket open under it), so reconnects would still get through; shutdown() wakes and ends it.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        """The CRM is back on the same address."""
        self._listener = self._listen(self.port)
        self._serve()

    def close(self) -> None:
        self.cut()
