"""Entry point of `python -m bench.ingest`."""

from __future__ import annotations

import sys

from bench.ingest.run import main

sys.exit(main())
