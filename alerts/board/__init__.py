"""The live board: static files (no build step, no CDN, no inline script or style) served by the wiring at `/`.

`FILES` is the allow-list: only these names are served, with these media types. `PAGES` are the board's other
addresses (deep links), each served by one of those files: `/tickets/{id}` opens the board on that ticket,
`/wall` is the big screen. `MISSING` are addresses of the board's kind that name nothing it has (`/tickets/abc`):
the board answers them with 404 and says why in the reader's language."""

from __future__ import annotations

from pathlib import Path

from core.i18n import LANGS, area

STATIC_DIR = Path(__file__).parent

FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "siteplan.js": "text/javascript; charset=utf-8",
    "wall.html": "text/html; charset=utf-8",
    "wall.js": "text/javascript; charset=utf-8",
    "wall.css": "text/css; charset=utf-8",
    "feedback.html": "text/html; charset=utf-8",
    "feedback.js": "text/javascript; charset=utf-8",
    "act.html": "text/html; charset=utf-8",
    "act.js": "text/javascript; charset=utf-8",
    "report.html": "text/html; charset=utf-8",
    "report.js": "text/javascript; charset=utf-8",
    "report.css": "text/css; charset=utf-8",
}

#: path (a Starlette route pattern) -> the file in `FILES` that answers it
PAGES: dict[str, str] = {
    "/tickets/{ticket_id:int}": "index.html",
    "/reports": "report.html",
    "/wall": "wall.html",
}

#: path -> the file in `FILES` that answers it with 404 (after `PAGES`, which take the ones that exist)
MISSING: dict[str, str] = {
    "/tickets/{ref}": "index.html",
}


def messages() -> dict[str, dict[str, str]]:
    """The board's texts per language (served as `/messages.json`): its own, keyed without `board.`, the names
    of roles, levels, statuses and severities as `names.*`, and the timeline notes the system writes (their
    `note_key`) as `notices.*`."""
    return {
        lang: area("board", lang) | {f"{a}.{k}": v for a in ("names", "notices") for k, v in area(a, lang).items()}
        for lang in LANGS
    }
