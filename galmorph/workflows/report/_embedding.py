"""The catalogue report's look at the embeddings: the most unusual galaxies, and the
nearest neighbours of the three most unusual, where the table has an ``embedding`` column
(``MorphologyClassifier(embedding=True)``, ``classify_survey(..., embedding=True)``).

The ranking and the neighbours are :mod:`galmorph.adapt`'s (``rank_anomalies``,
``find_similar``); only galaxies whose image file is at hand are shown.
"""
from __future__ import annotations

import numpy as np

from galmorph.workflows.report.document import ReportFigure, ReportSection, ReportText

__all__ = ["embedding_section", "N_ANOMALIES", "N_QUERIES", "N_NEIGHBOURS"]

#: Galaxies in the anomaly grid.
N_ANOMALIES = 12
#: The most unusual galaxies whose look-alikes are shown, and how many each.
N_QUERIES, N_NEIGHBOURS = 3, 5
_ROW = "_report_row"


def embedding_section(table, paths, crop=None):
    """The "Unusual and similar galaxies" section, or None where ``table`` has no embeddings.

    Parameters
    ----------
    table : astropy.table.Table
        The classified rows, with the ``embedding`` column.
    paths : list of str or None
        Each row's image file, or None (no image); None for no image column.
    crop : int, optional
        Show the central ``crop`` pixels, as the model sees them.

    Returns
    -------
    ReportSection or None
        ``data``-free; its figures are keyed ``anomalies`` and ``neighbours``.
    """
    from astropy.table import Table

    from galmorph.adapt.anomaly import rank_anomalies
    from galmorph.adapt.similarity import find_similar
    from galmorph.inference.embedding import EMBEDDING_COLUMN

    if EMBEDDING_COLUMN not in table.colnames:
        return None
    title = "Unusual and similar galaxies"
    has = [p is not None for p in paths] if paths is not None else [False] * len(table)
    if len(table) < 3 or not any(has):
        return ReportSection("embeddings", title, [ReportText(
            "The table has embeddings, but " + ("fewer than 3 classified rows" if len(table) < 3
                                                else "no images at hand (give them with "
                                                "--images COLUMN)") +
            ": nothing to rank or to show.", note=True)])
    work = Table(table, copy=False)
    work[_ROW] = np.arange(len(work))
    ranked = rank_anomalies(work)
    top = [int(r) for r in ranked[_ROW] if has[int(r)]]
    shown = top[:N_ANOMALIES]
    score = dict(zip((int(r) for r in ranked[_ROW]), ranked["anomaly_score"]))
    rank = dict(zip((int(r) for r in ranked[_ROW]), ranked["anomaly_rank"]))
    items = [ReportFigure("anomalies", _grid([paths[r] for r in shown],
                                             [f"#{rank[r]}  score {score[r]:.3g}" for r in shown],
                                             crop),
                          "The catalogue's most unusual galaxies",
                          f"The {len(shown)} galaxies (with an image) whose embeddings lie "
                          f"furthest from their neighbours' (kNN distance between the pooled "
                          f"features; rank among all {len(table)}, most unusual first). Read: "
                          f"blank or broken images, artefacts and rare kinds come first.")]
    rows, titles = [], []
    for r in top[:N_QUERIES]:
        near = find_similar(work, np.asarray(work[EMBEDDING_COLUMN][r], dtype=np.float32),
                            k=min(len(work), N_NEIGHBOURS + 1 + 8))
        found = [(int(i), d) for i, d in zip(near[_ROW], near["distance"])
                 if int(i) != r and has[int(i)]][:N_NEIGHBOURS]
        rows += [r] + [i for i, _ in found] + [None] * (N_NEIGHBOURS - len(found))
        titles += [f"#{rank[r]}"] + [f"d = {d:.3f}" for _, d in found] + \
            [""] * (N_NEIGHBOURS - len(found))
    keep = [i for i, r in enumerate(rows) if r is not None]
    items.append(ReportFigure(
        "neighbours", _grid([paths[rows[i]] for i in keep], [titles[i] for i in keep], crop,
                            ncols=N_NEIGHBOURS + 1),
        "The most unusual galaxies and their nearest neighbours",
        f"Each row: one of the {min(N_QUERIES, len(top))} most unusual galaxies (left), then its "
        f"{N_NEIGHBOURS} nearest galaxies by cosine distance d of the embeddings. Read: an "
        f"unusual galaxy with look-alikes is a rare kind; one without is a one-off (or junk)."))
    return ReportSection("embeddings", title, items)


def _grid(files, titles, crop, ncols=6):
    from galmorph.plots import plot_galaxy_grid

    return plot_galaxy_grid(list(files), list(titles), ncols=ncols, crop=crop)
