"""Input checks and layout helpers shared by the figure functions.

Everything here turns what a user might pass (arrays, astropy Tables,
pandas DataFrames, cache objects, file paths) into plain NumPy arrays, or
fails with a :class:`~galmorph.errors.DataError` that names the argument,
row and column at fault. Answer names and column order come from
:mod:`galmorph.schema` only.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from galmorph import schema
from galmorph.errors import DataError

__all__ = ["as_fractions", "as_images", "resolve_answers", "answer_title", "new_figure",
           "question_grid", "save_figure"]

_QUESTION = re.compile(r"^[Qq](\d+)$")


def _table_columns(obj):
    """Column names of an astropy Table / pandas DataFrame / dict, or None for arrays."""
    if hasattr(obj, "colnames"):
        return list(obj.colnames)
    if hasattr(obj, "columns") and hasattr(obj, "iloc"):
        return [str(c) for c in obj.columns]
    if isinstance(obj, dict):
        return list(obj)
    return None


def as_fractions(values, name="labels"):
    """``values`` -> ``float64 (N, 37)`` vote fractions in Kaggle column order.

    Accepts an array of shape ``(N, 37)``, or a table / DataFrame / dict with
    the 37 Kaggle columns (``Class1.1`` ... ``Class11.6``; other columns are
    ignored), or a :class:`~galmorph.data.cache.PreparedData` (its labels).
    Raises :class:`DataError` for a wrong shape, missing columns, no rows or
    values that are NaN/infinite.
    """
    if hasattr(values, "labels") and hasattr(values, "meta"):  # PreparedData
        if values.labels is None:
            raise DataError(f"{name}: the prepared data {values.path} has no labels (a test "
                            f"set?); give vote fractions")
        values = values.labels
    columns = _table_columns(values)
    if columns is not None:
        missing = [c for c in schema.KAGGLE_COLUMNS if c not in columns]
        if missing:
            more = " ..." if len(missing) > 4 else ""
            raise DataError(f"{name} lacks {len(missing)} of the {schema.N_ANSWERS} Kaggle "
                            f"columns ({', '.join(missing[:4])}{more}); give a table with "
                            f"Class1.1 ... Class11.6 or an (N, 37) array")
        arr = np.column_stack([np.asarray(values[c], dtype=np.float64)
                               for c in schema.KAGGLE_COLUMNS])
    else:
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise DataError(f"{name} is not a numeric array ({err}); give an (N, "
                            f"{schema.N_ANSWERS}) array of vote fractions") from None
    if arr.ndim != 2 or arr.shape[1] != schema.N_ANSWERS:
        raise DataError(f"{name} has shape {arr.shape}; expected (N, {schema.N_ANSWERS}): one "
                        f"column per GZ2 answer in Kaggle order ({schema.KAGGLE_COLUMNS[0]} ... "
                        f"{schema.KAGGLE_COLUMNS[-1]})")
    if len(arr) == 0:
        raise DataError(f"{name} has no rows: nothing to plot")
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        row, col = map(int, bad[0])
        raise DataError(f"{name} row {row}, column {schema.KAGGLE_COLUMNS[col]} is "
                        f"{arr[row, col]} ({len(bad)} non-finite value(s) in all); drop or "
                        f"fill those rows first")
    return arr


def as_images(images, name="images", crop=None):
    """``images`` -> ``(n, get)``, where ``get(i)`` loads galaxy ``i`` as ``uint8 (H, W, 3)``.

    ``images`` is a ``uint8 (N, 3, H, W)`` array or memory map (the prepared
    cache), an ``(N, H, W, 3)`` array, a
    :class:`~galmorph.data.cache.PreparedData` or a sequence of image paths
    (read with :func:`galmorph.data.images.load_image` only when shown).
    ``crop`` keeps the central ``crop`` x ``crop`` pixels of larger images.
    """
    n, get = _image_getter(images, name)
    if crop is None:
        return n, get
    crop = int(crop)
    if crop < 1:
        raise ValueError(f"crop must be a positive number of pixels, got {crop}")

    def cropped(i):
        img = get(i)                                                    # (H, W, 3)
        y0, x0 = max(0, (img.shape[0] - crop) // 2), max(0, (img.shape[1] - crop) // 2)
        return img[y0:y0 + crop, x0:x0 + crop]
    return n, cropped


def _image_getter(images, name):
    if hasattr(images, "images") and hasattr(images, "meta"):  # PreparedData
        images = images.images
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, Path)):
        from galmorph.data.images import load_image

        paths = list(images)
        return len(paths), lambda i: load_image(paths[i])
    if not hasattr(images, "shape") or len(images.shape) != 4:
        raise DataError(f"{name} must be a uint8 (N, 3, H, W) array (the prepared cache), an "
                        f"(N, H, W, 3) array or a list of image paths; got "
                        f"{getattr(images, 'shape', type(images).__name__)}")
    if images.shape[1] == 3:
        def get(i):
            return _to_uint8(np.asarray(images[i]).transpose(1, 2, 0))  # (H, W, 3)
    elif images.shape[3] == 3:
        def get(i):
            return _to_uint8(np.asarray(images[i]))
    else:
        raise DataError(f"{name} has shape {tuple(images.shape)}: neither (N, 3, H, W) nor "
                        f"(N, H, W, 3) RGB images")
    return int(images.shape[0]), get


def _to_uint8(img):
    if img.dtype == np.uint8:
        return img
    if np.issubdtype(img.dtype, np.integer):
        return np.clip(img, 0, 255).astype(np.uint8)
    # Float images are taken to be in [0, 1], what the networks take.
    return (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)


def resolve_answers(answers, default=None):
    """Answer selections -> column indices (0..36), in the order given, without repeats.

    Each entry may be a Kaggle column (``"Class8.6"``), a readable label
    (``"merger"``), a GZ2 stem, a column index, or ``"Q8"`` for all answers of
    question 8. ``None`` means ``default`` (all 37 answers when that is None).
    """
    if answers is None:
        answers = default if default is not None else range(schema.N_ANSWERS)
    if isinstance(answers, (str, int, np.integer)):
        answers = [answers]
    out = []
    for a in answers:
        if isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            if not 0 <= a < schema.N_ANSWERS:
                raise ValueError(f"answer index {a} is outside 0..{schema.N_ANSWERS - 1}")
            out.append(int(a))
            continue
        match = _QUESTION.match(str(a))
        if match:
            number = int(match.group(1))
            if number not in schema.QUESTION_SLICES:
                raise ValueError(f"unknown question {a!r}; the GZ2 tree has Q1 ... "
                                 f"Q{schema.N_QUESTIONS}")
            out.extend(range(schema.N_ANSWERS)[schema.QUESTION_SLICES[number]])
            continue
        try:
            out.append(schema.column_index(str(a)))
        except KeyError as err:
            raise ValueError(err.args[0]) from None
    if not out:
        raise ValueError("no answers selected; pass e.g. answers=['smooth', 'Class8.6', 'Q4']")
    return list(dict.fromkeys(out))  # unique, order kept


def answer_title(index):
    """Short panel title, e.g. ``'Class8.6 merger'``."""
    return f"{schema.KAGGLE_COLUMNS[index]} {schema.ANSWER_LABELS[index]}"


def new_figure(fig=None, ax=None, figsize=(6.0, 4.0)):
    """The figure to draw on: ``ax``'s (a SubFigure if ``ax`` is in one), ``fig``, or a new one.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or SubFigure, optional
        A figure to draw on.
    ax : matplotlib.axes.Axes, optional
        Axes to draw in (wins over ``fig``): its figure is returned.
    figsize : tuple of float
        ``(width, height)`` in inches of a new figure.

    Returns
    -------
    matplotlib.figure.Figure or SubFigure
        A new one is a bare ``Figure`` with the constrained layout, made without pyplot.
    """
    if ax is not None:
        return ax.figure
    if fig is not None:
        return fig
    from matplotlib.figure import Figure

    # A bare Figure (not pyplot): no global state, safe under any backend, never shown.
    return Figure(figsize=figsize, layout="constrained")


def question_grid(fig, indices, panel=(1.9, 1.6)):
    """One panel per answer, one row per question; returns ``(fig, {index: Axes})``.

    Rows follow the order in which questions first appear in ``indices``;
    grid cells without an answer are not created, so the figure gains exactly
    ``len(indices)`` axes. ``fig=None`` makes a Figure sized to the grid
    (``panel`` is one panel's width and height, inches).
    """
    rows = {}
    for i in indices:
        rows.setdefault(schema.ANSWERS[i].question, []).append(i)
    ncols = max(len(v) for v in rows.values())
    if fig is None:
        fig = new_figure(figsize=(panel[0] * ncols + 0.6, panel[1] * len(rows) + 0.4))
    grid = fig.add_gridspec(len(rows), ncols)
    axes = {}
    for r, members in enumerate(rows.values()):
        for c, i in enumerate(members):
            axes[i] = fig.add_subplot(grid[r, c])
    return fig, axes


def save_figure(fig, filename, dpi=120):
    """Save ``fig`` (the whole figure, if a SubFigure) to ``filename`` if given; return it."""
    if filename is not None:
        fig.figure.savefig(filename, dpi=dpi)  # a Figure's .figure is itself
    return fig
