"""The live board: static files (no build step, no CDN) served by the wiring at `/`."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent
