"""Galaxy mosaics: the most typical galaxies of each answer, by votes or by model."""
from __future__ import annotations

import numpy as np

from galmorph import schema
from galmorph.errors import DataError
from galmorph.plots._inputs import as_fractions, as_images, save_figure, new_figure, resolve_answers

__all__ = ["plot_galaxy_grid", "DEFAULT_PROTOTYPE_ANSWERS", "top_galaxies", "plot_prototypes",
           "plot_predicted_prototypes"]

#: Answers shown by default: the common classes and a few rare, striking ones.
DEFAULT_PROTOTYPE_ANSWERS = ("smooth", "features or disk", "edge-on", "bar", "spiral",
                             "completely round", "cigar-shaped", "ring", "merger", "irregular")


def top_galaxies(values, index, n):
    """Rows of the ``n`` largest ``values[:, index]``, largest first (ties: lower row first).

    Parameters
    ----------
    values : numpy.ndarray, shape (N, 37)
        Vote fractions or predictions, one row per galaxy.
    index : int
        Column ranked (Kaggle column order).
    n : int
        Number of rows returned (all ``N`` if there are fewer).

    Returns
    -------
    numpy.ndarray of int, shape (min(n, N),)
        Row numbers into ``values``.
    """
    order = np.argsort(-values[:, index], kind="stable")
    return order[:n]


def _mosaic(images, values, answers, n, caption, title, fig, filename, extra=None, crop=None):
    """Draw one row per answer with its ``n`` top galaxies; attach the chosen rows."""
    count, get = as_images(images, crop=crop)
    if count != len(values):
        raise DataError(f"images hold {count} galaxies but the fractions {len(values)} rows; "
                        f"they must be aligned row by row")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    indices = resolve_answers(answers, DEFAULT_PROTOTYPE_ANSWERS)
    n_show = min(n, count)
    if fig is None:
        fig = new_figure(figsize=(1.3 * n_show + 0.8, 1.5 * len(indices) + 0.5))
    grid = fig.add_gridspec(len(indices), n_show)
    chosen = {}
    for r, i in enumerate(indices):
        rows = top_galaxies(values, i, n_show)
        chosen[schema.KAGGLE_COLUMNS[i]] = rows
        for c, row in enumerate(rows):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(get(int(row)))  # default interpolation: smooth when shrinking 424 px JPEGs
            ax.set_xticks([])
            ax.set_yticks([])
            text = caption(values[row, i]) if extra is None else \
                f"{caption(values[row, i])} ({extra[row, i]:.2f})"
            ax.set_title(text, fontsize="x-small", pad=2)
            if c == 0:
                ax.set_ylabel(f"{schema.KAGGLE_COLUMNS[i]}\n{schema.ANSWER_LABELS[i]}",
                              fontsize="small")
    fig.suptitle(title)
    # Which galaxies were shown: Kaggle column -> row numbers, best first.
    fig.galmorph_rows = chosen
    return save_figure(fig, filename)


def plot_prototypes(images, labels, answers=None, n=4, *, crop=None, fig=None, filename=None):
    """For each answer, the ``n`` galaxies with the highest vote fraction for it.

    Parameters
    ----------
    images : uint8 array (N, 3, H, W), (N, H, W, 3), PreparedData or list of paths
        The galaxies, row-aligned with ``labels`` -- e.g. ``data.images`` of
        :func:`~galmorph.data.cache.open_prepared` or the image paths of a
        catalog (read only for the galaxies shown).
    labels : array-like (N, 37), astropy Table or DataFrame
        Weighted vote fractions.
    answers : sequence, optional
        Kaggle columns, labels, indices or ``"Q<n>"``; default
        :data:`DEFAULT_PROTOTYPE_ANSWERS`.
    n : int
        Galaxies per answer (fewer if there are fewer galaxies).
    crop : int, optional
        Show only the central ``crop`` x ``crop`` pixels (e.g. 224 on the
        424-pixel Kaggle JPEGs, the part the networks see); default: all.
    fig : matplotlib.figure.Figure, optional
    filename : path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
        One row per answer; ``fig.galmorph_rows`` maps each Kaggle column to
        the row numbers shown, highest fraction first. Panel titles give the
        fraction.

    Examples
    --------
    >>> fig = plot_prototypes(data.images, data.labels, ["smooth", "merger"], n=6)  # doctest: +SKIP
    """
    values = as_fractions(labels)
    return _mosaic(images, values, answers, n, lambda v: f"{v:.2f}",
                   "galaxies with the highest vote fraction per answer", fig, filename,
                   crop=crop)


def plot_predicted_prototypes(images, predictions, answers=None, n=4, *, labels=None, crop=None,
                              fig=None, filename=None):
    """For each answer, the ``n`` galaxies the model is most confident about.

    Confidence is the predicted weighted fraction of the answer. With
    ``labels`` the volunteers' fraction is shown next to the prediction, as
    ``p=0.93 (0.88)``, so confident mistakes stand out.

    Parameters
    ----------
    images : uint8 array (N, 3, H, W), (N, H, W, 3), PreparedData or list of paths
    predictions : array-like (N, 37), astropy Table or DataFrame
        Model outputs, e.g. from
        :func:`~galmorph.inference.engine.predict_arrays` or
        ``MorphologyClassifier().predict(...)``.
    answers, n, crop, fig, filename
        As in :func:`plot_prototypes`.
    labels : array-like (N, 37), optional
        True fractions of the same galaxies.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.galmorph_rows`` maps each Kaggle column to the rows shown.
    """
    values = as_fractions(predictions, "predictions")
    truth = None
    if labels is not None:
        truth = as_fractions(labels)
        if truth.shape != values.shape:
            raise DataError(f"labels {truth.shape} and predictions {values.shape} must have the "
                            f"same shape")
    return _mosaic(images, values, answers, n, lambda v: f"p={v:.2f}",
                   "galaxies the model is most confident about per answer", fig, filename,
                   extra=truth, crop=crop)


def plot_galaxy_grid(images, titles, *, ncols=6, crop=None, fig=None, filename=None):
    """Galaxies in a grid, each with its own caption (e.g. the predicted answers).

    Parameters
    ----------
    images : uint8 array (N, 3, H, W), (N, H, W, 3), PreparedData or list of paths
        The galaxies, in order.
    titles : sequence of str
        One caption per galaxy (may hold line breaks).
    ncols : int
        Galaxies per row.
    crop : int, optional
        Show the central ``crop`` pixels only (224 is what the models see).
    fig : matplotlib.figure.Figure, optional
    filename : path-like, optional
        Also save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.galmorph_titles`` holds the captions as drawn.
    """
    count, get = as_images(images, crop=crop)
    titles = [str(t) for t in titles]
    if count != len(titles):
        raise DataError(f"images hold {count} galaxies but there are {len(titles)} titles; "
                        f"give one title per galaxy")
    ncols = max(1, min(int(ncols), count))
    nrows = -(-count // ncols)
    lines = max((t.count("\n") + 1 for t in titles), default=1)
    if fig is None:
        fig = new_figure(figsize=(1.9 * ncols, (1.7 + 0.22 * lines) * nrows))
    grid = fig.add_gridspec(nrows, ncols)
    for i, title in enumerate(titles):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        ax.imshow(get(i))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize="x-small", pad=2)
    fig.galmorph_titles = titles
    return save_figure(fig, filename)
