"""The first step of the demo: classify the 24 shipped GZ2 galaxies with the shipped model.

:func:`classify_examples` runs :class:`~galmorph.astro.classifier.MorphologyClassifier`
with the model in the package on :func:`galmorph.data.examples.example_galaxies`,
writes the table and a figure, and :func:`format_examples` prints a compact
table: for each galaxy the model's answer to each question along its path down
the GZ2 tree, with the volunteers' vote fraction for that answer beside it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from galmorph import schema

__all__ = ["classify_examples", "decision_path", "format_examples"]

# Shown along the path: smooth or disk, edge-on, bar, spiral, roundness (the bulge and arm
# questions make the line too long); then oddness for every galaxy.
_SHOWN = (1, 2, 3, 4, 7)
_ALWAYS = (6,)
# Measured by benchmarks/gz2_release.py on the 33 gz2-1k galaxies also in the Kaggle data.
_NOTE = ("In brackets: the GZ2 release's weighted vote fractions. They are not the Kaggle labels "
         "the model learnt: for the same galaxies the release gives smooth about 0.2 more "
         "(see 'galmorph models --card').")


def decision_path(fractions, threshold=0.5):
    """The questions a galaxy reaches and their top answers, following the top answers.

    Parameters
    ----------
    fractions : array-like, shape (37,)
        Weighted vote fractions of one galaxy.
    threshold : float
        A question is followed where its parent answer has at least this
        weighted fraction (beside Q1 and Q6, which everyone answers).

    Returns
    -------
    list of (int, int)
        ``(question number, answer column index)`` in tree order.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.zeros(37); f[[0, 13, 15]] = [0.9, 0.2, 0.6]; f[14] = 0.8
    >>> [q for q, _ in decision_path(f)]
    [1, 6, 7]
    """
    f = np.asarray(fractions, dtype=np.float64)
    path = []
    for number in schema.TREE_ORDER:
        parent = schema.PARENT_INDEX[number]
        if parent is not None and f[parent] < threshold:
            continue
        s = schema.QUESTION_SLICES[number]
        path.append((number, s.start + int(np.argmax(f[s]))))
    return path


def classify_examples(out, model=None, progress=False):
    """Classify the shipped example galaxies; write ``examples.ecsv`` and ``examples.png``.

    Parameters
    ----------
    out : path-like
        Folder for the table and the figure (created).
    model : path-like, optional
        Checkpoint; default the shipped model.
    progress : bool

    Returns
    -------
    astropy.table.Table
        The classifier's output (37 fractions, ``p_merger``, ``is_merger``)
        beside the examples' GZ2 columns; ``meta["figure"]`` and
        ``meta["table"]`` name the files written.
    """
    from galmorph.astro.classifier import MorphologyClassifier
    from galmorph.data.examples import example_galaxies
    from galmorph.paths import shipped_model_path
    from galmorph.plots import plot_galaxy_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = model if model is not None else shipped_model_path()
    galaxies = example_galaxies()
    table = MorphologyClassifier(model, progress=progress).predict(galaxies)
    pred = np.array([table[c] for c in schema.KAGGLE_COLUMNS]).T             # (24, 37)
    titles = [f"{row['asset_id']} ({row['gz2_class']})\n"
              f"{schema.ANSWER_LABELS[decision_path(p)[0][1]]} {p[decision_path(p)[0][1]]:.2f}"
              for row, p in zip(table, pred)]
    figure, path = out / "examples.png", out / "examples.ecsv"
    plot_galaxy_grid(list(table["file"]), titles, ncols=6, crop=224, filename=figure)
    table.write(path, overwrite=True)
    table.meta.update(figure=str(figure), table=str(path))
    return table


def _answer(index, pred, gz2):
    label = schema.ANSWER_LABELS[index]
    return f"{label} {pred[index]:.2f} ({gz2[index]:.2f})"


def format_examples(table, width=120):
    """A compact text table of :func:`classify_examples`' result.

    One line per galaxy: its ID, GZ2 class and what it was chosen to show;
    then, along the galaxy's path down the tree (:func:`decision_path` on
    the model's fractions), the top answer of Q1, Q7, Q2, Q3 and Q4 where
    reached, as ``answer model (GZ2 volunteers)``; then Q6 (odd), ``p_merger``
    and ``is_merger``. A last line says what the bracketed figures are: the
    GZ2 release's weighted fractions, which lean to smooth against the Kaggle
    labels the model learnt.

    Parameters
    ----------
    table : astropy.table.Table
        As returned by :func:`classify_examples`: the 37 Kaggle columns, their
        ``gz2_<column>`` twins, ``asset_id``, ``gz2_class``, ``shows``,
        ``p_merger`` and ``is_merger``.
    width : int
        Length of the rule under the header, characters (default 120); the
        lines are not wrapped to it.

    Returns
    -------
    str
        The header, the rule, one line per galaxy and the note.
    """
    pred = np.array([table[c] for c in schema.KAGGLE_COLUMNS]).T            # (N, 37)
    gz2 = np.array([table[f"gz2_{c}"] for c in schema.KAGGLE_COLUMNS]).T    # (N, 37)
    lines = [f"{'asset_id':>8s}  {'GZ2':9s} {'chosen as':24s} top answer per question down "
             f"the tree: model (GZ2 volunteers)", "-" * width]
    del width
    for row, p, g in zip(table, pred, gz2):
        path = [(q, i) for q, i in decision_path(p) if q in _SHOWN]
        odd = [(q, i) for q, i in decision_path(p) if q in _ALWAYS]
        answers = " > ".join(_answer(i, p, g) for _, i in path)
        answers += " | " + ", ".join(_answer(i, p, g) for _, i in odd)
        merger = "MERGER" if row["is_merger"] else "no merger"
        lines.append(f"{row['asset_id']:>8d}  {row['gz2_class']:9s} {row['shows'][:24]:24s} "
                     f"{answers} | p_merger {row['p_merger']:.2f} "
                     f"({g[schema.column_index('merger')]:.2f}) {merger}")
    lines.append(_NOTE)
    return "\n".join(lines)
