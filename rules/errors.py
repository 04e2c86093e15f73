"""The one exception hierarchy of the rules package. Errors of YAML, pydantic and SQLAlchemy are translated
into these at the package boundary, so callers only ever catch `RulesError`."""

from __future__ import annotations

from pathlib import Path

from core.errors import CwatchError


class RulesError(CwatchError):
    """Base of every error the rules package raises."""


class RuleConfigError(RulesError):
    """A rules file that must not be loaded. `file`, `line` and `reason` point at the first problem; `problems`
    holds every problem found, each formatted like `str(error)`: "rules.yaml:17: rules[3].window: bad duration
    '2x'"."""

    def __init__(self, file: Path | None, line: int | None, reason: str, problems: list[str] | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file.name if file is not None else '<rules>'}:{line if line is not None else '?'}"
        self.message = f"{where}: {reason}"
        self.problems = problems if problems else [self.message]
        super().__init__(self.message)


class RuleStateError(RulesError):
    """Persisted rule state that cannot be read or written (corrupt snapshot, database failure)."""


class RuleStateRewoundError(RulesError):
    """The engine went back to its last saved state (a hand-off failed): the readings judged since must be handed
    again from the spool cursor, which has not moved past that state."""
