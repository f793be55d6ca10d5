"""The hostile server itself: plain answers, scripts, raw bytes, what it records."""

from __future__ import annotations

import socket

import httpx

from tests.hostile import HostileServer, Raw, Reply, hostile_server  # noqa: F401
from tests.netguard import no_network  # noqa: F401


def test_plain_answers_look_like_the_api(hostile: HostileServer) -> None:
    with httpx.Client(base_url=hostile.url) as http:
        created = http.post("/v1/videos/generations", json={"prompt": "x"}).json()
        assert created["task_id"] == "task-0001" and created["poll_url"] == "/v1/tasks/task-0001"
        task = http.get(created["poll_url"]).json()
        assert task["status"] == "completed"
        assert http.get(task["video_url"]).content.startswith(b"\x00\x00\x00\x18ftyp")
        assert http.get("/v1/tasks/nope").status_code == 404
    assert [(s.method, s.path) for s in hostile.requests][:2] == [
        ("POST", "/v1/videos/generations"),
        ("GET", "/v1/tasks/task-0001"),
    ]
    assert hostile.seen("POST")[0].json() == {"prompt": "x"}


def test_scripted_answers_go_in_turn_then_plain_again(hostile: HostileServer) -> None:
    hostile.script("GET", "/v1/tasks/", Reply(503, body="NaN"), Reply(headers={"X-A": "1"}))
    with httpx.Client(base_url=hostile.url) as http:
        first = http.get("/v1/tasks/a")
        assert (first.status_code, first.text) == (503, "NaN")
        assert http.get("/v1/tasks/b").headers["x-a"] == "1"
        assert http.get("/v1/tasks/c").status_code == 404


def test_raw_bytes_reach_the_socket_untouched(hostile: HostileServer) -> None:
    hostile.script("GET", "/raw", Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
        sock.sendall(b"GET /raw HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_binds_loopback_only(hostile: HostileServer) -> None:
    assert hostile.url.startswith("http://127.0.0.1:")
