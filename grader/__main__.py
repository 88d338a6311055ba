"""``python -m grader``: the same commands as the ``cs231n-grader`` console script."""

import sys

from grader.cli import main

sys.exit(main())
