"""The course's grading side: release builder, check registry, sandboxed checker, nbgrader glue."""
