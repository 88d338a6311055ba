"""The trusted side of sandboxing: the bubblewrap profile, the worker runner, the notebook
kernel launcher and the library grader.

Instructor only, never shipped. It may import ``grader.harness`` (to copy and speak to the
worker) and ``grader.checks`` (to build cases and compare); never ``grader.course``.
"""
