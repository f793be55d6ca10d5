"""Lockfile entries checked as they load, so that no run, plan or report trips on one.

An older version (or a hand edit, or a hostile answer an older version trusted)
may have left a value of the wrong type or shape. Each entry is repaired where
it is read, in place, with one message per entry changed:

- a value that only describes (a width, a duration, a progress, a timestamp,
  an output's hash) and is invalid is dropped: it is measured again;
- an entry that is not an object holds nothing usable: it is dropped, and the
  job is planned as new;
- a task id that cannot be polled (not a short printable string) blocks the
  job: it becomes ``uncertain`` with an error saying so, since that task may
  exist and be billed; an unknown status with a usable task id is resumed.
"""

from __future__ import annotations

import re
from typing import Any

from runner import apitext

STATUSES = frozenset({"pending", "processing", "completed", "failed", "timed_out", "uncertain"})
NO_FINGERPRINT = "sha256:" + "0" * 64  # matches no job: the plan reruns it
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")
_ERROR_FIELDS = {"type": (str,), "code": (str, int), "param": (str,), "status": (int,)}


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
    fixed = [name for name, ok in _checks(entry) if not ok]
    for name in fixed:
        _fix(entry, name)
    outputs = [_output(o) for o in entry["outputs"] if isinstance(o, dict)]
    if outputs != entry["outputs"]:
        entry["outputs"] = [o for o in outputs if o is not None]
        fixed.append("outputs")
    return fixed


def _checks(entry: dict[str, Any]) -> list[tuple[str, bool]]:
    task_id = entry.get("task_id")
    return [
        ("fingerprint", isinstance(entry.get("fingerprint"), str)
         and bool(_FINGERPRINT.fullmatch(entry["fingerprint"]))),
        ("request", isinstance(entry.get("request"), dict)),
        ("seed", entry.get("seed") is None or _is_int(entry["seed"])),
        ("task_id", task_id is None or apitext.task_id(task_id) == task_id),
        ("poll_url", entry.get("poll_url") is None or apitext.url(entry["poll_url"], relative=True)
         is not None),
        ("status", entry.get("status") in STATUSES),
        ("submitted_at", _stamp(entry.get("submitted_at"))),
        ("finished_at", _stamp(entry.get("finished_at"))),
        ("attempts", _is_int(entry.get("attempts")) and entry["attempts"] >= 0),
        ("progress", "progress" not in entry or entry["progress"] is None
         or (_is_int(entry["progress"]) and 0 <= entry["progress"] <= 100)),
        ("outputs", isinstance(entry.get("outputs"), list)),
        ("error", _error_ok(entry.get("error"))),
    ]  # fmt: skip


def _fix(entry: dict[str, Any], name: str) -> None:
    if name == "fingerprint":
        entry[name] = NO_FINGERPRINT
    elif name == "request":
        entry[name] = {}
    elif name == "attempts":
        entry[name] = 0
    elif name == "outputs":
        entry[name] = []
    elif name == "progress":
        entry.pop(name)
    elif name == "task_id":
        shown = apitext.printable(apitext.shown(entry["task_id"], 80))
        entry.update(task_id=None, poll_url=None, status="uncertain")
        entry["error"] = {
            "message": f"the lockfile's task_id {shown} cannot be used; its task may exist and "
            "be billed. Check it by hand; --resubmit-uncertain submits the job again"
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
    duration = apitext.number(raw.get("duration"))
    return {
        "url": url,
        "path": raw.get("path") if isinstance(raw.get("path"), str) else None,
        "sha256": raw.get("sha256") if _matches(_SHA256, raw.get("sha256")) else None,
        "bytes": raw.get("bytes") if _is_int(raw.get("bytes")) and raw["bytes"] >= 0 else None,
        "width": raw.get("width") if _is_int(raw.get("width")) else None,
        "height": raw.get("height") if _is_int(raw.get("height")) else None,
        "duration": raw.get("duration") if duration is not None else None,
    }


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
    if not isinstance(raw, dict) or not isinstance(raw.get("message"), str):
        return False
    return all(
        raw.get(name) is None or (isinstance(raw[name], types) and not isinstance(raw[name], bool))
        for name, types in _ERROR_FIELDS.items()
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _stamp(value: Any) -> bool:
    return value is None or _matches(_STAMP, value)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
