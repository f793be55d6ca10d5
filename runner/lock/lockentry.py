"""Lockfile entries checked as they load, so that no run, plan or report trips on one.

An older version (or a hand edit, or a hostile answer an older version trusted)
may have left a value of the wrong type or shape. Each entry is repaired where
it is read, in place, with one message per entry changed:

- a value that only describes (a width, a duration, a progress, a timestamp,
  an output's hash) and is invalid is dropped: it is measured again;
- an entry that is not an object holds nothing usable: it is dropped, and the
  job is planned as new;
- an estimate of the wrong shape is dropped (an entry older than estimates has
  none, which is as good);
- a task id that cannot be polled (not a short printable string) is dropped;
  a job still in flight with one becomes ``uncertain``, with an error saying
  so, since that task may exist and be billed (a finished job keeps its
  status); an unknown status with a usable task id is resumed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from runner.base import apitext

STATUSES = frozenset({"pending", "processing", "completed", "failed", "timed_out", "uncertain"})
NO_FINGERPRINT = "sha256:" + "0" * 64  # matches no job: the plan reruns it
_IN_FLIGHT = frozenset({"pending", "processing", "timed_out"})
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")
_ERROR_FIELDS = {
    "type": (str,),
    "code": (str, int),
    "param": (str,),
    "status": (int,),
    "request_id": (str,),
}
_USD = re.compile(r"[0-9]{1,12}(\.[0-9]{1,30})?")
_ESTIMATE_KEYS = frozenset({"min_usd", "max_usd", "basis", "unknown"})
_RECEIPT = ("request_id", "billing_transaction_id", "header_task_id")


def repair(jobs: dict[str, Any]) -> list[str]:
    """Repair every entry of a lockfile's ``jobs`` in place; the messages, one per job."""
    problems: list[str] = []
    for key in list(jobs):
        entry = jobs[key]
        if not isinstance(entry, dict):
            del jobs[key]
            problems.append(f"{key}: the lockfile entry is not an object; planned as new")
            continue
        fixed = _repair(entry)
        if fixed:
            problems.append(f"{key}: invalid {', '.join(fixed)} in the lockfile, ignored")
    return problems


def _repair(entry: dict[str, Any]) -> list[str]:
    fixed = list(_invalid(entry))
    for name in fixed:
        _fix(entry, name)
    outputs = entry["outputs"]
    if not all(_output_ok(o) for o in outputs):
        repaired = (_output(o) for o in outputs if isinstance(o, dict))
        entry["outputs"] = [o for o in repaired if o is not None]
        fixed.append("outputs")
    return fixed


def _invalid(entry: dict[str, Any]) -> Iterator[str]:
    """The names of the fields that hold invalid values (``type() is``: bools are no ints).

    Written for speed: it runs over every entry of every lockfile read.
    """
    get = entry.get
    fingerprint = get("fingerprint")
    if type(fingerprint) is not str or not _FINGERPRINT.fullmatch(fingerprint):
        yield "fingerprint"
    if type(get("request")) is not dict:
        yield "request"
    seed = get("seed")
    if seed is not None and type(seed) is not int:
        yield "seed"
    task_id = get("task_id")
    if task_id is not None and apitext.task_id(task_id) != task_id:
        yield "task_id"
    poll_url = get("poll_url")
    if poll_url is not None and apitext.url(poll_url, relative=True) is None:
        yield "poll_url"
    for name in _RECEIPT:
        value = get(name)
        if value is not None and apitext.task_id(value) != value:
            yield name
    status = get("status")
    if type(status) is not str or status not in STATUSES:
        yield "status"
    for name in ("submitted_at", "finished_at", "last_polled_at"):
        if not _stamp(get(name)):
            yield name
    attempts = get("attempts")
    if type(attempts) is not int or attempts < 0:
        yield "attempts"
    cancelled = get("cancelled")
    if cancelled is not None and type(cancelled) is not bool:
        yield "cancelled"
    progress = get("progress")
    if progress is not None and (type(progress) is not int or not 0 <= progress <= 100):
        yield "progress"
    if type(get("outputs")) is not list:
        yield "outputs"
    if not _error_ok(get("error")):
        yield "error"
    estimate = get("estimate")
    if estimate is not None and not _estimate_ok(estimate):
        yield "estimate"


def _output_ok(output: Any) -> bool:
    if type(output) is not dict or apitext.url(output.get("url")) is None:
        return False
    get = output.get
    path, sha256, size = get("path"), get("sha256"), get("bytes")
    return (
        (path is None or type(path) is str)
        and (sha256 is None or _matches(_SHA256, sha256))
        and (size is None or (type(size) is int and size >= 0))
        and _size_ok(get("width"))
        and _size_ok(get("height"))
        and _duration(get("duration")) == get("duration")
    )


def _fix(entry: dict[str, Any], name: str) -> None:
    if name == "fingerprint":
        entry[name] = NO_FINGERPRINT
    elif name == "request":
        entry[name] = {}
    elif name == "attempts":
        entry[name] = 0
    elif name == "outputs":
        entry[name] = []
    elif name in ("progress", "cancelled", "last_polled_at"):
        entry.pop(name)
    elif name == "task_id":
        shown = apitext.printable(apitext.shown(entry["task_id"], 80))
        entry.update(task_id=None, poll_url=None)
        if entry.get("status") in _IN_FLIGHT:  # a task to follow, which cannot be polled
            entry["status"] = "uncertain"
            entry["error"] = {
                "message": f"the lockfile's task_id {shown} cannot be used; its task may exist "
                "and be billed. Check it by hand; --resubmit-uncertain submits the job again"
            }
    elif name == "status":
        entry[name] = "timed_out" if entry.get("task_id") else "uncertain"  # resume, or block
    elif name == "error":
        entry[name] = _error(entry[name])
    else:
        entry[name] = None


def _output(raw: dict[str, Any]) -> dict[str, Any] | None:
    """An output entry with invalid values dropped; None without a usable URL."""
    url = apitext.url(raw.get("url"))
    if url is None:
        return None
    return {
        "url": url,
        "path": raw.get("path") if isinstance(raw.get("path"), str) else None,
        "sha256": raw.get("sha256") if _matches(_SHA256, raw.get("sha256")) else None,
        "bytes": raw.get("bytes") if _is_int(raw.get("bytes")) and raw["bytes"] >= 0 else None,
        "width": raw.get("width") if _size_ok(raw.get("width")) else None,
        "height": raw.get("height") if _size_ok(raw.get("height")) else None,
        "duration": _duration(raw.get("duration")),
    }


def _size_ok(value: Any) -> bool:
    return value is None or type(value) is int


def _duration(value: Any) -> float | int | None:
    """A finite number of seconds, else None (a string "5" is no duration)."""
    if type(value) in (int, float) and apitext.number(value) is not None:
        return value  # type: ignore[no-any-return]
    return None


def _error(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return {"message": apitext.text(raw) or f"unreadable: {apitext.shown(raw)}"}
    error = dict(raw)
    if not isinstance(error.get("message"), str):
        error["message"] = f"unreadable: {apitext.shown(error.get('message'))}"
    for name, types in _ERROR_FIELDS.items():
        value = error.get(name)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            error[name] = None
    return error


def _error_ok(raw: Any) -> bool:
    if raw is None:
        return True
    if type(raw) is not dict or not isinstance(raw.get("message"), str):
        return False
    return all(
        raw.get(name) is None or (isinstance(raw[name], types) and not isinstance(raw[name], bool))
        for name, types in _ERROR_FIELDS.items()
    )


def _estimate_ok(raw: Any) -> bool:
    """The estimate a create was sent under: a USD range with its basis, or unknown why."""
    if type(raw) is not dict or not set(raw) <= _ESTIMATE_KEYS or len(raw) != 3:
        return False
    low, high = raw.get("min_usd"), raw.get("max_usd")
    if low is None and high is None:
        return type(raw.get("unknown")) is str and "basis" not in raw
    return (
        _matches(_USD, low)
        and _matches(_USD, high)
        and type(raw.get("basis")) is str
        and "unknown" not in raw
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _stamp(value: Any) -> bool:
    return value is None or _matches(_STAMP, value)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
