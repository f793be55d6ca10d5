"""The errors vidbatch expects, and the exit code each one maps to.

Everything a user can cause derives from one base; the CLI boundary turns it into
a clean message and exit code, and anything else is a bug::

    VidbatchError                 exit 2 unless a subclass says otherwise
    ├── UsageError                bad flags or arguments
    ├── ManifestError             carries every Diagnostic found (exit 2)
    ├── LockError                 a lockfile is unreadable or held by another run
    ├── ConfigError               missing key, refused base URL, ...
    ├── WriteError                a file cannot be written: disk full, read-only (exit 1)
    └── ApiStopped                the API stopped the run: 401, 402, 403 key (exit 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.base.diagnostics import Diagnostic

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_API_STOPPED = 3
EXIT_IN_FLIGHT = 4  # detached: work is still in flight; run again later
EXIT_OVER_BUDGET = 5  # the budget left jobs unsent; nothing failed
EXIT_INTERRUPTED = 130


class VidbatchError(Exception):
    """Base of every expected error; ``str(err)`` is the message shown."""

    exit_code = EXIT_USAGE


class UsageError(VidbatchError):
    """The command line asks for something that cannot be done."""


class ManifestError(VidbatchError):
    """A manifest has one or more problems; nothing may be sent."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = sum(1 for d in self.diagnostics if d.is_error)
        super().__init__(f"{errors} error(s) in manifest")


class LockError(VidbatchError):
    """A lockfile or its journal cannot be used (corrupt, or held by another run)."""


class ConfigError(VidbatchError):
    """A setting is missing or refused (API key, base URL, ...)."""


class WriteError(VidbatchError):
    """A file vidbatch must write cannot be written (disk full, read-only folder, ...)."""

    exit_code = EXIT_FAILED


class ApiStopped(VidbatchError):
    """The API refused the whole run (bad key, no balance); state is saved."""

    exit_code = EXIT_API_STOPPED
