"""The live board: static files (no build step, no CDN, no inline script or style) served by the wiring at `/`.

`FILES` is the allow-list: only these names are served, with these media types."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent

FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
    "feedback.html": "text/html; charset=utf-8",
    "feedback.js": "text/javascript; charset=utf-8",
    "act.html": "text/html; charset=utf-8",
    "act.js": "text/javascript; charset=utf-8",
}
