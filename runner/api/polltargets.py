"""Where each task is polled: the ``poll_url`` its create returned, on the API's origin.

The API says to poll at exactly the returned ``poll_url``, a relative one
resolved against the base URL, and at ``/v1/tasks/{id}`` when none came
(api/README.md, "Endpoints"). The key goes on every poll, so a poll_url on
another origin is never called, nor one that cannot be requested as it is (a
lockfile written by an older version may hold one): the fixed path is polled.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from runner.api import responses

TASK_PATH = "/v1/tasks/"


class PollTargets:
    """Resolves, and remembers while a task is in flight, the URL each task is polled at.

    Resolved once per task: httpx parses URLs character by character.
    """

    def __init__(self, base_url: httpx.URL) -> None:
        self.base_url = base_url
        self._origin = str(base_url.copy_with(path="/", query=None, fragment=None))[:-1]
        self._targets: dict[tuple[str, str | None], httpx.URL] = {}

    def target(self, task_id: str, poll_url: str | None) -> httpx.URL:
        """The URL to poll: ``poll_url`` as returned, or /v1/tasks/{id} when none (or foreign)."""
        key = (task_id, poll_url)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = self._resolve(task_id, poll_url)
        return found

    def is_foreign(self, poll_url: str | None) -> bool:
        """Whether ``poll_url`` points at another origin (and so is not used)."""
        usable = responses.poll_url(poll_url)
        if not usable or _is_path(usable):
            return False
        return not same_origin(self.base_url.join(usable), self.base_url)

    def forget(self, task_id: str, poll_url: str | None) -> None:
        self._targets.pop((task_id, poll_url), None)

    def _resolve(self, task_id: str, poll_url: str | None) -> httpx.URL:
        usable = responses.poll_url(poll_url)
        if usable and _is_path(usable):
            return httpx.URL(self._origin + usable)  # the usual case, without a join
        if usable:
            url = self.base_url.join(usable)
            if same_origin(url, self.base_url):
                return url
        return self.base_url.join(TASK_PATH.lstrip("/") + quote(task_id, safe=""))


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    return (url.scheme, url.host, _port(url)) == (base.scheme, base.host, _port(base))


def _is_path(poll_url: str) -> bool:
    return poll_url.startswith("/") and not poll_url.startswith("//")


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)
