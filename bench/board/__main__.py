"""Entry point of `python -m bench.board`."""

from __future__ import annotations

import sys

from bench.board.run import main

sys.exit(main())
