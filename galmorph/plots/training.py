"""Figures of a trained model: learning curves, first-layer kernels, predictions."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from galmorph.errors import DataError
from galmorph.plots._inputs import answer_title, as_fractions, save_figure, new_figure, \
    question_grid, resolve_answers
from galmorph.rundir import RunDir, read_metrics_file

__all__ = ["PAPER_VAL_RMSE", "read_metrics_csv", "plot_loss_curves", "first_conv",
           "plot_conv_kernels", "plot_predicted_vs_true"]

#: Validation RMSE the paper reports for each model (README, "models").
PAPER_VAL_RMSE = {"cnn": 0.145, "resnet18": 0.126, "resnet18-tailored": 0.11}

# Columns plot_loss_curves needs; metrics.csv (galmorph.rundir.METRICS_COLUMNS)
# holds these and more.
_NEEDED = ("epoch", "train_rmse", "val_rmse", "lr")


def read_metrics_csv(run_dir_or_csv):
    """Read a run's ``metrics.csv`` into a dict of ``float64`` arrays, checking it.

    Parameters
    ----------
    run_dir_or_csv : path-like
        A run directory (written by :func:`galmorph.training.train`) or
        the ``metrics.csv`` file itself.

    Returns
    -------
    dict
        Column name -> array, one entry per epoch, and ``"path"``.

    Raises
    ------
    DataError
        The file is missing, empty, lacks a needed column or holds a value
        that is not a number (the row and column are named).
    """
    path = Path(run_dir_or_csv)
    if path.is_dir():
        path = RunDir(path).metrics_file
    if not path.is_file():
        raise DataError(f"{path} does not exist; give a run directory written by 'galmorph "
                        f"train' (after its first epoch) or its metrics.csv")
    header, columns = read_metrics_file(path, needed=_NEEDED)
    if not header:
        raise DataError(f"{path} is empty: the run has not finished an epoch yet")
    if not columns["epoch"]:
        raise DataError(f"{path} has a header but no epochs: the run has not finished an "
                        f"epoch yet")
    out = {c: np.asarray(v) for c, v in columns.items()}
    out["path"] = path
    return out


def _paper_names(paper):
    names = list(PAPER_VAL_RMSE) if paper is True else [paper] if isinstance(paper, str) \
        else list(paper)
    unknown = [p for p in names if p not in PAPER_VAL_RMSE]
    if unknown:
        raise ValueError(f"no paper value for {', '.join(map(repr, unknown))}; choose from "
                         f"{', '.join(PAPER_VAL_RMSE)}")
    return names


def _reference_lines(ax, baseline, paper, color="k"):
    """Horizontal lines: the mean-label baseline and the paper's validation RMSEs."""
    if baseline is not None:
        ax.axhline(float(baseline), color="0.45", ls="--", lw=1,
                   label=f"mean baseline {float(baseline):.3f}")
    styles = [":", "-.", (0, (1, 4))]
    for k, name in enumerate(_paper_names(paper) if paper else []):
        ax.axhline(PAPER_VAL_RMSE[name], color=color, ls=styles[k % len(styles)], lw=1,
                   label=f"paper {name} {PAPER_VAL_RMSE[name]:g}")


def plot_loss_curves(run_dir_or_metrics_csv, *, baseline=None, paper=None, lr=True, label=None,
                     ax=None, filename=None):
    """Training and validation RMSE against epoch, with the learning rate.

    Parameters
    ----------
    run_dir_or_metrics_csv : path-like
        A run directory or its ``metrics.csv`` (columns ``epoch``,
        ``train_rmse``, ``val_rmse``, ``lr``, ...).
    baseline : float, optional
        RMSE of the mean-label baseline, drawn as a grey dashed line (e.g.
        ``evaluate(...)["baselines"]["mean"]``).
    paper : bool, str or sequence of str, optional
        Draw the paper's validation RMSE (:data:`PAPER_VAL_RMSE`): ``True``
        for all three models, or the model name(s) to show.
    lr : bool
        Plot the learning rate (log scale) on a twin y-axis.
    label : str, optional
        Prefix of the legend entries (``"cnn train"``), for comparing runs
        on one ``ax``: each call takes the next colour, training dashed and
        validation solid.
    ax : matplotlib.axes.Axes, optional
    filename : path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
        The RMSE axes is ``fig.axes[0]``; the learning-rate axes, if any,
        ``fig.axes[1]``.

    Examples
    --------
    >>> fig = plot_loss_curves("runs/cnn", baseline=0.163, paper="cnn")  # doctest: +SKIP
    >>> fig.savefig("runs/cnn/loss.png", dpi=150)                        # doctest: +SKIP
    """
    from matplotlib.ticker import MaxNLocator

    m = read_metrics_csv(run_dir_or_metrics_csv)
    fig = new_figure(ax=ax, figsize=(6.5, 4.0))
    ax = ax or fig.add_subplot()
    epoch = m["epoch"]
    # One colour per run drawn on this axes (reference lines are black/grey).
    color = f"C{sum(1 for line in ax.lines if line.get_label().endswith('validation'))}"
    prefix = f"{label} " if label else ""
    style = dict(marker="o" if len(epoch) <= 30 else None, ms=3, color=color)
    ax.plot(epoch, m["train_rmse"], ls="--", label=f"{prefix}train", **style)
    ax.plot(epoch, m["val_rmse"], label=f"{prefix}validation", **style)
    _reference_lines(ax, baseline, paper, color if label else "k")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE (37 weighted fractions)")
    ax.set_title(label or f"learning curves: {m['path'].parent.name}")
    handles, names = ax.get_legend_handles_labels()
    if lr:
        twin = ax.twinx()
        twin.step(epoch, m["lr"], where="mid", color=color, lw=1, alpha=0.5,
                  label=f"{prefix}learning rate")
        if np.all(m["lr"] > 0):
            twin.set_yscale("log")
        twin.set_ylabel("learning rate")
        h2, n2 = twin.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    ax.legend(handles, names, fontsize="small")
    return save_figure(fig, filename)


def first_conv(model):
    """The first ``Conv2d`` reading the 3 image channels (cnn ``features[0]``, resnet ``conv1``).

    ``model`` may be a galmorph model, a loaded
    :class:`~galmorph.models.checkpoint.Checkpoint` or a checkpoint path.
    """
    from torch import nn

    from galmorph.models.resolve import resolve_model

    model = resolve_model(model).model      # a path, a Checkpoint or a (wrapped) network
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            return module
    raise ValueError(f"{type(model).__name__} has no Conv2d layer reading 3 (RGB) channels")


def _kernel_mosaic(weight, ncols, normalize):
    """(C, 3, k, k) weights -> an (rows*(k+1)-1, ncols*(k+1)-1, 3) RGB mosaic in [0, 1]."""
    c, _, k, _ = weight.shape
    w = weight.transpose(0, 2, 3, 1)                                # (C, k, k, 3)
    if normalize == "each":
        lo = w.min(axis=(1, 2, 3), keepdims=True)
        hi = w.max(axis=(1, 2, 3), keepdims=True)
    else:
        lo, hi = w.min(), w.max()
    w = (w - lo) / np.maximum(hi - lo, 1e-12)
    nrows = -(-c // ncols)
    mosaic = np.ones((nrows * (k + 1) - 1, ncols * (k + 1) - 1, 3))  # white gaps
    for j in range(c):
        r, q = divmod(j, ncols)
        mosaic[r * (k + 1):r * (k + 1) + k, q * (k + 1):q * (k + 1) + k] = w[j]
    return mosaic


def plot_conv_kernels(model, *, ncols=8, normalize="each", ax=None, filename=None):
    """The first-layer convolution kernels of a model as RGB tiles.

    Each kernel's three input-channel weights become the red, green and blue
    of one tile, scaled to [0, 1] per kernel (``normalize="each"``) or over
    all kernels (``"all"``, which keeps their relative strength).

    Parameters
    ----------
    model : nn.Module, Checkpoint or path-like
        Any galmorph model (:func:`galmorph.models.build_model`), a loaded
        checkpoint or a checkpoint file.
    ncols : int
        Tiles per row.
    normalize : {"each", "all"}
    ax : matplotlib.axes.Axes, optional
    filename : path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
        The mosaic is ``fig.axes[0].images[0]``: kernel ``j`` sits at row
        ``j // ncols``, column ``j % ncols``, with 1-pixel white gaps.

    Examples
    --------
    >>> from galmorph.models import build_model
    >>> fig = plot_conv_kernels(build_model("cnn"))   # 32 kernels, 7x7
    >>> fig.axes[0].images[0].get_array().shape        # 4 x 8 tiles of 7 + 1 pixels
    (31, 63, 3)
    """
    if normalize not in ("each", "all"):
        raise ValueError(f"normalize must be 'each' or 'all', not {normalize!r}")
    conv = first_conv(model)
    weight = conv.weight.detach().float().cpu().numpy()            # (C, 3, k, k)
    ncols = max(1, min(int(ncols), weight.shape[0]))
    mosaic = _kernel_mosaic(weight, ncols, normalize)
    nrows = -(-weight.shape[0] // ncols)
    fig = new_figure(ax=ax, figsize=(0.75 * ncols + 0.5, 0.75 * nrows + 0.7))
    ax = ax or fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    k = weight.shape[2]
    ax.set_title(f"{weight.shape[0]} first-layer kernels ({k}x{k}, RGB)", fontsize="small")
    return save_figure(fig, filename)


def plot_predicted_vs_true(pred, true, answers=None, *, hexbin_above=2000, fig=None,
                           filename=None):
    """Predicted against true vote fraction, one panel per answer, with the 1:1 line.

    Each panel's title gives the answer and its RMSE over the galaxies,
    ``sqrt(mean((pred - true)**2))``. Above ``hexbin_above`` galaxies the
    points are binned (hexbin, log counts) instead of scattered.

    Parameters
    ----------
    pred, true : array-like (N, 37), astropy Table or DataFrame
        Predicted and true weighted fractions, row-aligned.
    answers : sequence, optional
        Kaggle columns, labels, indices or ``"Q<n>"``; default all 37.
    hexbin_above : int
    fig : matplotlib.figure.Figure, optional
    filename : path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per answer, laid out one row per question.

    Examples
    --------
    >>> pred = predict_arrays(ckpt.model, data.images)                # doctest: +SKIP
    >>> fig = plot_predicted_vs_true(pred, data.labels, ["Q1", "merger"])  # doctest: +SKIP
    >>> [ax.get_title() for ax in fig.axes][0]                         # doctest: +SKIP
    'Class1.1 smooth\\nRMSE 0.1342'
    """
    p = as_fractions(pred, "predictions")
    t = as_fractions(true, "labels")
    if p.shape != t.shape:
        raise DataError(f"predictions {p.shape} and labels {t.shape} must have the same shape "
                        f"(the same galaxies, row by row)")
    indices = resolve_answers(answers)
    fig, axes = question_grid(fig, indices, panel=(2.1, 2.2))
    many = len(p) > hexbin_above
    for i, ax in axes.items():
        rmse = float(np.sqrt(np.mean((p[:, i] - t[:, i]) ** 2)))
        if many:
            ax.hexbin(t[:, i], p[:, i], gridsize=30, extent=(0, 1, 0, 1), bins="log",
                      mincnt=1, cmap="viridis")
        else:
            ax.scatter(t[:, i], p[:, i], s=4, alpha=0.5, lw=0, color="C0")
        ax.plot([0, 1], [0, 1], color="k", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal")
        ax.set_title(f"{answer_title(i)}\nRMSE {rmse:.4f}", fontsize="small")
        ax.tick_params(labelsize="x-small")
    fig.supxlabel("true weighted fraction")
    fig.supylabel("predicted weighted fraction")
    return save_figure(fig, filename)
