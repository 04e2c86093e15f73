"""Entry point of `python -m bench.rules`."""

from __future__ import annotations

import sys

from bench.rules.run import main

sys.exit(main())
