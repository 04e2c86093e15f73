"""Entry point of `python -m bench.notify`."""

from __future__ import annotations

import sys

from bench.notify.run import main

sys.exit(main())
