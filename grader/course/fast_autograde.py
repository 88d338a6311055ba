"""Pay only for what is graded: demonstration-only cells are not run under autograde.

The notebooks declare their demonstration-only cells once, with the cell tag ``demo-only``
(training runs, naive-vs-fast timings, widgets, big figures: cells that carry no points and
that no graded cell needs). Under ``cs231n-grader autograde`` the grading job appends
:func:`config_lines` to its scratch ``nbgrader_config.py``, which puts two preprocessors around
nbgrader's ``Execute``:

* :class:`SkipDemoCells` (before) empties the source of each declared demo cell, so that
  nbclient does not send it to the kernel (it skips empty code cells);
* :class:`RestoreDemoCells` (after) puts the source back and leaves a one-line note as the
  cell's output, so the graded notebook and the feedback still show the whole notebook.

Trust: the submission's own tags are ignored. What is skipped is decided by the *instructor's*
source notebooks: a cell is skipped only when its source is byte-for-byte the source of a cell
tagged ``demo-only`` in ``source/`` (its SHA-256 is in :attr:`SkipDemoCells.digests`) and it
has no nbgrader metadata. A student can therefore only have the instructor's own demo cells
skipped, never a cell of their choosing; a student who edits a demo cell gets it run.

The rule "no graded cell depends on a skipped cell" is checked statically by
:func:`demo_violations` (a later cell that is run must not read a name a demo cell binds) and
dynamically by the test that grades the demo class with and without this module.
"""

from __future__ import annotations

import ast
import hashlib
import json
import symtable
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, List, Unicode

from grader.checks.exercises import EXERCISES
from grader.course.exercise_probes import probe_names

DEMO_TAG = "demo-only"
#: Key under which the skipped sources travel in nbconvert's ``resources`` (never in the
#: notebook, which the student wrote).
_RESOURCES_KEY = "cs231n_demo_skipped"
NOTE = "demo-only cell: not run under autograde (it carries no points)\n"


def source_digest(source: str) -> str:
    """SHA-256 (hex) of a cell source, as UTF-8."""
    if not isinstance(source, str):
        raise TypeError(f"a cell source is a str, got {type(source).__name__}")
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _cells(notebook: Path) -> list[dict]:
    data = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise ValueError(f"{notebook} is not a notebook: no list of cells")
    for cell in cells:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return cells


def is_demo_cell(cell: dict) -> bool:
    """A code cell tagged ``demo-only`` without nbgrader metadata (graded cells always run)."""
    meta = cell.get("metadata") or {}
    return (cell.get("cell_type") == "code" and DEMO_TAG in (meta.get("tags") or [])
            and not meta.get("nbgrader"))


def demo_digests(source_dir: Path) -> list[str]:
    """Digests of the demo cells of every notebook in ``source_dir`` (the instructor's copy)."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ValueError(f"{source_dir} is not a directory of source notebooks")
    return sorted({source_digest(c["source"]) for nb in sorted(source_dir.glob("*.ipynb"))
                   for c in _cells(nb) if is_demo_cell(c)})


class SkipDemoCells(Preprocessor):
    """Before ``Execute``: empty the declared demo cells (their sources go to resources)."""

    enabled = Bool(True).tag(config=True)  # nbconvert's default is False
    digests = List(Unicode(), help="SHA-256 of the instructor's demo-only cell sources"
                   ).tag(config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        wanted = set(self.digests)
        skipped: dict[int, str] = {}
        for index, cell in enumerate(nb.cells):
            if (cell.cell_type == "code" and not cell.metadata.get("nbgrader")
                    and source_digest(cell.source) in wanted):
                skipped[index] = cell.source
                cell.source = ""
        resources[_RESOURCES_KEY] = skipped
        return nb, resources


class RestoreDemoCells(Preprocessor):
    """After ``Execute``: put the skipped sources back, with a note as the only output."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        from nbformat.v4 import new_output

        skipped = resources.pop(_RESOURCES_KEY, {}) or {}
        for index, source in skipped.items():
            cell = nb.cells[index]
            cell.source = source
            cell.outputs = [new_output("stream", name="stdout", text=NOTE)]
            cell.execution_count = None
        return nb, resources


_SKIP = f"{__name__}.SkipDemoCells"
_RESTORE = f"{__name__}.RestoreDemoCells"


def _name(pp: Any) -> str:
    return pp if isinstance(pp, str) else f"{pp.__module__}.{pp.__qualname__}"


def wrap_execute(preprocessors: list) -> list:
    """``preprocessors`` with :class:`SkipDemoCells` before and :class:`RestoreDemoCells`
    after the (one) executing preprocessor, whose name ends in ``Execute``."""
    names = [_name(p) for p in preprocessors]
    at = [i for i, n in enumerate(names) if n.rsplit(".", 1)[-1].endswith("Execute")]
    if len(at) != 1:
        raise ValueError(f"expected exactly one *Execute preprocessor, got {names}")
    i = at[0]
    return [*preprocessors[:i], _SKIP, preprocessors[i], _RESTORE, *preprocessors[i + 1:]]


def config_lines(source_dir: Path) -> str:
    """Lines for a scratch ``nbgrader_config.py``: skip ``source_dir``'s demo cells."""
    return (
        "\n# Demo-only cells are not run under autograde (grader.course.fast_autograde)\n"
        "from nbgrader.converters import Autograde as _Autograde\n"
        "from grader.course.fast_autograde import wrap_execute as _wrap_execute\n"
        "c.Autograde.autograde_preprocessors = _wrap_execute(list(\n"
        "    c.Autograde.autograde_preprocessors if 'autograde_preprocessors' in c.Autograde\n"
        "    else _Autograde.class_traits()['autograde_preprocessors'].default()))\n"
        f"c.SkipDemoCells.digests = {demo_digests(source_dir)!r}\n"
    )


# --- static check: no cell that runs reads what a demo cell binds --------------------------

def _python(source: str) -> str:
    """The cell without IPython magics / shell lines (they bind nothing we track)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _global_reads(table: symtable.SymbolTable) -> set[str]:
    """Module-level names read anywhere in ``table`` (nested scopes: implicit globals only)."""
    reads = set()
    for sym in table.get_symbols():
        if sym.is_referenced() and (table.get_type() == "module" or sym.is_global()):
            reads.add(sym.get_name())
    for child in table.get_children():
        reads |= _global_reads(child)
    return reads


def _bound_and_read(source: str) -> tuple[set[str], set[str]]:
    """Module-level names a cell binds or mutates, and the module-level names it reads."""
    code = _python(source)
    tree = ast.parse(code)
    read = _global_reads(symtable.symtable(code, "<cell>", "exec"))
    bound = {sym.get_name() for sym in symtable.symtable(code, "<cell>", "exec").get_symbols()
             if sym.is_assigned() or sym.is_imported()}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(
                node.ctx, (ast.Store, ast.Del)):
            base = node.value  # x.a = ..., x[k] = ...: a mutation of x
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):
                bound.add(base.id)
        elif isinstance(node, ast.Global):
            bound.update(node.names)
    return bound, read


def demo_violations(notebook: Path) -> list[str]:
    """Why some demo cell of ``notebook`` may not be skipped (empty: all may).

    A demo cell may not carry nbgrader metadata, and no later cell that runs under autograde
    may read a name the demo cell binds or mutates (by assignment, import, def, ``x.a =`` or
    ``x[k] =``; an exercise cell also reads what its probes name). Mutation through method
    calls is not seen here: the with/without grading test is the backstop.
    """
    cells = _cells(Path(notebook))
    problems: list[str] = []
    demo_bound: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") or {}
        tagged = DEMO_TAG in (meta.get("tags") or [])
        if tagged and meta.get("nbgrader"):
            problems.append(f"cell {index} is graded (nbgrader metadata) but tagged {DEMO_TAG}")
            continue
        bound, read = _bound_and_read(cell["source"])
        grade_id = (meta.get("nbgrader") or {}).get("grade_id")
        if grade_id in EXERCISES:  # the probe cell inserted after it reads these too
            read |= probe_names(grade_id)
        if tagged:
            for name in bound:
                demo_bound[name] = index
            continue
        for name in sorted(read & demo_bound.keys()):
            problems.append(f"cell {index} reads {name!r}, bound by demo-only cell "
                            f"{demo_bound[name]}")
        for name in bound:  # rebound by a cell that runs: later reads see this one
            demo_bound.pop(name, None)
    return problems
