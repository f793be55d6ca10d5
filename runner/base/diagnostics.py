"""A located problem in a manifest, printed like a compiler diagnostic."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem: ``file:line:col: error: message`` (line and column 1-based).

    A warning (``severity="warning"``) does not stop a run unless it is strict.
    """

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_error(self) -> Diagnostic:
        """This diagnostic as an error (``--strict``)."""
        return replace(self, severity="error")
