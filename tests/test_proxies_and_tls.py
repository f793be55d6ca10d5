"""Proxies and certificates, end to end through ``vidbatch run`` on loopback.

A real proxy (proxy.py, in a process of its own on 127.0.0.1) must see the
API's requests and the downloads: forwarded for http:// URLs, tunnelled with
CONNECT for https://. TLS runs against a CA of the test's own (trustme),
trusted through SSL_CERT_FILE. A TLS or proxy failure stops the run at once
with its cause (exit 2), and nothing is retried or left uncertain.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.hostile import HostileServer, Reply, serve_tls
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import Cli, write_manifest

KEY = "sk-proxy-0123456789abcdef"


class Proxy:
    """proxy.py on loopback, in a process of its own; ``log`` is its access log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder / "proxy.log"
        port_file = folder / "port"
        argv = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0"]
        argv += ["--port-file", str(port_file), "--log-file", str(self.log)]
        argv += ["--num-workers", "1", "--num-acceptors", "1"]
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, "HOME": str(folder)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("proxy.py did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        _wait_listening(int(port_file.read_text()))

    def seen(self, port: int) -> list[str]:
        """The access-log lines about requests to 127.0.0.1:``port``.

        A line is written once its connection closes: wait until the lines
        stop coming (half a second without a new one, ten seconds at most)."""
        found: list[str] = []
        deadline, quiet = time.monotonic() + 10, time.monotonic() + 0.5
        while time.monotonic() < deadline and (not found or time.monotonic() < quiet):
            time.sleep(0.05)
            lines = self.log.read_text().splitlines() if self.log.exists() else []
            now = [line for line in lines if f" 127.0.0.1:{port}" in line]
            if len(now) != len(found):
                found, quiet = now, time.monotonic() + 0.5
        return found

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    started = Proxy(tmp_path_factory.mktemp("proxy"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli({"HOME": "/nonexistent", "LEMONDATA_API_KEY": KEY})


@pytest.fixture
def plain() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[HostileServer]:
    """The hostile server on HTTPS, with a certificate from the test's CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HostileServer()
    serve_tls(server, context)
    with server:
        yield server


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def run(cli: Cli, server: HostileServer, tmp_path: Path, count: int = 2) -> int:
    return cli("run", str(write_manifest(tmp_path, count)), "--base-url", server.url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def test_http_requests_and_downloads_go_through_http_proxy(
    cli: Cli, plain: HostileServer, proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert run(cli, plain, tmp_path) == 0, cli.err
    seen = proxy.seen(plain.port)  # one line per connection, naming its first request
    assert any(f"POST 127.0.0.1:{plain.port}/v1/videos/generations" in line for line in seen)
    assert any(f"GET 127.0.0.1:{plain.port}/files/task-0001.mp4" in line for line in seen)
    # proxy.py marks the first request of each connection it makes; every request
    # the server saw (polls included) came on one of those connections.
    proxied = {
        s.peer for s in plain.requests if s.headers.get("via", "").endswith("proxy.py v2.4.10")
    }
    assert proxied and {s.peer for s in plain.requests} == proxied
    assert [s.path for s in plain.seen("GET", "/v1/tasks/")]
    assert len(plain.seen("POST")) == 2


def test_https_goes_through_connect_and_trusts_ssl_cert_file(
    cli: Cli,
    tls: HostileServer,
    proxy: Proxy,
    ca_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    assert run(cli, tls, tmp_path) == 0, cli.err
    assert any(f"CONNECT 127.0.0.1:{tls.port}" in line for line in proxy.seen(tls.port))
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["shot0.mp4", "shot1.mp4"]
    assert all(s.headers["authorization"] == f"Bearer {KEY}" for s in tls.seen(path="/v1/"))


def test_https_without_a_proxy_trusts_ssl_cert_file(
    cli: Cli, tls: HostileServer, ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a proxy the requests go through aiohttp: the same CA bundle is trusted."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    assert run(cli, tls, tmp_path) == 0, cli.err
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["shot0.mp4", "shot1.mp4"]
    assert len(tls.seen("POST")) == 2


def test_no_proxy_bypasses_the_proxy(
    cli: Cli, plain: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert run(cli, plain, tmp_path) == 0, cli.err
    assert len(plain.seen("POST")) == 2


def test_unreachable_proxy_stops_the_run_at_once(
    cli: Cli, plain: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("ALL_PROXY", f"socks5://user:secret@127.0.0.1:{port}")  # socksio at work
    started = time.monotonic()
    assert run(cli, plain, tmp_path) == 2
    assert time.monotonic() - started < 5  # not a minute of retries
    assert f"cannot reach the proxy socks5://127.0.0.1:{port}: ConnectError" in cli.err
    assert "secret" not in cli.err and "Traceback" not in cli.err
    assert plain.requests == []


def test_proxy_asking_for_credentials_stops_the_run(
    cli: Cli, plain: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gatekeeper = HostileServer()  # as a forwarding proxy: 407 to everything
    gatekeeper.handler = lambda seen: Reply(407, body=b"", headers={"Proxy-Authenticate": "Basic"})
    with gatekeeper:
        monkeypatch.setenv("HTTP_PROXY", gatekeeper.url)
        assert run(cli, plain, tmp_path) == 2
        assert gatekeeper.requests[0].path.startswith(f"{plain.url}/v1/")
    assert "wants credentials (HTTP 407)" in cli.err
    assert plain.requests == []


def test_untrusted_certificate_stops_the_run_at_once(
    cli: Cli, tls: HostileServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    assert run(cli, tls, tmp_path) == 2  # certifi's bundle does not know the test's CA
    assert time.monotonic() - started < 5
    assert (
        "TLS: certificate verify failed: unable to get local issuer certificate "
        "(set SSL_CERT_FILE to your CA bundle); state saved"
    ) in cli.err
    assert tls.requests == []
    lock = tmp_path / "shots.lock.json"
    assert not lock.exists() or '"uncertain"' not in lock.read_text()  # never sent


def test_unreadable_ca_bundle_is_a_clear_error(
    cli: Cli, tls: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    assert run(cli, tls, tmp_path) == 2
    assert "cannot load the CA bundle (SSL_CERT_FILE=" in cli.err
    assert "Traceback" not in cli.err


def test_unreachable_proxy_for_outputs_is_named_at_once(
    cli: Cli, plain: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API goes direct (NO_PROXY), its outputs (on "localhost") through a dead proxy."""
    port = free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    video = f"http://localhost:{plain.port}/files/task-0001.mp4"
    plain.script("GET", "/v1/tasks/", Reply(json=plain.task_answer("task-0001", video_url=video)))
    started = time.monotonic()
    assert run(cli, plain, tmp_path, count=1) == 1
    assert time.monotonic() - started < 5
    assert f"download failed: cannot reach the proxy http://127.0.0.1:{port}: ConnectError" in (
        cli.err
    )
    assert plain.seen("GET", "/files/") == []
