"""Entry point of `python -m bench.care`."""

from __future__ import annotations

import sys

from bench.care.run import main

sys.exit(main())
