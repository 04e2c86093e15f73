"""Entry point of `python -m bench.latency`."""

from __future__ import annotations

import sys

from bench.latency.run import main

sys.exit(main())
