"""Graded functions that copy a provided implementation instead of calling it.

The tripwires of :mod:`grader.sandbox.library` catch a graded function that *calls* a provided
implementation of the same computation; pasting that implementation's body (or one of its
helpers) into the learner's module gets past them. This module compares, in the trusted
process and without running anything, the learner modules' top-level functions with every
function the course ships outside the learner's stubs (the release's provided modules and the
shipped ``grader`` packages), on their syntax trees with local names renamed: a rename of
variables or an added comment does not hide a copy.

A submission's source is hostile text: it is only parsed (size-capped), never imported, and a
file that does not parse simply has no functions to compare.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.files import read_regular_file

#: A learner function this similar (0..1) to a provided one is a copy of it.
COPY_RATIO = 0.85
#: Provided functions shorter than this many syntax tokens are too generic to count.
MIN_TOKENS = 60
MAX_SOURCE_BYTES = 1 << 20


@dataclass(frozen=True)
class Copy:
    """``function`` of the learner module ``module`` copies the provided ``source``."""

    module: str
    function: str
    source: str
    ratio: float


def _tokens(fn: ast.AST) -> list[str]:
    """The function's syntax as tokens: node kinds, attributes, constants; local names become
    numbered placeholders (first use order), the docstring is dropped."""
    names: dict[str, str] = {}
    out: list[str] = []
    body = list(getattr(fn, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(
            getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
        body = body[1:]
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        out.append(type(node).__name__)
        if isinstance(node, ast.Name):
            out.append(names.setdefault(node.id, f"v{len(names)}"))
        elif isinstance(node, ast.arg):
            out.append(names.setdefault(node.arg, f"v{len(names)}"))
        elif isinstance(node, ast.Attribute):
            out.append("." + node.attr)
        elif isinstance(node, ast.Constant):
            out.append(repr(node.value)[:20])
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


def functions(source: bytes | str) -> dict[str, tuple[list[str], set[str]]]:
    """Top-level functions of a module: name -> (tokens, names it refers to). Empty if the
    text does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    out: dict[str, tuple[list[str], set[str]]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            try:
                refs = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                out[node.name] = (_tokens(node), refs)
            except RecursionError:
                continue
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)):
            # ``graded = pasted_function``: an alias refers to what it names
            out[node.targets[0].id] = ([], {node.value.id})
    return out


def _similarity(a: list[str], b: list[str]) -> float:
    if not a or not b or min(len(a), len(b)) / max(len(a), len(b)) < COPY_RATIO - 0.1:
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < COPY_RATIO or matcher.quick_ratio() < COPY_RATIO:
        return 0.0
    return matcher.ratio()


def provided_functions(provided_lib: Path, learner_files: set[str],
                       shipped: list[Path]) -> dict[str, list[str]]:
    """``"module.function"`` -> tokens, of every function long enough to count that the
    course ships outside the learner's files (``shipped``: further trusted source files)."""
    out: dict[str, list[str]] = {}
    sources = [p for p in sorted(provided_lib.glob("*.py")) if p.name not in learner_files]
    for path in sources + list(shipped):
        for name, (tokens, _) in functions(path.read_bytes()).items():
            if len(tokens) >= MIN_TOKENS:
                out[f"{path.stem}.{name}"] = tokens
    return out


def find_copies(submission_lib: Path, provided_lib: Path, learner_files: set[str],
                graded: dict[str, str], shipped: list[Path]) -> dict[str, Copy]:
    """Graded function -> the provided code it copies (directly, or through a helper of its
    module that is a copy). ``graded`` maps graded function names to their modules
    (``cs231n_lib.conv_naive`` or ``conv_naive``).

    Functions identical to the release's own version of the learner file (provided helpers
    that ship inside a learner module) are not copies.
    """
    provided = provided_functions(provided_lib, learner_files, shipped)
    graded = {name: module.rpartition(".")[2] for name, module in graded.items()}
    found: dict[str, Copy] = {}
    for module in sorted(set(graded.values())):
        theirs = read_regular_file(submission_lib / f"{module}.py", MAX_SOURCE_BYTES)
        release = provided_lib / f"{module}.py"
        if theirs is None or not release.is_file():
            continue
        own = functions(theirs)
        shipped_here = {n: t for n, (t, _) in functions(release.read_bytes()).items()}
        copied: dict[str, Copy] = {}
        for fname, (tokens, _) in own.items():
            if shipped_here.get(fname) == tokens:
                continue
            for where, ptokens in provided.items():
                ratio = _similarity(tokens, ptokens)
                if ratio >= COPY_RATIO:
                    copied[fname] = Copy(module, fname, where, round(ratio, 3))
                    break
        for name, mod in graded.items():
            if mod != module or name not in own:
                continue
            if name in copied:
                found[name] = copied[name]
                continue
            helpers = sorted(own[name][1] & set(copied))
            if helpers:
                found[name] = copied[helpers[0]]
    return found
