"""Pictures for the course: filter grids, activation maps, a conv-demo stepper, training curves.

Every plotting function returns a :class:`matplotlib.figure.Figure` built without pyplot, so
nothing is drawn twice in a notebook (the figure shows when it is the cell's value) and no
GUI backend is needed (tests run with Agg). Pass ``ax`` where offered to draw into an
existing figure instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cs231n_lib import _validate

__all__ = [
    "visualize_grid",
    "show_filters",
    "show_activation_maps",
    "ConvDemoStep",
    "conv_demo_steps",
    "plot_conv_demo_step",
    "plot_history",
    "LivePlot",
]


def visualize_grid(Xs: np.ndarray, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Tile N images into one roughly square grid, each rescaled to [0, ubound].

    Args:
        Xs: images, shape (N, H, W, C) (channels last, as imshow wants them).
        ubound: every image is scaled independently to span [0, ubound].
        padding: pixels of zeros between neighbouring images.

    Returns:
        grid: (G*H + (G-1)*padding, G*W + (G-1)*padding, C) with G = ceil(sqrt(N)), float64.
    """
    _validate.array(Xs, "Xs", ndim=4, layout="(N, H, W, C)")
    ubound = _validate.positive_real(ubound, "ubound")
    padding = _validate.nonnegative_int(padding, "padding")
    N, H, W, C = Xs.shape
    G = int(np.ceil(np.sqrt(N)))
    grid = np.zeros((G * H + (G - 1) * padding, G * W + (G - 1) * padding, C))
    for k in range(N):
        r, c = divmod(k, G)
        img = Xs[k].astype(np.float64)
        low, high = img.min(), img.max()
        scaled = (img - low) / (high - low) * ubound if high > low else np.zeros_like(img)
        y0, x0 = r * (H + padding), c * (W + padding)
        grid[y0 : y0 + H, x0 : x0 + W] = scaled
    return grid


def show_filters(
    w: np.ndarray, ax: Axes | None = None, title: str | None = "first-layer filters"
) -> Figure:
    """Draw convolution filters (F, C, HH, WW) as a grid of small images.

    Three input channels are shown in colour (RGB); one channel in grey; any other count
    is shown as the mean over channels, in grey. Each filter is scaled to its own range, so
    the picture shows patterns (oriented edges, colour blobs), not magnitudes.

    Returns:
        The figure (``ax.figure`` when ``ax`` is given).
    """
    _validate.array(w, "w", ndim=4, layout="(F, C, HH, WW)")
    C = w.shape[1]
    imgs = w.transpose(0, 2, 3, 1) if C == 3 else w.mean(axis=1)[..., None]
    grid = visualize_grid(imgs, ubound=1.0)
    fig, ax = _figure_axes(ax, figsize=(5, 5))
    if C == 3:
        ax.imshow(grid)
    else:
        ax.imshow(grid[..., 0], cmap="gray")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def show_activation_maps(
    maps: np.ndarray, ncols: int = 8, title: str | None = "activation maps", cmap: str = "gray"
) -> Figure:
    """Draw each channel of an activation volume as its own image.

    Args:
        maps: (C, H, W), or (1, C, H, W) for a batch of one image.
        ncols: images per row.

    Returns:
        The figure, one panel per channel titled with its index.
    """
    _validate.array(maps, "maps")
    if maps.ndim == 4:
        if maps.shape[0] != 1:
            raise ValueError(
                f"maps must be (C, H, W) or a batch of one (1, C, H, W), got {maps.shape}"
            )
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"maps must be (C, H, W) or (1, C, H, W), got shape {maps.shape}")
    ncols = _validate.positive_int(ncols, "ncols")
    C = maps.shape[0]
    ncols = min(ncols, C)
    nrows = int(np.ceil(C / ncols))
    fig = Figure(figsize=(1.6 * ncols, 1.6 * nrows + (0.4 if title else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < C:
            ax.imshow(maps[k], cmap=cmap)
            ax.set_title(str(k), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


@dataclass
class ConvDemoStep:
    """One position of a filter over the padded input, as the conv demo shows it.

    ``value = sum(window * filter) + bias`` is output ``out[f, i, j]``.

    Attributes:
        f, i, j: output channel, row, column.
        row, col: top-left corner of the window in the padded input.
        window: (C, HH, WW) slice of the padded input.
        filter: (C, HH, WW) weights of filter ``f``.
        bias: b[f].
        products: ``window * filter`` elementwise, (C, HH, WW).
        value: the output value.
        x_padded: the whole padded input (C, H + 2P, W + 2P).
        out: (F, H', W') outputs computed so far (this one included); NaN for the rest.
    """

    f: int
    i: int
    j: int
    row: int
    col: int
    window: np.ndarray
    filter: np.ndarray
    bias: float
    products: np.ndarray
    value: float
    x_padded: np.ndarray
    out: np.ndarray


def conv_demo_steps(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> Iterator[ConvDemoStep]:
    """Yield every window position of a convolution, filter by filter, row by row.

    The notes' demo: a 5x5x3 input (here (3, 5, 5)), K = 2 filters 3x3, S = 2, P = 1 gives
    a 3x3x2 output, i.e. 18 steps.

    Args:
        x: one image (C, H, W), or a batch of one (1, C, H, W).
        w: filters (F, C, HH, WW); b: biases (F,).
        conv_param: ``{'stride': S, 'pad': P}``.

    Yields:
        :class:`ConvDemoStep` for each (f, i, j) in that order.
    """
    _validate.array(x, "x")
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"x must be one image (C, H, W) or (1, C, H, W), got shape {x.shape}")
    _validate.array(w, "w", ndim=4, layout="(F, C, HH, WW)")
    _validate.array(b, "b", ndim=1, layout="(F,)")
    cp = _validate.params(conv_param, "conv_param", ("stride", "pad"))
    C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C:
        raise ValueError(f"w has {Cw} channels but x has C = {C}; filters span the full depth")
    if b.shape[0] != F:
        raise ValueError(f"b has {b.shape[0]} entries but there are F = {F} filters")
    S, P = cp["stride"], cp["pad"]
    Ho = _validate.output_length(H, HH, S, P, axis="height")
    Wo = _validate.output_length(W, WW, S, P, axis="width")
    xp = np.zeros((C, H + 2 * P, W + 2 * P), dtype=np.float64)
    xp[:, P : P + H, P : P + W] = x
    out = np.full((F, Ho, Wo), np.nan)
    for f in range(F):
        filt = w[f].astype(np.float64)
        for i in range(Ho):
            for j in range(Wo):
                r, c = i * S, j * S
                window = xp[:, r : r + HH, c : c + WW].copy()
                products = window * filt
                value = float(products.sum() + b[f])
                out[f, i, j] = value
                yield ConvDemoStep(
                    f, i, j, r, c, window, filt.copy(), float(b[f]), products, value,
                    xp, out.copy(),
                )


def _figure_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize)
        return fig, fig.add_subplot()
    return ax.figure, ax


def _matrix(ax: Axes, m: np.ndarray, title: str, box: tuple[int, int, int, int] | None = None,
            cmap: str = "Blues", vlim: tuple[float, float] | None = None) -> None:
    """Draw a small matrix with its numbers; ``box`` = (row, col, height, width) outlined.

    ``vlim = (vmin, vmax)`` fixes the colour scale, so that panels drawn with the same limits
    can be compared by colour (the default scales each panel to its own range)."""
    shown = np.where(np.isnan(m), 0.0, m)
    vmin, vmax = vlim if vlim is not None else (None, None)
    ax.imshow(shown, cmap=cmap, alpha=0.35, vmin=vmin, vmax=vmax)
    for (r, c), v in np.ndenumerate(m):
        text = "" if np.isnan(v) else f"{v:g}"
        ax.text(c, r, text, ha="center", va="center", fontsize=8)
    if box is not None:
        r, c, h, w = box
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, ec="red", lw=2))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def plot_conv_demo_step(step: ConvDemoStep, fig: Figure | None = None) -> Figure:
    """Draw one :class:`ConvDemoStep`: padded input with the window, the filter, the output.

    Rows are the input channels (input slice, then filter slice) and the output channels
    (rightmost column); the window and the output cell being computed are outlined in red.
    Labels use the code's NCHW indices (``x[0, c]``, ``w[f, c]``, ``out[0, f, i, j]``), and all
    panels of one kind (inputs, filters, outputs) share one colour scale.

    Args:
        step: from :func:`conv_demo_steps`.
        fig: a figure to draw into (cleared first), e.g. to animate in a notebook.
    """
    if not isinstance(step, ConvDemoStep):
        raise ValueError("step must be a ConvDemoStep from conv_demo_steps")
    C, HH, WW = step.filter.shape
    F = step.out.shape[0]
    rows = max(C, F)
    if fig is None:
        fig = Figure(figsize=(9, 2.6 * rows))
    else:
        fig.clear()
    axes = fig.subplots(rows, 3, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    def limits(a: np.ndarray) -> tuple[float, float]:
        finite = a[np.isfinite(a)]
        if finite.size == 0:
            return (0.0, 1.0)
        lo, hi = float(finite.min()), float(finite.max())
        return (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)

    x_lim, w_lim, o_lim = limits(step.x_padded), limits(step.filter), limits(step.out)
    for c in range(C):
        for ax in axes[c, :2]:
            ax.set_axis_on()
        _matrix(axes[c, 0], step.x_padded[c], f"input x[0, {c}] (padded)",
                (step.row, step.col, HH, WW), vlim=x_lim)
        _matrix(axes[c, 1], step.filter[c], f"filter w[{step.f}, {c}]", cmap="Oranges",
                vlim=w_lim)
    for f in range(F):
        axes[f, 2].set_axis_on()
        box = (step.i, step.j, 1, 1) if f == step.f else None
        _matrix(axes[f, 2], step.out[f], f"output out[0, {f}]", box, cmap="Greens", vlim=o_lim)
    per_channel = " + ".join(f"{s:g}" for s in step.products.sum(axis=(1, 2)))
    fig.suptitle(
        f"out[0, {step.f}, {step.i}, {step.j}] = {per_channel} + b[{step.f}] ({step.bias:g}) "
        f"= {step.value:g}",
        fontsize=11,
    )
    return fig


def plot_history(
    loss_history: Sequence[float],
    train_acc_history: Sequence[float] = (),
    val_acc_history: Sequence[float] = (),
    fig: Figure | None = None,
) -> Figure:
    """Loss per iteration (left) and train / validation accuracy per epoch (right).

    ``plot_history(solver.loss_history, solver.train_acc_history, solver.val_acc_history)``.
    """
    loss = np.asarray(loss_history, dtype=np.float64)
    if fig is None:
        fig = Figure(figsize=(10, 3.5))
    else:
        fig.clear()
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(np.arange(1, loss.size + 1), loss, lw=0.8)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss")
    epochs = np.arange(1, len(train_acc_history) + 1)
    if len(train_acc_history):
        ax_acc.plot(epochs, train_acc_history, "o-", label="train")
    if len(val_acc_history):
        ax_acc.plot(np.arange(1, len(val_acc_history) + 1), val_acc_history, "o-", label="val")
        ax_acc.legend()
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.02)
    fig.tight_layout()
    return fig


class LivePlot:
    """A Solver callback that redraws :func:`plot_history` after every epoch.

    In Jupyter the previous picture is replaced (``IPython.display``); elsewhere the figure
    is just updated and kept in ``self.fig``.

    Example::

        Solver(model, data, callback=LivePlot()).train()
    """

    def __init__(self) -> None:
        self.fig = Figure(figsize=(10, 3.5))
        self._handle: Any = None

    def __call__(self, solver: Any) -> None:
        plot_history(
            solver.loss_history, solver.train_acc_history, solver.val_acc_history, self.fig
        )
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:
            return
        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)
