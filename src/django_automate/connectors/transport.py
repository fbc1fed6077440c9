"""An httpx transport that connects only to addresses the SSRF guard checked.

httpx hands each connection to an httpcore *network backend*. Ours resolves the host once
(:func:`ssrf.resolve_checked`), refuses the connection unless every address is allowed, and
connects to the checked IP itself: there is no second resolution for DNS rebinding to
exploit. The URL keeps the host name, so the ``Host`` header, TLS SNI and certificate
verification all use the name. Every request, including each redirect hop, is checked
again (scheme, host allowlist, addresses). Reads, writes and connects never wait past the
step's deadline.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from django_automate import conf, exceptions
from django_automate.connectors import ssrf
from django_automate.connectors.base import PermanentError, RetryableError
from django_automate.policy import masking


class NetworkError(RetryableError):
    """The connection failed or broke off."""

    code = "network_error"


class Timeout(RetryableError):
    """The call did not finish in time."""

    code = "timeout"


class TlsError(PermanentError):
    """The server's TLS certificate could not be verified."""

    code = "tls_error"


class InvalidRequest(PermanentError):
    """The request could not be sent as given (e.g. a header value with a line break)."""

    code = "invalid_request"


@functools.lru_cache(maxsize=8)
def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying client context (certifi's CAs unless ``AUTOMATE["HTTP_CA_BUNDLE"]`` names a file)."""
    if ca_bundle is None:
        import certifi

        ca_bundle = certifi.where()
    try:
        context = ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise exceptions.ImproperlyConfigured(f"Could not load the CA bundle {ca_bundle!r}: {exc}.") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _DeadlineStream(httpcore.NetworkStream):
    """Bounds every read, write and TLS handshake by the step's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _timeout(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("The step deadline passed.")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._timeout(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves and checks once per connection, then connects to a checked address."""

    def __init__(self, policy: ssrf.Policy, deadline: float) -> None:
        self.policy = policy
        self.deadline = deadline
        self.peers: list[str] = []  # addresses actually connected to, for diagnostics
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = ssrf.resolve_checked(host, port, self.policy)
        last: Exception | None = None
        for _family, address in addresses:
            left = self.deadline - time.monotonic()
            if left <= 0:
                break
            try:
                # An IP literal: create_connection() does no DNS lookup for it.
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            self.peers.append(str(address))
            return _DeadlineStream(stream, self.deadline)
        if last is not None:
            raise last
        raise httpcore.ConnectTimeout("The step deadline passed.")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("Unix sockets are not allowed.")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _ssl_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    """httpcore's exceptions as connector errors (timeouts and network failures are retryable)."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise Timeout(f"The HTTP call timed out ({exc.__class__.__name__}).") from exc
    except httpcore.ConnectError as exc:
        cause = _ssl_cause(exc)
        if cause is not None:
            raise TlsError(f"TLS verification failed: {getattr(cause, 'verify_message', cause)}.") from exc
        raise NetworkError(f"Could not connect: {exc}.") from exc
    except httpcore.LocalProtocolError as exc:
        reason = str(exc).split(" b'")[0].split(' b"')[0]  # h11 quotes the offending bytes: keep them out
        raise InvalidRequest(f"The request is invalid: {reason}.") from exc
    except httpcore.UnsupportedProtocol as exc:
        raise ssrf.InvalidUrl(str(exc)) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError) as exc:
        raise NetworkError(f"The connection failed: {exc.__class__.__name__}: {exc}.") from exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _mapped_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if callable(close):
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that checks every request (and redirect hop) before connecting."""

    def __init__(self, policy: ssrf.Policy, deadline: float) -> None:
        self.policy = policy
        self.backend = GuardedBackend(policy, deadline)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context(conf.http_ca_bundle()), network_backend=self.backend, max_connections=4, retries=0
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ssrf.InvalidUrl(details={"url": masking.excerpt(str(url), 200)})
        host = url.raw_host.decode("ascii")
        self.policy.check_host(host, url.port or (443 if url.scheme == "https" else 80))
        extensions = {k: v for k, v in request.extensions.items() if k != "sni_hostname"}
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        with _mapped_errors():
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),  # type: ignore[arg-type]
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def guarded_client(
    policy: ssrf.Policy,
    *,
    deadline: float,
    follow_redirects: bool = False,
    max_redirects: int = 5,
) -> httpx.Client:
    """An httpx client whose every connection goes through the SSRF guard and ends by ``deadline``.

    Environment proxies are ignored (``trust_env=False``): a proxy would resolve the name
    itself, out of the guard's reach.
    """
    from django_automate import __version__

    left = max(deadline - time.monotonic(), 0.001)
    return httpx.Client(
        transport=GuardedTransport(policy, deadline),
        timeout=httpx.Timeout(left),
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        trust_env=False,
        headers={"User-Agent": f"django-automate/{__version__}", "Accept-Encoding": "gzip, deflate"},
    )
