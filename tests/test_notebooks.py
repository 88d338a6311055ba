"""The course notebooks: stored clean, valid nbgrader metadata, execute, show the syllabus numbers.

Structure tests read the stored ``.ipynb`` files (fast). Execution tests run every instructor
notebook from a clean kernel with nbclient (marked ``notebooks`` and ``slow``); the syllabus
tests then look for each number of SYLLABUS.md in the executed output, with the expected text
derived here by an independent computation, and check that the number is not typed into a code
cell (it must be computed by ``cs231n_lib``).
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import notebook_order
import pytest

from grader.checks import registry

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"

#: The course, in order (CONTRIBUTING.md "Notebooks").
COURSE = (
    "00_history",
    "01_fc_vs_conv",
    "02_local_connectivity",
    "03_parameter_sharing",
    "04_im2col",
    "05_pooling",
    "06_fc_to_conv",
    "07_architectures",
    "08_training",
    "09_modern_blocks",
)
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
COURSE_NOTEBOOKS = [p for p in NOTEBOOKS if p.stem in COURSE]
CELL_TIMEOUT = 120  # seconds per cell
GRADE_CALL = re.compile(r"""^\s*grade\(\s*["'](\w+)["']\s*\)\s*;?\s*$""")
CHECK_CALL = re.compile(r"""^\s*check\(\s*["'](\w+)["']\s*\)\s*;?\s*$""")
CHINESE_TERMS = {
    "filter": "卷积核", "receptive field": "感受野", "stride": "步长", "zero padding": "零填充",
    "parameter sharing": "参数共享", "local connectivity": "局部连接", "pooling": "池化",
    "activation map": "激活映射", "depth column": "深度列", "fully connected layer": "全连接层",
    "dilated convolution": "空洞卷积",
}


def _ids(paths):
    return [p.stem for p in paths]


def load(path: Path):
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


# ------------------------------------------------------------------------------- structure


def test_there_are_notebooks_and_they_follow_the_naming():
    assert [p.stem for p in NOTEBOOKS] == list(COURSE), "notebooks/ must hold exactly 00–09"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_valid_nbformat_and_kernel(path):
    nb = load(path)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5), "nbformat 4.5 or later (cell ids)"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_stored_without_outputs(path):
    nb = load(path)
    dirty = [
        cell.get("id", i)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"cells with outputs or execution counts (clear them): {dirty}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_unique_cell_ids(path):
    ids = [cell.get("id") for cell in load(path).cells]
    assert all(ids), "every cell needs an id"
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate cell ids: {dupes}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_title_and_locked_setup_cell(path):
    cells = load(path).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.lstrip().startswith("# ")
    assert "cs231n_lib" in cells[0].source, "the first cell names the library functions to write"
    setup = cells[1]
    meta = nbgrader_meta(setup)
    assert setup.cell_type == "code"
    assert meta.get("grade_id") == "setup" and meta.get("locked") is True
    assert meta.get("grade") is False and meta.get("solution") is False
    required = ("%load_ext autoreload", "%autoreload 2", "from grader.checks import check, grade")
    for line in required:
        assert line in setup.source, f"setup cell lacks {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_nbgrader_metadata(path):
    cells = load(path).cells
    grade_ids: list[str] = []
    for cell in cells:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        where = f"{path.name} cell {cell.get('id')}"
        assert meta.get("schema_version") == 3, where
        assert isinstance(meta.get("grade_id"), str) and meta["grade_id"], where
        assert re.fullmatch(r"[A-Za-z0-9_-]+", meta["grade_id"]), where
        grade_ids.append(meta["grade_id"])
        is_grade, is_solution = bool(meta.get("grade")), bool(meta.get("solution"))
        if is_grade and meta["grade_id"].startswith(registry.GRADE_ID_PREFIX):
            assert "points" not in meta, f"{where}: the release writes these points from TABLE"
        elif is_grade:
            points = meta.get("points")
            assert isinstance(points, int | float) and points > 0, f"{where}: needs points"
        if is_grade and not is_solution:
            assert cell.cell_type == "code", f"{where}: autograded tests are code cells"
            assert meta.get("locked") is True, f"{where}: test cells are locked"
        if is_solution:
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, where
            assert cell.source.index("### BEGIN SOLUTION") < cell.source.index("### END SOLUTION")
        if cell.cell_type == "markdown" and is_grade:
            assert is_solution, f"{where}: a written question is a grade + solution cell"
        hidden = (cell.source.count("### BEGIN HIDDEN TESTS"),
                  cell.source.count("### END HIDDEN TESTS"))
        assert hidden[0] == hidden[1] <= 1, f"{where}: unbalanced hidden-test markers"
        if hidden[0]:
            assert is_grade and not is_solution, f"{where}: hidden tests belong in test cells"
    dupes = sorted({g for g in grade_ids if grade_ids.count(g) > 1})
    assert not dupes, f"{path.name}: duplicate grade_ids {dupes}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_library_checks_match_the_registry(path):
    """``check_<fn>`` grade cells call ``grade("<fn>")``, follow a visible ``check("<fn>")``,
    and name a function of the registry (whose points the release writes)."""
    cells = load(path).cells
    seen_checks: set[str] = set()
    graded: set[str] = set()
    for cell in cells:
        if cell.cell_type != "code":
            continue
        match = CHECK_CALL.match(cell.source)
        if match:
            assert not nbgrader_meta(cell), "visible check cells carry no nbgrader metadata"
            seen_checks.add(match.group(1))
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id", "")
        if not gid.startswith("check_"):
            continue
        fn = gid[len("check_"):]
        match = GRADE_CALL.match(cell.source)
        assert match and match.group(1) == fn, f"{gid}: source must be grade({fn!r})"
        assert fn in seen_checks, f"{gid}: a visible check({fn!r}) cell must come first"
        assert meta.get("grade") is True and meta.get("solution") is False
        graded.add(fn)
        assert fn in registry.names(), f"{gid}: {fn} is not in grader.checks.registry"
    mine = {n for n in registry.names() if Path(registry.get(n).notebook).name == path.name}
    assert mine <= graded, f"{path.name} lacks grade cells for {sorted(mine - graded)}"


NEW_TERMS_09 = {"batch normalization": "批量归一化", "skip connection": "跳跃连接",
                "residual block": "残差块", "global average pooling": "全局平均池化"}


def test_notebook_09_gives_chinese_terms_at_first_use():
    """Each new term of 09 appears with its Chinese word in the cell where it first appears."""
    cells = [c.source for c in load(NB_DIR / "09_modern_blocks.ipynb").cells
             if c.cell_type == "markdown"]
    for english, chinese in NEW_TERMS_09.items():
        first = next(c for c in cells if english in c.lower().replace("-", " ")
                     or english.replace("normalization", "normalisation") in c.lower())
        assert chinese in first, f"09: {english} first appears without {chinese}"


def test_glossary_in_notebook_00():
    path = NB_DIR / "00_history.ipynb"
    text = "\n".join(c.source for c in load(path).cells if c.cell_type == "markdown")
    tables = [line for line in text.splitlines() if line.startswith("|")]
    for english, chinese in CHINESE_TERMS.items():
        assert any(english in row.lower() and chinese in row for row in tables), (
            f"glossary row for {english} / {chinese} missing"
        )


#: The seed translation's own words, each in a glossary row of notebook 00 (SYLLABUS.md).
SEED_TERMS = {
    "filter": "滤波器", "feature map": "特征映射", "depth slice": "深度切片", "fibre": "纤维",
    "volume": "数据体", "downsampling": "降采样", "pooling": "汇聚",
    "dilated convolution": "扩张卷积",
    "switches": "道岔", "overlapping pooling": "重叠汇聚", "average pooling": "平均池化",
    "normalisation layer": "归一化层", "batch normalisation": "批量归一化",
    "skip connection": "跳跃连接",
}


def test_glossary_holds_the_seed_words():
    path = NB_DIR / "00_history.ipynb"
    text = "\n".join(c.source for c in load(path).cells if c.cell_type == "markdown")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for english, chinese in SEED_TERMS.items():
        assert any(english in row.lower() and chinese in row for row in rows), (
            f"glossary row for {english} / {chinese} missing"
        )


def test_pooling_is_given_in_chinese_at_its_first_use():
    for path in COURSE_NOTEBOOKS:
        cells = [c.source for c in load(path).cells if c.cell_type == "markdown"]
        first = next((c for c in cells if "pooling" in c.lower() or "pooled" in c.lower()), None)
        if first is not None:
            assert "池化" in first, f"{path.name}: first mention of pooling lacks 池化"
            return
    pytest.fail("no notebook mentions pooling")


@pytest.mark.parametrize(
    "name, needles",
    [
        ("00_history", ["Krizhevsky", "Sutskever", "Alex Acero", "Linnainmaa", "Werbos",
                        "Rumelhart", "< 0", "\\mathbf w\\cdot\\mathbf z"]),
        ("02_local_connectivity", ["227", "224"]),
        ("07_architectures", ["Szegedy", "Szeged\"", "MiB", "77.07 MB", "73.50 MiB"]),
        ("06_fc_to_conv", ["6×6×256", "VGG-16", "4096 neurons"]),
    ],
)
def test_errata_boxes(name, needles):
    path = NB_DIR / f"{name}.ipynb"
    boxes = "\n".join(
        c.source for c in load(path).cells
        if c.cell_type == "markdown" and "**Erratum.**" in c.source
    )
    assert boxes, f"{name}: no '> **Erratum.**' box"
    for needle in needles:
        assert needle in boxes, f"{name}: the errata do not mention {needle}"


# ------------------------------------------------------------------------------- execution


#: Learner functions each executed notebook called (recorded by notebook_order's tracer).
LEARNER_CALLS: dict[str, set[str]] = {}


@functools.cache
def executed(name: str):
    """Run notebooks/<name>.ipynb from a clean kernel (cwd notebooks/); cached per process.

    A tracer cell runs first and a report cell last (both removed again before the notebook is
    returned): they record in :data:`LEARNER_CALLS` which learner functions the notebook ran.
    """
    from nbclient import NotebookClient

    nb = load(NB_DIR / f"{name}.ipynb")
    nb.cells.insert(0, nbformat.v4.new_code_cell(notebook_order.tracer_cell()))
    nb.cells.append(nbformat.v4.new_code_cell(notebook_order.report_cell()))
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(NB_DIR)}},
    )
    client.execute()
    tracer, report = nb.cells.pop(0), nb.cells.pop()
    assert not tracer.outputs, f"the tracer cell printed or failed: {tracer.outputs}"
    LEARNER_CALLS[name] = notebook_order.calls_from_output(output_text_of([report]))
    return nb


def output_text(nb) -> str:
    return output_text_of(nb.cells)


def output_text_of(cells) -> str:
    parts = []
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
                parts.append(out["data"].get("text/markdown", ""))
    return "\n".join(parts)


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=_ids(COURSE_NOTEBOOKS))
def test_instructor_notebook_executes(path):
    nb = executed(path.stem)
    errors = [
        (cell.get("id"), out.get("ename"))
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if out.get("output_type") == "error"
    ]
    assert not errors, errors
    stderr = [
        (cell.get("id"), out.get("text", "")[:200])
        for cell in nb.cells if cell.cell_type == "code" and nbgrader_meta(cell).get("grade")
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]
    assert not stderr, f"grade cells wrote to stderr (nbgrader then scores them 0): {stderr}"
    text = output_text(nb)
    assert not re.search(r"^FAIL \S", text, re.M), "a visible check fails on the reference"
    assert "not written yet" not in text, "a reference function is still a stub"


# ------------------------------------------------------------------------ order of the course


def _later(name: str, functions: set[str]) -> dict[str, str]:
    """Those of ``functions`` whose exercise comes after notebook ``name``, with its notebook."""
    here = COURSE.index(name)
    return {fn: notebook_order.exercise_notebook(fn) for fn in sorted(functions)
            if COURSE.index(notebook_order.exercise_notebook(fn)) > here}


def test_every_exercise_belongs_to_a_notebook_of_the_course():
    assert {notebook_order.exercise_notebook(fn) for fn in registry.names()} <= set(COURSE)


@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=_ids(COURSE_NOTEBOOKS))
def test_no_notebook_names_a_later_exercise(path):
    """Walking the course in order, no code cell names a learner function of a later notebook
    (a learner who has not got there yet has only its stub)."""
    named = {
        (cell.get("id"), fn)
        for cell in load(path).cells if cell.cell_type == "code"
        for fn in notebook_order.named_exercises(cell.source)
    }
    later = {(cell, fn, where) for cell, fn in named
             for where in _later(path.stem, {fn}).values()}
    assert not later, f"{path.name} names exercises of later notebooks: {sorted(later)}"


def test_named_exercises_sees_imports_calls_and_attributes():
    source = ("%autoreload 2\nfrom cs231n_lib.layers import affine_forward\n"
              "out = layers.relu_forward(x)\nnet = ThreeLayerConvNet()\n"
              "# softmax_loss in a comment")
    assert notebook_order.named_exercises(source) == {
        "affine_forward", "relu_forward", "ThreeLayerConvNet"}
    assert _later("07_architectures", {"affine_forward", "conv_forward_naive"}) == {
        "affine_forward": "08_training"}


def test_tracer_records_calls_made_through_provided_code():
    """The pattern builder's ``loss`` (provided) runs the learner's layers: the tracer, run as
    a notebook's first cell would be, records them, and a plain provided call records nothing."""
    script = notebook_order.tracer_cell() + textwrap.dedent(f"""
        import sys
        import numpy as np
        from cs231n_lib.net_builder import build_network
        net = build_network("INPUT -> CONV -> RELU -> FC", input_dim=(1, 4, 4), num_filters=2,
                            seed=0)
        print(net.describe())
        assert not sys._learner_calls, sys._learner_calls
        net.loss(np.zeros((2, 1, 4, 4)), np.array([0, 1]))
        {notebook_order.report_cell()}
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=NB_DIR)
    assert done.returncode == 0, done.stderr
    assert notebook_order.calls_from_output(done.stdout) == {
        "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"}


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=_ids(COURSE_NOTEBOOKS))
def test_no_notebook_runs_a_later_exercise(path):
    """What a notebook *runs*, through provided code too (``net.loss`` of the pattern builder
    runs notebook 08's layers), uses only exercises of this notebook or earlier ones."""
    executed(path.stem)
    called = LEARNER_CALLS[path.stem]
    own = {fn for fn in registry.names() if notebook_order.exercise_notebook(fn) == path.stem}
    # The tracer sees calls: every notebook with exercises runs its own checks.
    assert own <= called, f"the tracer missed {sorted(own - called)} in {path.name}"
    later = _later(path.stem, called)
    assert not later, f"{path.name} runs exercises of later notebooks: {later}"


def _out(W: int, F: int, S: int, P: int = 0):
    """(W + 2P - F)/S + 1, as a fraction when it is not whole (independent of cs231n_lib)."""
    q, r = divmod(W + 2 * P - F, S)
    return q + 1 if r == 0 else (W + 2 * P - F) / S + 1


def _vgg_first_block_share() -> float:
    """(conv1_1 + conv1_2 + pool1) / all VGG-16 rows (input + every stored volume)."""
    block = 2 * 224 * 224 * 64 + 112 * 112 * 64
    convs = [(224, 64), (224, 64), (112, 128), (112, 128), (56, 256), (56, 256), (56, 256),
             (28, 512), (28, 512), (28, 512), (14, 512), (14, 512), (14, 512)]
    pools = [(112, 64), (56, 128), (28, 256), (14, 512), (7, 512)]
    total = 224 * 224 * 3 + sum(s * s * d for s, d in convs + pools) + 4096 + 4096 + 1000
    return block / total


def _syllabus() -> dict[str, list[str]]:
    """Text each executed notebook must show, derived here without the library."""
    n_alex = _out(227, 11, 4)
    per_neuron = 11 * 11 * 3 + 1
    neurons = n_alex * n_alex * 96
    ratio_224 = _out(224, 11, 4)
    n_demo = _out(5, 3, 2, 1)
    return {
        "00_history": ["converged: True", "converged: False",
                       f"= {1 - 15.3 / 26.2:.1%}", f"= {1 - 16.4 / 26.2:.1%}"],
        "01_fc_vs_conv": [
            f"{32 * 32 * 3:,}", f"{200 * 200 * 3:,}", f"10 x {32 * 32 * 3}",
            f"{5 * 5 * 3} weights + 1 bias = {5 * 5 * 3 + 1}",
            f"{_out(32, 5, 1)}x{_out(32, 5, 1)}x1", f"{_out(32, 5, 1)}x{_out(32, 5, 1)}x6",
            f"{_out(32, 3, 1, 1)}x{_out(32, 3, 1, 1)}x12", "16x16x12", "1x1x10",
        ],
        "02_local_connectivity": [
            f"= {_out(7, 3, 1)}  ->  5x5", f"= {_out(7, 3, 2)}  ->  3x3",
            f"{_out(7, 3, 3):.2f}", f"= {_out(7, 3, 1, 1)}  ->  7x7",
            f"{_out(32, 5, 1, 2)}x{_out(32, 5, 1, 2)}x10", f"= {10 * (5 * 5 * 3 + 1)}",
            f"{32 * 32 * 10:,}", f"{n_alex}x{n_alex}x96", f"{ratio_224:.2f}",
        ],
        "03_parameter_sharing": [
            f"{neurons:,}", f"= {per_neuron}", f"{neurons * per_neuron:,}",
            f"{96 * per_neuron:,}", f"{n_demo}x{n_demo}x2",
        ],
        "04_im2col": [
            f"{11 * 11 * 3} x {n_alex * n_alex}", f"96 x {11 * 11 * 3}",
            f"96 x {n_alex * n_alex}", f"{n_alex}x{n_alex}x96",
            str([3, 5, 7]), str([3, 3 + 2 * 2, 3 + 2 * 2 + 2 * 4]),
        ],
        "05_pooling": [
            f"{_out(224, 2, 2)}x{_out(224, 2, 2)}x64 = {_out(224, 2, 2) ** 2 * 64:,}",
            f"1/{2 * 2} = {100 // (2 * 2)}%", f"{_out(224, 3, 2)}",
        ],
        "06_fc_to_conv": [
            f"224 / 2^5 = 224 / {2 ** 5} = {224 // 2 ** 5}",
            f"{_out(12, 7, 1)}x{_out(12, 7, 1)}x1000", f"{_out(12, 7, 1) ** 2} separate",
        ],
        "07_architectures": [
            str([3, 3 + 2, 3 + 2 + 2]), f"{3 * 3 * 3} C^2", f"{7 * 7} C^2",
            f"{3 * 224 * 224 * 64:,}", f"{ratio_224:.2f}",
            # published totals (independent of this library): torchvision AlexNet, VGG-16,
            # ResNet-50, and VGG-16's activation rows as the syllabus sums them
            "61,100,840", "138,357,544", "15,237,608", "25,557,032",
            # conv1_1 + conv1_2 + pool1 of VGG-16 over the rows' total (input included)
            f"conv1_1 + conv1_2 + pool1 hold {_vgg_first_block_share():.1%} of the activations",
            # three 224x224x64 volumes with gradients, float32, in both units
            f"{3 * 224 * 224 * 64 * 8 / 1e6:.2f} MB (decimal",
            f"{3 * 224 * 224 * 64 * 8 / 2**20:.2f} MiB (binary",
            # the demo net: 17 layers after the input
            "layers after the input: 17",
        ],
        "08_training": ["target >= 95%: reached"],
        # torchvision's published parameter counts (model cards), and the measured claims
        "09_modern_blocks": [
            "11,689,512", "21,797,672", "25,557,032",
            "deep plain ends above shallow plain (degradation): True",
            "residual ends lower than plain at the same depth: True",
            "batch norm ends lower at lr 0.5: True",
            "test mode: image 0 alone gives the same output as inside its batch: True",
        ],
    }


SYLLABUS = _syllabus()
SYLLABUS_NOTEBOOKS = [p for p in COURSE_NOTEBOOKS if p.stem in SYLLABUS]

#: Distinctive syllabus numbers that must never be typed into a code cell.
TYPED_FORBIDDEN = {
    "01_fc_vs_conv": [3072, 120000],
    "02_local_connectivity": [760, 10240],
    "03_parameter_sharing": [290400, 105705600, 34944],
    "04_im2col": [363, 3025],
    "07_architectures": [138357544, 61100840, 25557032, 15237608, 9633792],
    "09_modern_blocks": [11689512, 21797672, 25557032],
}


@pytest.mark.parametrize("path", SYLLABUS_NOTEBOOKS, ids=_ids(SYLLABUS_NOTEBOOKS))
def test_syllabus_numbers_are_not_typed_in(path):
    code = "\n".join(c.source for c in load(path).cells if c.cell_type == "code")
    for number in TYPED_FORBIDDEN.get(path.stem, []):
        for text in {str(number), f"{number:,}", f"{number:_}"}:
            assert not re.search(rf"(?<![\d,_]){re.escape(text)}(?![\d,_])", code), (
                f"{path.name}: {text} is typed into a code cell; compute it with cs231n_lib"
            )


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", SYLLABUS_NOTEBOOKS, ids=_ids(SYLLABUS_NOTEBOOKS))
def test_syllabus_numbers_are_shown(path):
    text = output_text(executed(path.stem))
    missing = [needle for needle in SYLLABUS[path.stem] if needle not in text]
    assert not missing, f"{path.name}: executed output lacks {missing}"
