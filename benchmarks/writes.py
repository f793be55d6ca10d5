"""Bytes a process wrote to the lockfile, its journal and their temp files, from strace.

The run is traced with ``strace -f -y -s 0 -e trace=write,pwrite64,writev,pwritev``
(``-y`` prints each descriptor's path); every completed write to one of those
paths adds its return value. A write split by a thread switch appears as an
``<unfinished ...>`` line and a ``<... write resumed>`` line; the path is taken
from the first and the byte count from the second.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

CALLS = "write,pwrite64,writev,pwritev"
_CALL = re.compile(r"^(\d+)\s+(?:p?writev?|pwrite64)\(\d+<([^>]*)>")
_RESULT = re.compile(r"=\s+(\d+)\s*$")
_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. \w+ resumed>")


def strace_prefix(log: Path) -> list[str] | None:
    """The argv prefix that traces a command's writes into ``log``; None without strace."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    return [
        strace,
        "-f",
        "--seccomp-bpf",
        "-qq",
        "-y",
        "-s",
        "0",
        "-e",
        "signal=none",
        "-e",
        f"trace={CALLS}",
        "-o",
        str(log),
    ]


def kind_of(path: str, lockfile: Path) -> str | None:
    """Which lockfile-family file ``path`` is, or None."""
    name = Path(path).name
    if name == lockfile.name:
        return "lockfile"
    if name == lockfile.name + ".journal":
        return "journal"
    if name.startswith(f".{lockfile.name}.") and name.endswith(".tmp"):
        return "lockfile (temp, renamed over it)"
    if name == lockfile.name + ".lock":
        return "run lock"
    return None


def bytes_written(log: Path, lockfile: Path) -> Counter[str]:
    """Bytes written per kind of file (see ``kind_of``), from an strace log; the key
    ``"rewrites"`` counts the distinct temp files, i.e. times the lockfile was rewritten."""
    totals: Counter[str] = Counter()
    temps: set[str] = set()
    pending: dict[str, str] = {}
    for line in log.read_text("utf-8", "replace").splitlines():
        call = _CALL.match(line)
        if call is not None:
            pid, path = call.groups()
            kind = kind_of(path, lockfile)
            if kind is None:
                continue
            if kind.startswith("lockfile (temp"):
                temps.add(path)
            if line.endswith("<unfinished ...>"):
                pending[pid] = kind
                continue
            _add(totals, kind, line)
            continue
        resumed = _RESUMED.match(line)
        if resumed is not None and resumed.group(1) in pending:
            _add(totals, pending.pop(resumed.group(1)), line)
    totals["rewrites"] = len(temps)
    return totals


def _add(totals: Counter[str], kind: str, line: str) -> None:
    result = _RESULT.search(line)
    if result is not None:
        totals[kind] += int(result.group(1))
