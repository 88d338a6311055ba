"""Which learner exercises a notebook runs: the order of the course, checked two ways.

A learner works through the notebooks in order, so notebook N may run only the exercises of
notebooks 0..N (a later one is still a stub for them). Two views of "runs":

- :func:`named_exercises` (static, fast): the learner functions a code cell names (an import,
  a call, an attribute), read from the cell's syntax tree;
- :func:`tracer_cell` / :func:`calls_from_output` (dynamic): a cell put in front of the
  notebook wraps every learner function, wherever the library holds it, so that calls made
  *through* provided code (``net.loss`` of the pattern builder runs ``affine_forward``) are
  recorded too; a cell at the end prints what was called.

The notebook of each function is the registry's (``registry.get(name).notebook``).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from grader.checks import registry

#: Marks the tracer's output line, so that it is found among the notebook's own output.
MARKER = "LEARNER-CALLS:"


def exercise_notebook(name: str) -> str:
    """The stem (``"08_training"``) of the notebook where learner function ``name`` is written."""
    return Path(registry.get(name).notebook).stem


def named_exercises(source: str) -> set[str]:
    """Learner functions named in a code cell (IPython magics and shell lines are skipped)."""
    code = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    learner = set(registry.names())
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and node.id in learner:
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in learner:
            found.add(node.attr)
        elif isinstance(node, ast.alias) and node.name in learner:
            found.add(node.name)
    return found


def tracer_cell() -> str:
    """Source of the cell that records every call of a learner function in the kernel.

    It imports every ``cs231n_lib`` module first, then replaces each learner function in every
    module namespace that holds it (``from cs231n_lib.layers import affine_forward`` in
    ``net_builder`` included); for a class (``ThreeLayerConvNet``) the methods holding a
    solution region are wrapped in place. Everything lives in one function so the notebook's
    namespace stays as it was, except the record kept on ``sys``.
    """
    where = {name: registry.get(name).module for name in registry.names()}
    return f"""\
def _install_learner_tracer(where):
    import functools, importlib, inspect, pkgutil, sys
    import cs231n_lib
    for info in pkgutil.iter_modules(cs231n_lib.__path__):
        importlib.import_module("cs231n_lib." + info.name)
    called = sys._learner_calls = set()

    def wrap(name, fn):
        @functools.wraps(fn)
        def recorded(*args, **kwargs):
            called.add(name)
            return fn(*args, **kwargs)
        return recorded

    library = [m for n, m in sys.modules.items() if n.split(".")[0] == "cs231n_lib"]
    for name, module in where.items():
        obj = getattr(sys.modules[module], name)
        if inspect.isclass(obj):
            for attr, fn in list(vars(obj).items()):
                if inspect.isfunction(fn) and "### BEGIN SOLUTION" in inspect.getsource(fn):
                    setattr(obj, attr, wrap(name, fn))
            continue
        recorded = wrap(name, obj)
        for mod in library:
            for key, value in list(vars(mod).items()):
                if value is obj:
                    setattr(mod, key, recorded)


_install_learner_tracer({where!r})
del _install_learner_tracer
"""


def report_cell() -> str:
    """Source of the last cell: prints the recorded calls after :data:`MARKER`."""
    return f"import sys, json; print({MARKER!r} + json.dumps(sorted(sys._learner_calls)))"


def calls_from_output(text: str) -> set[str]:
    """The learner functions the report cell printed (``ValueError`` if it printed nothing)."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            return set(json.loads(line[len(MARKER):]))
    raise ValueError("the tracer's report is missing from the output")
