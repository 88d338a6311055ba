"""Turn reference ``.py`` files into student stubs.

nbgrader clears solutions in notebooks only; other files of ``source/`` are copied verbatim
(nbgrader issue #1237). So the release builder passes every ``cs231n_lib`` module through
:func:`strip_solutions`, which replaces each ``### BEGIN SOLUTION`` … ``### END SOLUTION``
region by a ``raise NotImplementedError`` that names the function and its notebook.
"""

from __future__ import annotations

import re

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
_CLASS = re.compile(r"^(\s*)class\s+(\w+)")
_NOTEBOOK = re.compile(r"^_NOTEBOOK\s*=\s*[\"']([^\"']+)[\"']", re.M)


def stub_message(function: str, notebook: str | None) -> str:
    """The text a learner sees when calling a function not written yet."""
    # Notebooks sit beside cs231n_lib in the release, so name the file, not the repo path.
    where = f"see {notebook.rsplit('/', 1)[-1]}" if notebook else "see the course notebooks"
    return f"{function}: not written yet; {where}"


def _owner(lines: list[str], index: int, indent: int) -> str:
    """Qualified name of the function enclosing line ``index`` (indentation ``indent``)."""
    names: list[str] = []
    level = indent
    for line in reversed(lines[:index]):
        match = _DEF.match(line) or _CLASS.match(line)
        if match and len(match.group(1)) < level:
            names.append(match.group(2))
            level = len(match.group(1))
            if level == 0:
                break
    if not names:
        raise ValueError(f"line {index + 1}: {BEGIN} outside any function")
    return ".".join(reversed(names))


def strip_solutions(source: str, filename: str = "<module>") -> str:
    """Replace every solution region of a Python module by a stub.

    Raises:
        ValueError: unbalanced or nested markers, or a region outside a function.
    """
    notebook_match = _NOTEBOOK.search(source)
    notebook = notebook_match.group(1) if notebook_match else None
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    start: int | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == BEGIN:
            if start is not None:
                raise ValueError(f"{filename}:{i + 1}: nested {BEGIN}")
            start = i
            indent = len(line) - len(line.lstrip())
            owner = _owner(lines, i, indent)
            message = stub_message(owner.split(".")[-1], notebook)
            out.append(f"{line[:indent]}raise NotImplementedError({message!r})\n")
        elif stripped == END:
            if start is None:
                raise ValueError(f"{filename}:{i + 1}: {END} without {BEGIN}")
            start = None
        elif start is None:
            out.append(line)
    if start is not None:
        raise ValueError(f"{filename}:{start + 1}: {BEGIN} without {END}")
    return "".join(out)


def has_solutions(source: str) -> bool:
    """True if ``source`` still holds a solution marker."""
    return BEGIN in source or END in source
