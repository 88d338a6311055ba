"""Entry point of ``python -m bench``."""

import sys

from bench.run import main

if __name__ == "__main__":  # spawned worker processes (grading) must not re-run the bench
    sys.exit(main())
