"""Local receivers for alert tests: an HTTP server in a thread and an aiosmtpd SMTP server,
each on a free 127.0.0.1 port and stopped when its block ends."""

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class HttpReceiver:
    url: str
    statuses: list[int]  # answered in turn; 200 once they run out
    received: list[dict] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)


@contextmanager
def http_receiver(statuses: list[int] | None = None) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(url="", statuses=list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(json.loads(body))
            receiver.content_types.append(self.headers.get("Content-Type", ""))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SmtpReceiver:
    port: int
    messages: list[dict] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def smtp_receiver(password: str | None = None) -> Iterator[SmtpReceiver]:
    """An SMTP server; with ``password``, it offers AUTH (without TLS: loopback only) and checks it."""
    receiver = SmtpReceiver(port=closed_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            receiver.messages.append(
                {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content.decode()}
            )
            return "250 Message accepted"

    def authenticate(server, session, envelope, mechanism, auth_data):
        user, given = auth_data.login.decode(), auth_data.password.decode()
        receiver.logins.append((user, given))
        # handled=False: aiosmtpd answers a refusal itself (535); handled=True would leave the client waiting
        return AuthResult(success=given == password, handled=False)

    extra = {"authenticator": authenticate, "auth_require_tls": False} if password is not None else {}
    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port, **extra)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
