"""Filter grids, activation maps, the conv-demo stepper and training plots (Agg backend)."""

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from cs231n_lib.vis import (  # noqa: E402
    LivePlot,
    conv_demo_steps,
    plot_conv_demo_step,
    plot_history,
    show_activation_maps,
    show_filters,
    visualize_grid,
)


def renders(fig):
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()[:4] == b"\x89PNG"


def test_visualize_grid_layout_and_scaling(rng):
    Xs = rng.standard_normal((5, 4, 3, 2))
    grid = visualize_grid(Xs, ubound=1.0, padding=1)
    assert grid.shape == (3 * 4 + 2, 3 * 3 + 2, 2)  # ceil(sqrt(5)) = 3 per side
    first = grid[:4, :3]
    assert first.min() == 0 and first.max() == 1
    assert np.allclose(first, (Xs[0] - Xs[0].min()) / np.ptp(Xs[0]))
    assert np.all(grid[4, :] == 0)  # padding row
    with pytest.raises(ValueError, match="4 dimensions"):
        visualize_grid(Xs[0])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_show_filters(rng, channels):
    assert renders(show_filters(rng.standard_normal((6, channels, 5, 5))))


def test_show_filters_into_existing_axes(rng):
    fig = Figure()
    ax = fig.add_subplot()
    assert show_filters(rng.standard_normal((4, 3, 3, 3)), ax=ax) is fig


def test_show_activation_maps(rng):
    fig = show_activation_maps(rng.standard_normal((1, 10, 6, 6)), ncols=4)
    assert len([a for a in fig.axes if a.images]) == 10
    assert renders(fig)
    with pytest.raises(ValueError, match="batch of one"):
        show_activation_maps(rng.standard_normal((2, 3, 6, 6)))


def demo_inputs(rng):
    x = rng.integers(0, 3, (3, 5, 5)).astype(float)  # the notes' 5x5x3 volume
    w = rng.integers(-1, 2, (2, 3, 3, 3)).astype(float)  # K = 2 filters 3x3x3
    b = np.array([1.0, 0.0])
    return x, w, b


def test_conv_demo_steps_cover_the_3x3x2_output(rng):
    x, w, b = demo_inputs(rng)
    steps = list(conv_demo_steps(x, w, b, {"stride": 2, "pad": 1}))
    assert len(steps) == 18  # (5 + 2 - 3)/2 + 1 = 3, so 3 x 3 x 2
    # independent oracle: all 3x3 windows of the padded input, every second one
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(xp, (3, 3), axis=(1, 2))[:, ::2, ::2]  # (C, 3, 3, HH, WW)
    expected = np.einsum("cijkl,fckl->fij", windows, w) + b[:, None, None]
    final = steps[-1].out
    assert np.array_equal(final, expected)
    for s in steps:
        assert s.value == expected[s.f, s.i, s.j]
        assert s.value == pytest.approx(s.products.sum() + s.bias)
        assert (s.row, s.col) == (2 * s.i, 2 * s.j)
        assert np.array_equal(s.window, xp[:, s.row : s.row + 3, s.col : s.col + 3])
    assert [(s.f, s.i, s.j) for s in steps[:4]] == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)]
    assert np.isnan(steps[0].out).sum() == 17  # only the first output is known yet


def test_conv_demo_steps_validate(rng):
    x, w, b = demo_inputs(rng)
    with pytest.raises(ValueError, match="2.33 is not a whole number"):
        list(conv_demo_steps(x, w, b, {"stride": 3, "pad": 1}))  # (5 + 2 - 3)/3 + 1
    with pytest.raises(ValueError, match="w has 2 channels"):
        list(conv_demo_steps(x, w[:, :2], b, {"stride": 2, "pad": 1}))
    with pytest.raises(ValueError, match="missing"):
        list(conv_demo_steps(x, w, b, {"stride": 2}))


def test_plot_conv_demo_step(rng):
    x, w, b = demo_inputs(rng)
    steps = list(conv_demo_steps(x[None], w, b, {"stride": 2, "pad": 1}))
    fig = plot_conv_demo_step(steps[4])
    assert renders(fig)
    assert "out[0, 0, 1, 1]" in fig._suptitle.get_text()
    again = plot_conv_demo_step(steps[5], fig=fig)  # redraw in place, as an animation does
    assert again is fig and "out[0, 0, 1, 2]" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="ConvDemoStep"):
        plot_conv_demo_step("step")


def test_history_plots_and_live_callback():
    assert renders(plot_history([2.3, 1.0, 0.4], [0.5, 0.8], [0.4, 0.7]))

    class FakeSolver:
        loss_history = [2.0, 1.0]
        train_acc_history = [0.6]
        val_acc_history = [0.5]

    live = LivePlot()
    live(FakeSolver())  # outside IPython: just redraws self.fig
    assert renders(live.fig)


def test_conv_demo_panels_share_one_colour_scale_per_kind(rng):
    x, w, b = demo_inputs(rng)
    step = list(conv_demo_steps(x[None], w, b, {"stride": 2, "pad": 1}))[0]
    fig = plot_conv_demo_step(step)
    by_kind: dict[str, set] = {}
    for ax in fig.axes:
        if ax.images:
            kind = ax.get_title().split()[0]  # "input", "filter" or "output"
            by_kind.setdefault(kind, set()).add(ax.images[0].get_clim())
    assert set(by_kind) == {"input", "filter", "output"}
    assert all(len(clims) == 1 for clims in by_kind.values()), by_kind
