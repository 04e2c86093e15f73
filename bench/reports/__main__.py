"""Entry point of `python -m bench.reports`."""

from __future__ import annotations

import sys

from bench.reports.run import main

sys.exit(main())
