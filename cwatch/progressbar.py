"""Progress of long CLI work drawn as a bar with a total and the time left (tqdm) on a terminal; elsewhere (a
pipe, a log, CI) nothing is drawn and the command prints its summary line as always."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from core.i18n import env_lang, render
from core.progress import Progress

#: What each stage of a package's progress reads as on the bar (in the CLI's language).
STAGES = {"read": "cli.progress.read", "save": "cli.progress.save"}


@contextmanager
def terminal_progress(stream: TextIO | None = None) -> Iterator[Progress]:
    """A `Progress` drawing one bar per stage on `stream` (default stderr) when it is a terminal."""
    from tqdm import tqdm

    out = stream or sys.stderr
    enabled = out.isatty()
    lang = env_lang()
    bars: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if not enabled:
            return
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            desc = render(STAGES[stage], lang) if stage in STAGES else stage
            unit = render("cli.progress.rows", lang)
            bar = bars[stage] = tqdm(total=total, desc=desc, unit=unit, file=out, mininterval=0.5, unit_scale=True)
        bar.update(max(0, done - bar.n))

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.close()
