"""Local receivers for alert tests: an HTTP server in a thread and an aiosmtpd SMTP server,
each on a free 127.0.0.1 port and stopped when its block ends."""

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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
    cafile: Path | None = None  # with a password: the certificate a client must trust for STARTTLS


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, signed by its own key: (certificate, key) as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def smtp_receiver(password: str | None = None, tls_folder: Path | None = None) -> Iterator[SmtpReceiver]:
    """An SMTP server; with ``password`` (and ``tls_folder`` for its certificate), it offers
    STARTTLS and, only once TLS is on, AUTH, which it checks."""
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

    extra = {}
    if password is not None:
        if tls_folder is None:
            raise ValueError("a receiver that checks a password needs tls_folder: a login goes only over TLS")
        cert_path, key_path = self_signed_certificate(tls_folder)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert_path, key_path)
        receiver.cafile = cert_path
        # auth_require_tls (aiosmtpd's default): AUTH is refused before STARTTLS.
        extra = {"authenticator": authenticate, "tls_context": tls, "require_starttls": True}
    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port, **extra)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
