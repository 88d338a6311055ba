"""The check API: check specs, case builders, comparison, and the notebook's ``check``/``grade``.

Ships to students whole (the release copies this package as a directory). Nothing in it may be
secret: no hidden case, no reference output beyond the visible cases, no correct implementation
of a graded function. It may import ``grader.harness.recipes`` and ``cs231n_lib._validate``; it
never imports ``grader.course``, ``grader.sandbox`` or ``grader.mutants``.
"""

from grader.checks.visible import check, grade

__all__ = ["check", "grade"]
