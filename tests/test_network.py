"""How a failed request is read: never sent or sent, and the setup failures that stop a run."""

from __future__ import annotations

import ssl

import httpx
import pytest

from runner.api import network


@pytest.mark.parametrize(
    ("error", "never_sent"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.PoolTimeout("busy"), True),
        (httpx.ProxyError("502 Bad Gateway"), True),
        (httpx.LocalProtocolError("bad header"), True),
        (httpx.WriteError("broken pipe"), False),
        (httpx.WriteTimeout("slow"), False),
        (httpx.ReadError("reset"), False),
        (httpx.ReadTimeout("late"), False),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), False),
        (httpx.DecodingError("bad gzip"), False),
        (network.AnswerTooLarge("big"), False),
    ],
)
def test_what_counts_as_never_sent(error: httpx.HTTPError, never_sent: bool) -> None:
    assert isinstance(error, network.NEVER_SENT) is never_sent


def wrapped(cause: BaseException) -> httpx.ConnectError:
    """A ConnectError as httpx raises it: from httpcore's, from the ssl error."""
    try:
        try:
            raise cause
        except BaseException as err:
            raise httpx.ConnectError(str(err)) from err
    except httpx.ConnectError as outer:
        return outer


def test_certificate_failure_names_its_cause() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate in certificate chain"
    assert network.setup_problem(wrapped(cause)) == (
        "TLS: certificate verify failed: self-signed certificate in certificate chain "
        "(set SSL_CERT_FILE to your CA bundle)"
    )


def test_tls_hang_up_is_transient_and_plain_refusal_is_not_a_setup_problem() -> None:
    assert network.setup_problem(wrapped(ssl.SSLEOFError(8, "EOF occurred"))) is None
    assert network.setup_problem(httpx.ConnectError("[Errno 111] Connection refused")) is None


def test_proxy_failures() -> None:
    proxy = "http://user:secret@proxy.example:3128"
    refused = network.setup_problem(httpx.ConnectError("[Errno 111] refused"), proxy)
    assert refused is not None and refused.startswith(
        "cannot reach the proxy http://proxy.example:3128: ConnectError: [Errno 111] refused"
    )
    auth = network.setup_problem(httpx.ProxyError("407 Proxy Authentication Required"), proxy)
    assert auth is not None and "wants credentials (HTTP 407)" in auth
    assert network.setup_problem(httpx.ProxyError("502 Bad Gateway"), proxy) is None  # retried
    assert "secret" not in refused + auth
