"""The command line: the only place that reads argv, the environment and isatty.

Each subcommand lives in ``runner/commands/<name>.py`` with ``register(subparsers)``
and ``main(args, ctx) -> int``. This module builds the parser, hands each command a
Context, and is the one error boundary: expected errors become a message and an
exit code, Ctrl-C becomes 130, and anything else is reported as a bug.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from runner import __version__
from runner.base.errors import EXIT_INTERRUPTED, EXIT_USAGE, ManifestError, VidbatchError

# httpx imports its own command line (click, rich, pygments) when click is
# installed, a quarter of its import time; vidbatch never uses it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# Each command's one-line help, so that ``--help`` lists every command while a
# run imports only the module of the command it runs (tests hold these equal
# to what each module registers).
COMMANDS = {
    "validate": "validate manifests; print diagnostics (exit 0 or 2)",
    "plan": "show what a run would submit, rerun, resume, skip or remove",
    "run": "submit, poll and download every job; keep the lockfile",
    "status": "show each job's state from the lockfile",
    "download": "fetch outputs missing on disk",
    "verify": "check every output on disk against its sha256",
    "report": "write an HTML page with every job, its video, prompt, model, seed and status",
    "models": "show the model matrix (model by operation); --refresh reads the live list",
    "schema": "print a JSON Schema (manifest, request or lockfile)",
    "sandbox": "serve the embedded LemonData-compatible sandbox on loopback",
    "cancel": "cancel tasks in flight where the API allows it",
    "lock": "merge shard lockfiles into one (lock merge FILES... -o LOCKFILE)",
}


@dataclass
class Context:
    """What a command may know of the outside world, handed in by ``main``."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin_is_tty: bool = False
    stderr_is_tty: bool = False

    def error(self, message: str) -> None:
        print(f"vidbatch: error: {message}", file=self.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the boundary keeps control."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgError(f"{self.prog}: error: {message}\n{self.format_usage().rstrip()}")


class _ArgError(Exception):
    pass


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` (a name, or "" for none) only that command's
    module is imported, and the others are listed by their help alone."""
    parser = _Parser(
        prog="vidbatch",
        description="Declarative batch runner for asynchronous video-generation APIs.",
    )
    parser.add_argument("--version", action="version", version=f"vidbatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        if importlib.util.find_spec(f"runner.commands.{name}") is None:
            continue
        if command is None or name == command:
            importlib.import_module(f"runner.commands.{name}").register(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def _command_in(args: list[str]) -> str:
    """The command ``args`` name: the first word that is not an option ("" if none)."""
    for arg in args:
        if not arg.startswith("-"):
            return arg
    return ""


def main(argv: list[str] | None = None, ctx: Context | None = None) -> int:
    """Run ``vidbatch`` with ``argv`` and return its exit code."""
    ctx = ctx or Context(stdin_is_tty=sys.stdin.isatty(), stderr_is_tty=sys.stderr.isatty())
    args = sys.argv[1:] if argv is None else argv
    try:
        with contextlib.redirect_stdout(ctx.stdout):  # --help and --version
            ns = build_parser(_command_in(args)).parse_args(args)
    except _ArgError as err:
        print(err, file=ctx.stderr)
        return EXIT_USAGE
    except SystemExit as stop:  # --help and --version print and stop
        return stop.code if isinstance(stop.code, int) else 0
    if ns.command is None:
        build_parser("").print_help(ctx.stdout)
        return EXIT_USAGE
    try:
        code: int = ns.func(ns, ctx)
        return code
    except ManifestError as err:
        for diagnostic in err.diagnostics:
            print(diagnostic, file=ctx.stderr)
        print(f"vidbatch: {err}; nothing was submitted", file=ctx.stderr)
        return err.exit_code
    except VidbatchError as err:
        ctx.error(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        ctx.error("interrupted")
        return EXIT_INTERRUPTED
    except Exception:  # the last line of defence: a bug, not a user error
        print("vidbatch: internal error (a bug; please report it):", file=ctx.stderr)
        traceback.print_exc(file=ctx.stderr)
        return 70


def console() -> None:
    """The console entry point: ``main``, then exit at once.

    Every lockfile is closed and every report written when ``main`` returns, so
    the interpreter's finalisation (tens of milliseconds of freeing objects) is
    skipped. Only for a process of its own: tests call ``main``.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
