"""Progress of long work (a city-size registry import), reported by the package doing it and drawn by the
caller: a bar on a terminal (`cwatch.progressbar`), nothing elsewhere. Packages depend only on this type."""

from __future__ import annotations

from collections.abc import Callable

#: `(stage, done, total)`: `stage` names the step ("read", "save"); `done` of `total` units (rows) are done.
Progress = Callable[[str, int, int], None]


def silent(stage: str, done: int, total: int) -> None:
    """The default: report nowhere."""
