"""Unusual galaxies: an anomaly score per galaxy from its embedding.

:func:`rank_anomalies` scores how far each galaxy lies from the others in embedding
space (:mod:`galmorph.inference.embedding`) and ranks them, most unusual first:

- ``"knn"`` (default): the mean distance to the galaxy's ``k`` nearest other galaxies,
  by scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`, between the pooled
  features (``embedding * feature_norm``; Euclidean). A galaxy with no look-alike
  scores high. Exact, and quadratic in N (every galaxy against every other): seconds
  for 10^4 galaxies, hours for 10^6;
- ``"isolation-forest"``: scikit-learn's :class:`~sklearn.ensemble.IsolationForest`
  (Liu, Ting & Zhou 2008), ``-score_samples``: how few random splits isolate the
  galaxy. Near-linear in N, for surveys; seeded.

Both find what the network sees as unusual: artefacts, blank or saturated images and
rare morphologies alike; the grid (``galmorph anomalies``) is for a person to judge.

Why the features' norm: a blank frame's embedding points the way faint compact
galaxies' do (by cosine distance it ranked 12th of 301 among real GZ2 galaxies), and
only the norm of its features sets it apart (1st of 301; :doc:`/embeddings`). A table
without ``feature_norm`` is scored on the unit embeddings.

References
----------
Liu F. T., Ting K. M., Zhou Z.-H., 2008, ICDM, 413.
"""
from __future__ import annotations

import numpy as np

from galmorph.adapt.embeddings import embedding_matrix
from galmorph.errors import ParameterError
from galmorph.inference.embedding import EMBEDDING_COLUMN, NORM_COLUMN

__all__ = ["rank_anomalies", "anomaly_scores", "ANOMALY_METHODS"]

#: The scores :func:`rank_anomalies` offers.
ANOMALY_METHODS = ("knn", "isolation-forest")


def anomaly_scores(X, method="knn", *, k=10, seed=None):
    """An anomaly score per row of ``X`` (higher: more unusual).

    Parameters
    ----------
    X : numpy.ndarray, shape (N, D)
        Pooled features (or unit embeddings).
    method : {"knn", "isolation-forest"}
    k : int
        Neighbours averaged by ``"knn"`` (at most N - 1).
    seed : int or None
        Seed of ``"isolation-forest"``.

    Returns
    -------
    numpy.ndarray, float32, shape (N,)
    """
    if method == "knn":
        from galmorph.adapt.similarity import nearest

        idx, dist = nearest(X, X, k + 1, "euclidean")        # (N, k + 1), self among them
        own = idx == np.arange(len(X))[:, None]
        # Drop each row's own entry (or, for exact duplicates, its farthest neighbour).
        drop = np.where(own.any(1), own.argmax(1), k)
        keep = np.ones_like(own)
        keep[np.arange(len(X)), drop] = False
        return dist[keep].reshape(len(X), k).mean(1).astype(np.float32)
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(random_state=np.random.default_rng(seed).integers(2**31))
    return (-forest.fit(X).score_samples(X)).astype(np.float32)


def rank_anomalies(embeddings, *, method="knn", k=10, seed=None):
    """Rank the galaxies of an embedding table, most unusual first.

    Parameters
    ----------
    embeddings : astropy.table.Table or path-like
        An embedding table, or a file :func:`~galmorph.adapt.embeddings.read_embeddings`
        reads. Failed rows (``predict_ok`` False, NaN embedding) are left out.
    method : {"knn", "isolation-forest"}
        The score (see the module's notes; default ``"knn"``).
    k : int
        For ``"knn"``: neighbours averaged (default 10; fewer if the table is smaller).
    seed : int or None
        For ``"isolation-forest"``: its random seed.

    Returns
    -------
    astropy.table.Table
        ``anomaly_rank`` (1 = most unusual), ``anomaly_score`` (float32) and the
        table's columns but ``embedding``, most unusual first. ``meta`` adds
        ``anomaly_method``, ``anomaly_k`` and ``n_left_out`` (the failed rows).

    Raises
    ------
    galmorph.errors.ParameterError
        An unknown method, ``k`` below 1, or fewer than 2 usable galaxies.

    Examples
    --------
    >>> ranked = rank_anomalies("emb.parquet")          # doctest: +SKIP
    >>> ranked[:5]["anomaly_rank", "path", "anomaly_score"]  # doctest: +SKIP
    """
    from galmorph.adapt.embeddings import read_embeddings, table_name

    if method not in ANOMALY_METHODS:
        raise ParameterError(f"method must be one of {', '.join(ANOMALY_METHODS)}, not "
                             f"{method!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a whole number >= 1, not {k!r}")
    if not hasattr(embeddings, "colnames"):
        embeddings = read_embeddings(embeddings)
    name = table_name(embeddings)
    X, rows = embedding_matrix(embeddings, name)
    if len(X) < 2:
        raise ParameterError(f"{name} hold {len(X)} usable galaxy; ranking anomalies needs "
                             f"at least 2")
    k = min(int(k), len(X) - 1)
    if NORM_COLUMN in embeddings.colnames:  # the pooled features again (see above)
        norm = np.asarray(np.ma.filled(embeddings[NORM_COLUMN], np.nan), np.float32)[rows]
        X = X * np.where(np.isfinite(norm), norm, 1.0)[:, None]
    score = anomaly_scores(X, method, k=k, seed=seed)
    order = np.argsort(-score, kind="stable")
    out = embeddings[rows[order]]
    out.remove_column(EMBEDDING_COLUMN)
    out.add_column(score[order], name="anomaly_score", index=0)
    out.add_column(np.arange(1, len(out) + 1), name="anomaly_rank", index=0)
    out["anomaly_score"].description = (f"mean distance to the {k} nearest galaxies' "
                                        f"pooled features"
                                        if method == "knn" else
                                        "isolation-forest anomaly score (-score_samples)")
    out.meta.update({"anomaly_method": method, "anomaly_k": k if method == "knn" else None,
                     "n_left_out": int(len(embeddings) - len(rows))})
    return out
