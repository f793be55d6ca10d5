"""Where each task is polled: the returned poll_url on the API's origin, else /v1/tasks/{id}."""

from __future__ import annotations

import httpx
import pytest

from runner.api.polltargets import PollTargets

BASE = httpx.URL("https://api.example.test/")


@pytest.mark.parametrize(
    ("poll_url", "expected"),
    [
        (None, "https://api.example.test/v1/tasks/t%2F1"),
        ("/v1/tasks/t1?x=1", "https://api.example.test/v1/tasks/t1?x=1"),
        ("https://api.example.test:443/v2/t1", "https://api.example.test/v2/t1"),
        ("https://evil.example/v1/tasks/t1", "https://api.example.test/v1/tasks/t%2F1"),
        ("//evil.example/v1/tasks/t1", "https://api.example.test/v1/tasks/t%2F1"),
        ("http://api.example.test/v1/tasks/t1", "https://api.example.test/v1/tasks/t%2F1"),
        # What a lockfile of an older version may hold: never requested as it is.
        ("/v1/tasks/t1\r\nX-Injected: 1", "https://api.example.test/v1/tasks/t%2F1"),
        ("https://api.example.test:99999/t1", "https://api.example.test/v1/tasks/t%2F1"),
        ("", "https://api.example.test/v1/tasks/t%2F1"),
    ],
)
def test_polls_go_to_the_poll_url_only_on_the_api_origin(
    poll_url: str | None, expected: str
) -> None:
    assert str(PollTargets(BASE).target("t/1", poll_url)) == expected


def test_only_a_usable_url_on_another_origin_is_foreign() -> None:
    targets = PollTargets(BASE)
    assert targets.is_foreign("https://evil.example/t1")
    assert not targets.is_foreign("/v1/tasks/t1")
    assert not targets.is_foreign("https://api.example.test/v1/tasks/t1")
    assert not targets.is_foreign("https://evil\r\n.example/t1")  # unusable: ignored
    assert not targets.is_foreign(None)
