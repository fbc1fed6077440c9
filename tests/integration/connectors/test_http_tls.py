"""HTTPS while connecting to the checked IP: SNI and certificate verification still use the host name."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from django_automate.connectors.base import ConnectorContext, PermanentError
from django_automate.connectors.http import HttpConnector


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificates(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for ``hostname`` signed by it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.headers.get("Host", "").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return  # handshakes the client refuses are the point of some tests


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[int, Path, list[str | None]]]:
    ca, cert, key = _certificates(tmp_path, "tls.test")
    server_names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], ca, server_names
    server.shutdown()
    server.server_close()


def call(url: str) -> dict:
    ctx = ConnectorContext(idempotency_key="r:s", trace_id="", deadline=time.monotonic() + 5)
    return HttpConnector().execute("request", {"url": url}, ctx).output


def test_https_to_a_name_verifies_the_certificate_for_that_name(settings, fake_dns, tls_server):
    port, ca, server_names = tls_server
    settings.AUTOMATE = {"HTTP_ALLOWED_NETWORKS": ["127.0.0.1/32"], "HTTP_CA_BUNDLE": str(ca)}
    fake_dns.answers["tls.test"] = ["127.0.0.1"]
    output = call(f"https://tls.test:{port}/")
    assert output["status"] == 200
    assert output["text"] == f"tls.test:{port}"  # Host header: the name, not the IP connected to
    assert server_names == ["tls.test"]  # SNI: the name
    assert fake_dns.calls["tls.test"] == 1


def test_https_fails_verification_when_the_name_does_not_match(settings, fake_dns, tls_server):
    port, ca, _names = tls_server
    settings.AUTOMATE = {"HTTP_ALLOWED_NETWORKS": ["127.0.0.1/32"], "HTTP_CA_BUNDLE": str(ca)}
    fake_dns.answers["other.test"] = ["127.0.0.1"]
    for url in (f"https://127.0.0.1:{port}/", f"https://other.test:{port}/"):
        with pytest.raises(PermanentError) as caught:
            call(url)
        assert caught.value.code == "tls_error", url


def test_https_with_an_unknown_ca_fails_verification(settings, fake_dns, tls_server):
    port, _ca, _names = tls_server
    settings.AUTOMATE = {"HTTP_ALLOWED_NETWORKS": ["127.0.0.1/32"]}  # certifi's CAs only
    fake_dns.answers["tls.test"] = ["127.0.0.1"]
    with pytest.raises(PermanentError) as caught:
        call(f"https://tls.test:{port}/")
    assert caught.value.code == "tls_error"
