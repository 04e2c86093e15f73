"""The one exception hierarchy of `devices`: callers catch `DevicesError` and never a dependency's error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import CwatchError

__all__ = ["DevicesError", "Problem", "RegistryError", "RegistryStoreError"]


class DevicesError(CwatchError):
    """Base of every error raised by the `devices` package."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with registry data, located precisely enough for a clerk to fix it in a spreadsheet.

    `file` is a CSV file name (or a collection name for registries built in code), `line` the 1-based line
    (or item number), `column` the column or field name ("" when the whole row is meant)."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"


class RegistryError(DevicesError):
    """Registry data was refused. Carries EVERY problem found, so one round of fixes is enough."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        head = f"registry refused: {n} problem{'s' if n != 1 else ''}"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def __str__(self) -> str:
        return self._render()


class RegistryStoreError(DevicesError):
    """The relational store could not save or load the registry (database unreachable, schema missing)."""
