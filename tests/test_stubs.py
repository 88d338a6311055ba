"""The .py stub generator used by the release builder."""

import pytest

from grader.checks.stubs import has_solutions, strip_solutions

SOURCE = '''"""mod"""
_NOTEBOOK = "notebooks/03_parameter_sharing.ipynb"


def f(x):
    """doc"""
    if x < 0:
        raise ValueError("x must be >= 0")
    ### BEGIN SOLUTION
    y = x * 2
    return y
    ### END SOLUTION


class K:
    def loss(self, X):
        ### BEGIN SOLUTION
        return 1
        ### END SOLUTION
'''


def test_regions_become_stubs_naming_function_and_notebook():
    out = strip_solutions(SOURCE)
    assert not has_solutions(out)
    assert "y = x * 2" not in out and "return 1" not in out
    ns: dict = {}
    exec(compile(out, "m", "exec"), ns)
    with pytest.raises(NotImplementedError, match="f: not written yet; see 03_parameter_sharing"):
        ns["f"](1)
    with pytest.raises(ValueError, match="x must be >= 0"):
        ns["f"](-1)  # validation outside the region survives
    with pytest.raises(NotImplementedError, match="loss: not written yet"):
        ns["K"]().loss(None)


@pytest.mark.parametrize(
    "bad, rule",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    pass\n", "without ### END"),
        ("def f():\n    ### END SOLUTION\n", "without ### BEGIN"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "outside any function"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n"
            "    ### END SOLUTION\n",
            "nested",
        ),
    ],
)
def test_bad_markers_are_rejected(bad, rule):
    with pytest.raises(ValueError, match=rule):
        strip_solutions(bad)
