"""`python -m simulator ...`: the simulator without the rest of cwatch."""

import sys

from simulator.cli import main

sys.exit(main())
