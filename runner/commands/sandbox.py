"""``vidbatch sandbox``: serve the embedded LemonData-compatible sandbox on loopback.

Prints the base URL it listens on (first line of stdout), then serves until
Ctrl-C. Any bearer key is accepted unless ``--require-key`` names one.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from pathlib import Path
from typing import Any

from runner.base.errors import UsageError
from runner.cli import Context

DEFAULT_PORT = 8765


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "sandbox",
        help="serve the embedded LemonData-compatible sandbox on loopback",
        description=(
            "Serve the embedded LemonData-compatible sandbox over HTTP, for curl, other "
            "tools and benchmarks. Prints its base URL, then serves until Ctrl-C."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (0: any free one; default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--speed", type=float, metavar="X", help="tasks take their model's usual time divided by X"
    )
    parser.add_argument(
        "--faults", metavar="FILE.json", help="sandbox settings and faults, a JSON object"
    )
    parser.add_argument("--require-key", metavar="KEY", help="accept only this bearer key")
    parser.add_argument("--seed", type=int, help="seed of the injected faults (default 0)")
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    try:
        from runner.sandbox import SandboxConfig, serve
    except ImportError as err:
        raise UsageError(
            f"the sandbox needs the 'sandbox' extra ({err.name} is missing):"
            " pip install 'vidbatch[sandbox]'"
        ) from None
    settings = _settings(ns)
    config = SandboxConfig.from_mapping(settings)
    if not _is_loopback(ns.host):
        ctx.stderr.write(f"vidbatch sandbox: warning: {ns.host} is not a loopback address\n")

    def ready(url: str) -> None:
        ctx.stdout.write(url + "\n")
        ctx.stdout.flush()
        ctx.stderr.write(f"vidbatch sandbox: serving on {url} (Ctrl-C stops it)\n")
        ctx.stderr.flush()

    try:
        serve(config, host=ns.host, port=ns.port, on_ready=ready)
    except OSError as err:
        raise UsageError(f"cannot listen on {ns.host}:{ns.port}: {err.strerror or err}") from None
    except KeyboardInterrupt:
        ctx.stderr.write("vidbatch sandbox: stopped\n")
    return 0


def _settings(ns: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if ns.faults:
        settings = _read_json(Path(ns.faults))
    overrides = {"speed": ns.speed, "required_key": ns.require_key, "seed": ns.seed}
    settings.update({name: value for name, value in overrides.items() if value is not None})
    if not 0 <= ns.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {ns.port}")
    return settings


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise UsageError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a JSON object of sandbox settings")
    return data


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
