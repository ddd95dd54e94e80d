"""The HTTP adapter: the standard library's ``http.server`` in front of :class:`SimulatorApp`.

Why the standard library and not an ASGI framework: the simulator serves one page and four JSON
endpoints to one classroom machine, one request at a time (model runs are serialized anyway).
``ThreadingHTTPServer`` does that without a dependency, and everything a framework would add
(routing, validation, error pages) lives in :class:`~sdnet.serve.app.SimulatorApp`, where it is
tested without a socket. Python's documentation warns that ``http.server`` is not for
production: it only does basic security checks. The simulator therefore listens on 127.0.0.1
unless told otherwise, serves no files from disk (only the page bundled in the package), reads
bodies of a bounded, declared length, and checks the ``Host`` header.
"""

from __future__ import annotations

import ipaddress
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from sdnet.serve.app import MAX_BODY, Response

if TYPE_CHECKING:
    from sdnet.serve.app import SimulatorApp

__all__ = ["is_loopback", "local_hosts", "make_server"]

_log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses other machines cannot reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_hosts(host: str, port: int) -> set[str]:
    """``Host`` header values a browser on this machine sends for ``host:port``."""
    names = {host, "localhost", "127.0.0.1", "[::1]"}
    return {f"{name}:{port}" for name in names}


class _Handler(BaseHTTPRequestHandler):
    app: SimulatorApp
    server_version = "sdnet-serve"
    sys_version = ""

    def _answer(self, method: str) -> None:
        length_text = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            # answer without reading a body we will not use (the app words the error)
            response = self.app.handle(method, self.path, b"x" * (MAX_BODY + 1),
                                       content_type=self.headers.get("Content-Type"),
                                       host=self.headers.get("Host"))
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
            response = self.app.handle(method, self.path, body,
                                       content_type=self.headers.get("Content-Type"),
                                       host=self.headers.get("Host"))
        self._send(response, head=method == "HEAD")

    def _send(self, response: Response, *, head: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        _log.info("%s %s", self.address_string(), format % args)


def make_server(app: SimulatorApp, *, host: str = "127.0.0.1", port: int = 8050,
                public: bool = False) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` answering with ``app`` (not yet serving).

    Parameters
    ----------
    host : str
        Address to listen on; anything but a loopback address needs ``public=True``.
    port : int
        Port; 0 picks a free one (read it back from ``server.server_address``).
    public : bool
        Allow a non-loopback address (other machines can then reach the simulator).

    Raises
    ------
    InvalidValueError
        If ``host`` is not a loopback address and ``public`` is False.
    """
    from sdnet.errors import InvalidValueError

    if not public and not is_loopback(host):
        raise InvalidValueError("--host", host, expected="a loopback address such as "
                                "127.0.0.1, or --public to let other machines connect")
    handler = type("Handler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    if not public:
        app.allowed_hosts = frozenset(local_hosts(host, server.server_address[1]))
    return server
