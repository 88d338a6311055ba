"""Copies of provided code inside a learner module (grader.sandbox.copies)."""

from __future__ import annotations

import re
import shutil

import pytest

from grader.checks import registry
from grader.sandbox import library as L
from grader.sandbox.copies import COPY_RATIO, find_copies, functions

GRADED = {n: registry.get(n).module for n in registry.names()}


@pytest.fixture(scope="module")
def release():
    return L._default_provided()


def _submission(tmp_path, release, extra: str, module: str = "conv_naive"):
    lib, _ = release
    sub = tmp_path / "cs231n_lib"
    shutil.copytree(lib, sub)
    (sub / f"{module}.py").write_text((sub / f"{module}.py").read_text() + extra)
    return sub


def _fast_source(rename: bool) -> str:
    text = (L.ROOT / "cs231n_lib" / "conv_fast.py").read_text()
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("from __future__"))
    if rename:  # what a student hiding a paste would do: other local names, other comments
        for old, new in (("xp", "padded_input"), ("cols", "columns"), ("dout", "upstream"),
                         ("Ho", "out_h"), ("Wo", "out_w")):
            text = re.sub(rf"\b{old}\b", new, text)
        text = re.sub(r"#.*", "# mine", text)
    return "\n\n" + text + "\n"


def _find(sub, release):
    lib, learner = release
    return find_copies(sub, lib, set(learner), GRADED, L._shipped_sources())


def test_the_reference_solutions_are_not_copies(release):
    lib, learner = release
    assert find_copies(L.ROOT / "cs231n_lib", lib, set(learner), GRADED,
                       L._shipped_sources()) == {}


def test_an_untouched_release_has_no_copies(tmp_path, release):
    assert _find(_submission(tmp_path, release, ""), release) == {}


@pytest.mark.parametrize("rename", [False, True], ids=["verbatim", "renamed"])
def test_a_pasted_fast_convolution_is_found_through_the_wrapper(tmp_path, release, rename):
    wrapper = ("\ndef conv_forward_naive(x, w, b, conv_param):\n"
               "    return conv_forward_fast(x, w, b, conv_param)\n")
    found = _find(_submission(tmp_path, release, _fast_source(rename) + wrapper), release)
    assert set(found) == {"conv_forward_naive"}
    assert found["conv_forward_naive"].source == "conv_fast.conv_forward_fast"
    assert found["conv_forward_naive"].ratio >= COPY_RATIO


def test_a_pasted_fast_convolution_is_found_through_an_alias(tmp_path, release):
    sub = _submission(tmp_path, release, _fast_source(True)
                      + "\nconv_backward_naive = conv_backward_fast\n")
    assert set(_find(sub, release)) == {"conv_backward_naive"}


def test_hostile_source_is_only_parsed(tmp_path, release):
    assert functions("def broken(:\n") == {}
    assert functions("x = " + "(" * 300 + ")" * 300) == {}
    sub = _submission(tmp_path, release, "\n" + "(" * 10000 + "\n")
    assert _find(sub, release) == {}
    (sub / "conv_naive.py").unlink()
    (sub / "conv_naive.py").symlink_to("/etc/passwd")
    assert _find(sub, release) == {}
