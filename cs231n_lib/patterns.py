"""Architecture pattern strings: ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC``.

:func:`parse_pattern` expands a pattern into layer tokens (used by
:mod:`cs231n_lib.net_builder`); :func:`pattern_rules` flags departures from the notes' rules
of thumb.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cs231n_lib import _validate

KNOWN_TOKENS = frozenset({"INPUT", "CONV", "RELU", "POOL", "FC", "SOFTMAX", "BN", "DROPOUT"})

_LEX = re.compile(
    r"\s*(?:(?P<arrow>->|→|-)|(?P<open>\[)|(?P<close>\])(?P<rep>\s*(?:\*|×|x)\s*"
    r"(?P<count>[A-Za-z_]\w*|\d+))?|(?P<word>[A-Za-z]+\??))",
)


def parse_pattern(
    pattern: str,
    counts: Mapping[str, int] | None = None,
    *,
    include_optional: bool = True,
    known: Iterable[str] = KNOWN_TOKENS,
) -> list[str]:
    """Expand an architecture pattern into a flat list of layer tokens.

    ``'INPUT -> [[CONV -> RELU]*2 -> POOL]*3 -> [FC -> RELU]*2 -> FC'`` becomes
    ``['INPUT', 'CONV', 'RELU', 'CONV', 'RELU', 'POOL', ...]``.

    Grammar: tokens separated by ``->``, ``→`` or ``-``; ``[ ... ]*n`` repeats a group
    (``×`` or ``x`` also work); repeat counts may be names (``*N``) looked up in ``counts``;
    a token ending in ``?`` (``POOL?``) is optional and kept only if ``include_optional``.
    Tokens are case-insensitive and returned upper case. ``*0`` removes the group.

    Raises:
        ValueError: unbalanced brackets, a repeat without a group, a missing or negative
            count, an unknown token, or a missing separator.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError("pattern must be a non-empty string")
    counts = dict(counts or {})
    known_set = {t.upper() for t in known}
    stack: list[list[str]] = [[]]
    opened: list[int] = []
    pos = 0
    expect_item = True  # after a separator or '[' an item must follow
    while pos < len(pattern):
        if pattern[pos:].strip() == "":
            break
        m = _LEX.match(pattern, pos)
        if not m or m.end() == pos:
            if pattern[pos:].lstrip()[:1] in ("*", "×"):
                raise ValueError(f"pattern: a repeat at position {pos} must follow a "
                                 "bracketed group, e.g. [CONV -> RELU]*2")
            raise ValueError(f"pattern: cannot read {pattern[pos:].strip()[:10]!r} at "
                             f"position {pos}")
        if m.group("arrow"):
            if expect_item:
                raise ValueError(f"pattern: separator {m.group('arrow')!r} at position {pos} "
                                 "has no layer before it")
            expect_item = True
        elif m.group("open"):
            if not expect_item:
                raise ValueError(f"pattern: missing '->' before '[' at position {pos}")
            stack.append([])
            opened.append(pos)
        elif m.group("close") is not None and m.group("word") is None:
            if len(stack) == 1:
                raise ValueError(f"pattern: ']' at position {m.start('close')} has no "
                                 "matching '['")
            if expect_item:
                raise ValueError(f"pattern: empty group or dangling separator before ']' at "
                                 f"position {m.start('close')}")
            group = stack.pop()
            opened.pop()
            if m.group("rep"):
                raw = m.group("count")
                if raw.isdigit():
                    n = int(raw)
                elif raw in counts:
                    n = counts[raw]
                    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                        raise ValueError(f"pattern: count {raw} must be a non-negative "
                                         f"integer, got {n!r}")
                else:
                    raise ValueError(f"pattern: repeat count {raw!r} is not a number; pass "
                                     f"counts={{{raw!r}: ...}}")
            else:
                n = 1
            stack[-1].extend(group * n)
            expect_item = False
        else:
            word = m.group("word")
            if not expect_item:
                raise ValueError(f"pattern: missing '->' before {word!r} at position "
                                 f"{m.start('word')}")
            optional = word.endswith("?")
            token = word.rstrip("?").upper()
            if token not in known_set:
                raise ValueError(f"pattern: unknown layer {word.rstrip('?')!r}; known layers "
                                 f"are {sorted(known_set)}")
            if include_optional or not optional:
                stack[-1].append(token)
            expect_item = False
        pos = m.end()
    if len(stack) > 1:
        raise ValueError(f"pattern: '[' at position {opened[-1]} is never closed")
    if expect_item:
        raise ValueError("pattern: ends with a separator or is empty")
    return stack[0]


@dataclass(frozen=True)
class PatternReport:
    """How a flat token list fits ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M ->
    [FC -> RELU]*K -> FC`` and which rules of thumb it breaks (warnings, not errors)."""

    conv_runs: tuple[int, ...]  # N of each conv block (convs before a pool or the FC part)
    M: int
    K: int
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.warnings


def pattern_rules(tokens: Sequence[str] | str) -> PatternReport:
    """Flag departures from the notes' rules of thumb: ``N <= 3`` convs per block and
    ``K < 3`` hidden FC layers. Returns a report; never raises on a rule (only on bad input).
    """
    if isinstance(tokens, str):
        tokens = parse_pattern(tokens)
    tokens = _validate.sequence(tokens, "tokens")
    if not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"tokens must be strings such as 'CONV', got {tokens!r}")
    toks = [t.upper() for t in tokens]
    runs: list[int] = []
    current = 0
    for t in toks:
        if t == "CONV":
            current += 1
        elif t == "POOL":
            runs.append(current)
            current = 0
        elif t == "FC":
            break
    if current:
        runs.append(current)
    fcs = toks.count("FC")
    K = max(fcs - 1, 0)
    warnings: list[str] = []
    for i, n in enumerate(runs):
        if n > 3:
            warnings.append(f"block {i + 1} stacks N = {n} CONV layers; the rule of thumb "
                            "is N <= 3 before pooling")
    if K >= 3:
        warnings.append(f"K = {K} hidden FC layers; the rule of thumb is K < 3")
    if toks and toks[-1] not in ("FC", "SOFTMAX"):
        warnings.append(f"the pattern ends with {toks[-1]}, not FC (the class scores)")
    return PatternReport(conv_runs=tuple(runs), M=len(runs), K=K, warnings=tuple(warnings))
