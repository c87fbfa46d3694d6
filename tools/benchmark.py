#!/usr/bin/env python
"""``python tools/benchmark.py ...`` = ``python -m tools.benchmark ...`` (the package ``tools/benchmark/``)."""
import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository, not tools/

from tools.benchmark.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
