"""runner/'s layout: wings, one stage of a job's way each, importing one way only.

Every import is read from the source (at module level, inside functions, under
``TYPE_CHECKING``), so the shape cannot drift without this test saying where.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import runner

# The wings, lowest first: each may import only the wings before it. "top" is
# runner/commands/, cli.py and __main__.py.
ORDER = ("base", "catalog", "manifest", "api", "lock", "run", "review", "top")
# The sandbox stands beside the client: it shares data (the schemas, the
# catalog), never the client's reading of what a server sends; only the top uses it.
SANDBOX = "sandbox"
SANDBOX_USES = frozenset({"base", "catalog"})
SANDBOX_NEVER = frozenset({"runner.base.apitext"})
TOP_LEVEL = frozenset({"runner", "runner.__main__", "runner.cli"})  # all else is in a wing

SOURCE = Path(runner.__file__).parent


def modules(root: Path) -> dict[str, Path]:
    """Every module under the package folder ``root``, by dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """The package modules ``name`` imports anywhere in its file, with line numbers."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = name.partition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            # ``from runner.api import client`` imports the module runner.api.client
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == top or target.startswith(top + "."):
                while target not in known and "." in target:
                    target = target.rpartition(".")[0]  # runner.x.Name -> runner.x
                yield target, node.lineno


def wing(name: str) -> str | None:
    """The wing a module belongs to; None for a module left flat in the package."""
    if name in TOP_LEVEL:
        return "base" if "." not in name else "top"  # the package itself holds __version__
    parts = name.split(".")
    if parts[1] == "commands":
        return "top"
    return parts[1] if parts[1] in (*ORDER, SANDBOX) else None


def allowed(source: str, target: str) -> bool:
    """Whether the module ``source`` may import the module ``target``."""
    here, there = wing(source), wing(target)
    if here is None or there is None or here == there:
        return True  # flat modules are reported on their own
    if here == SANDBOX:
        return there in SANDBOX_USES and target not in SANDBOX_NEVER
    if there == SANDBOX:
        return here == "top"
    return ORDER.index(there) < ORDER.index(here)


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Every wing that can reach itself through others, as one path round each circle."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    found = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for after in sorted(graph.get(node, ())):
                if after == start:
                    found.append([*path, start])
                    stack = []
                    break
                if after not in seen:
                    seen.add(after)
                    stack.append((after, [*path, after]))
    return found


def problems(root: Path) -> list[str]:
    """Everything wrong with the layout of the package folder ``root``."""
    found = modules(root)
    known = set(found)
    said = [f"{name}: left flat in {root.name}/, not in a wing" for name in known if not wing(name)]
    edges = set()
    for name, path in found.items():
        for target, line in imports(name, path, known):
            here, there = wing(name), wing(target)
            if here and there and here != there:
                edges.add((here, there))
            if not allowed(name, target):
                said.append(f"{path.name}:{line}: {name} ({here}) imports {target} ({there})")
    said += ["wing cycle: " + " -> ".join(circle) for circle in cycles(edges)]
    return sorted(said)


def test_runner_wings_import_one_way() -> None:
    assert problems(SOURCE) == []


def test_every_wing_named_in_the_order_exists() -> None:
    wings = {wing(name) for name in modules(SOURCE)}
    assert wings == {*ORDER, SANDBOX}


def test_the_checker_finds_a_bad_layout(tmp_path: Path) -> None:
    package = tmp_path / "runner"
    for wing_name in ("base", "lock", "run", "sandbox", "commands"):
        (package / wing_name).mkdir(parents=True)
        (package / wing_name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("__version__ = '0'\n")
    (package / "cli.py").write_text("from runner.commands import batch\n")
    (package / "commands" / "batch.py").write_text("from runner.sandbox import app\n")
    (package / "base" / "apitext.py").write_text("")
    (package / "base" / "errors.py").write_text("from runner import __version__\n")
    (package / "run" / "engine.py").write_text("from runner.lock import store\n")
    (package / "lock" / "store.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from runner.run.engine import Target\n"
        "def later() -> None:\n"
        "    from ..run import engine\n"
    )
    (package / "sandbox" / "app.py").write_text(
        "from runner.base import errors\nfrom runner.base.apitext import parse\n"
    )
    (package / "stray.py").write_text("import runner.base.errors\n")
    assert problems(package) == [
        "app.py:2: runner.sandbox.app (sandbox) imports runner.base.apitext (base)",
        "runner.stray: left flat in runner/, not in a wing",
        "store.py:3: runner.lock.store (lock) imports runner.run.engine (run)",
        "store.py:5: runner.lock.store (lock) imports runner.run.engine (run)",
        "wing cycle: lock -> run -> lock",
        "wing cycle: run -> lock -> run",
    ]
