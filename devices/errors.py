"""The one exception hierarchy of `devices`: callers catch `DevicesError` and never a dependency's error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import CwatchError
from core.i18n import Text, joined, tr

__all__ = ["DevicesError", "Problem", "RegistryError", "RegistryStoreError"]


class DevicesError(CwatchError):
    """Base of every error raised by the `devices` package."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with registry data, located precisely enough for a clerk to fix it in a spreadsheet.

    `file` is a CSV file name (or a collection name for registries built in code), `line` the 1-based line
    (or item number), `column` the column or field name ("" when the whole row is meant). `message` is usually
    a catalog `Text` (English as a `str`): the reason reads in the reader's language, the place stays as written."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"

    def text(self) -> Text:
        """The problem as `file:line: column: reason`, in any language (`Text.in_lang`)."""
        return tr("registry.problem", file=self.file, line=self.line, column=self.column, message=self.message)


class RegistryError(DevicesError):
    """Registry data was refused. Carries EVERY problem found, so one round of fixes is enough; its message is a
    catalog `Text`, a heading and a problem a line, which the CLI shows in its language."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self._render())

    def _render(self) -> Text:
        n = len(self.problems)
        head = tr("registry.refused.one" if n == 1 else "registry.refused.other", n=n)
        return joined([head, *(p.text() for p in self.problems)], "registry.problem_lines")

    def __str__(self) -> str:
        return self._render()


class RegistryStoreError(DevicesError):
    """The relational store could not save or load the registry (database unreachable, schema missing)."""
