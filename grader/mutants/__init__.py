"""The mutant catalogue and submission trees built from it.

* :data:`MUTANTS` - realistic wrong implementations, each with the hint it must receive.
* :func:`make_submission` - a copy of ``cs231n_lib`` with mutants patched in (for the secure
  grader's tests and the pipeline demo); :func:`make_stub_submission` - the student release's
  stubs; :func:`make_reference_submission` - the reference as is.
* :func:`swapped_library` - import a submission tree's ``cs231n_lib`` in this process for a
  while, restoring ``sys.modules`` and ``sys.path`` afterwards (tests of the visible checks).
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from grader.checks.stubs import strip_solutions
from grader.mutants.catalogue import MUTANTS, Mutant, kernel_file
from grader.mutants.mistakes import fill_region

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "cs231n_lib"
HERE = Path(__file__).resolve().parent

__all__ = ["MUTANTS", "Mutant", "by_name", "make_submission", "make_stub_submission",
           "make_reference_submission", "mutant_source", "swapped_library"]


def by_name(name: str) -> Mutant:
    for m in MUTANTS:
        if m.name == name:
            return m
    raise KeyError(f"no mutant {name!r}; known: {', '.join(m.name for m in MUTANTS)}")


def mutant_source(mutants: Mutant | Iterable[Mutant], reference: str | None = None) -> str:
    """Source of the reference module with the mutants' functions rebound at the end."""
    group = [mutants] if isinstance(mutants, Mutant) else list(mutants)
    modules = {m.module for m in group}
    if len(modules) != 1:
        raise ValueError(f"mutants of one module at a time, got {sorted(modules)}")
    module = modules.pop()
    if reference is None:
        reference = (LIBRARY / f"{module}.py").read_text(encoding="utf-8")
    for m in group:
        if m.body:
            reference = fill_region(reference, m.checks[0], m.body)
    parts = [reference.rstrip("\n"), "", "",
             "# " + "-" * 70, f"# MUTANT(S): {', '.join(m.name for m in group)}",
             *((HERE / k).read_text(encoding="utf-8")
               for k in sorted({kernel_file(m) for m in group}))]
    parts += [m.binding for m in group]
    return "\n".join(parts) + "\n"


def _copy_library(dst_dir: Path | str) -> Path:
    dst = Path(dst_dir) / "cs231n_lib"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(LIBRARY, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def make_reference_submission(dst_dir: Path | str) -> Path:
    """``dst_dir/cs231n_lib``: a copy of the reference library. Returns ``dst_dir``."""
    _copy_library(dst_dir)
    return Path(dst_dir)


def make_stub_submission(dst_dir: Path | str) -> Path:
    """``dst_dir/cs231n_lib`` as the student release has it: every solution region a stub."""
    lib = _copy_library(dst_dir)
    for path in sorted(lib.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        path.write_text(strip_solutions(text, str(path)), encoding="utf-8")
    return Path(dst_dir)


def make_submission(dst_dir: Path | str, mutant_names: Iterable[str] | str) -> Path:
    """``dst_dir/cs231n_lib``: the reference with the named mutants patched in.

    Mutants of the same module are applied together (if two replace the same function the
    later one wins). Returns ``dst_dir``.
    """
    names = [mutant_names] if isinstance(mutant_names, str) else list(mutant_names)
    lib = _copy_library(dst_dir)
    by_module: dict[str, list[Mutant]] = {}
    for name in names:
        m = by_name(name)
        by_module.setdefault(m.module, []).append(m)
    for module, group in by_module.items():
        path = lib / f"{module}.py"
        path.write_text(mutant_source(group, path.read_text(encoding="utf-8")),
                        encoding="utf-8")
    return Path(dst_dir)


@contextlib.contextmanager
def swapped_library(tree: Path | str) -> Iterator[None]:
    """Make ``import cs231n_lib`` load ``tree/cs231n_lib`` inside the block.

    Saves and restores every ``cs231n_lib`` entry of ``sys.modules`` and ``sys.path`` so
    nothing of the submission leaks into the rest of the process.
    """
    tree = str(Path(tree).resolve())
    saved = {k: v for k, v in sys.modules.items()
             if k == "cs231n_lib" or k.startswith("cs231n_lib.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, tree)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for k in [k for k in sys.modules if k == "cs231n_lib" or k.startswith("cs231n_lib.")]:
            del sys.modules[k]
        sys.modules.update(saved)
        with contextlib.suppress(ValueError):
            sys.path.remove(tree)
        importlib.invalidate_caches()
