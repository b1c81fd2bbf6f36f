"""Similar galaxies: the k nearest neighbours of a query in an embedding table.

:func:`find_similar` looks up the galaxies whose embeddings
(:mod:`galmorph.inference.embedding`) lie nearest the query's by cosine distance,
``1 - a . b`` for unit vectors: 0 for the same direction, 1 for orthogonal. The
search is scikit-learn's exact :class:`~sklearn.neighbors.NearestNeighbors`
(brute force: for D ~ 1500 a tree prunes nothing); one query against a million
galaxies is one (N, D) x (D,) product, about a second on one core.

The query is a row of the table (its ID, or a position matched to its ra/dec), an
image file or array (embedded with the table's own model, precision, TTA and
preprocessing: :func:`galmorph.adapt.embeddings.embed_images`), or an embedding.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from galmorph._util._tables import DEC_NAMES, PATH_NAMES, RA_NAMES, find_column
from galmorph.adapt.embeddings import embed_images, embedding_matrix
from galmorph.errors import DataError, ParameterError
from galmorph.inference.embedding import EMBEDDING_COLUMN

__all__ = ["find_similar", "find_row", "ID_NAMES", "nearest"]

#: ID columns looked up for a query ID, in this order (case-insensitive).
ID_NAMES = ("id", "objid", "dr7objid", "GalaxyID", "asset_id", "source_id", "name", "index")


def nearest(X, queries, k, metric="cosine"):
    """Indices and distances of the ``k`` rows of ``X`` nearest each query.

    Parameters
    ----------
    X : numpy.ndarray, shape (N, D)
    queries : numpy.ndarray, shape (Q, D)
    k : int
        At most N.
    metric : {"cosine", "euclidean"}
        The distance (scikit-learn's names).

    Returns
    -------
    index : numpy.ndarray, int, shape (Q, k)
    distance : numpy.ndarray, float32, shape (Q, k)
        Ascending.
    """
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(X)
    distance, idx = index.kneighbors(np.asarray(queries, np.float32), n_neighbors=k)
    return idx, distance.astype(np.float32)


def find_row(table, query, *, id_column=None, max_separation=2.0, name="the embeddings"):
    """The row of ``table`` that ``query`` names: an ID, or a position.

    Parameters
    ----------
    table : astropy.table.Table
    query : int, str or astropy.coordinates.SkyCoord
        A value of ``id_column`` (default: the first of :data:`ID_NAMES` present;
        a path column's file names, with or without their ending, match too); or
        a position, matched to the table's ra/dec (degrees) or SkyCoord column.
    id_column : str, optional
    max_separation : float
        For a position: the largest separation accepted, arcsec.
    name : str
        What to call the table in errors (e.g. its file).

    Returns
    -------
    int

    Raises
    ------
    galmorph.errors.DataError
        No such ID (the columns searched are named), or no galaxy near the position.
    """
    from astropy.coordinates import SkyCoord

    if isinstance(query, SkyCoord):
        return _row_at(table, query, max_separation, name)
    if id_column is not None and id_column not in table.colnames:
        raise DataError(f"{name} has no column {id_column!r} (columns: "
                        f"{', '.join(table.colnames[:12])})")
    columns = [id_column] if id_column else [c for c in (find_column(table, [n]) for n in ID_NAMES)
                                             if c is not None]
    text = str(query).strip()
    for col in columns:
        values = np.asarray(table[col]).astype(str)
        hits = np.flatnonzero(np.char.strip(values) == text)
        if len(hits):
            return int(hits[0])
    searched = [repr(c) for c in columns]
    path = None if id_column else find_column(table, PATH_NAMES)
    if path is not None:
        names = [Path(str(v)) for v in table[path]]
        for i, p in enumerate(names):
            if text in (p.name, p.stem):
                return i
        searched.append(f"{path!r} (file names)")
    searched = ", ".join(searched) or "none: name the ID column with id_column= (--id-column)"
    raise DataError(f"ID {text!r} is not in {name} (columns searched: {searched}); give an ID "
                    f"from it, an image file, or ra/dec")


def _row_at(table, coord, max_separation, name):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    sky = next((table[c] for c in table.colnames if isinstance(table[c], SkyCoord)), None)
    if sky is None:
        ra, dec = find_column(table, RA_NAMES), find_column(table, DEC_NAMES)
        if ra is None or dec is None:
            raise DataError(f"{name} has no ra/dec columns to match a position to; query by "
                            f"an ID or an image file instead")
        sky = SkyCoord(np.asarray(table[ra], float), np.asarray(table[dec], float), unit="deg")
    coord = coord.reshape(()) if coord.ndim else coord
    sep = coord.separation(sky).to_value(u.arcsec)
    i = int(np.nanargmin(sep))
    if not sep[i] <= max_separation:
        raise DataError(f"no galaxy of {name} within {max_separation:g} arcsec of "
                        f"{coord.to_string('decimal')} (the nearest is {sep[i]:.1f} arcsec "
                        f"away, row {i}); embed that position first, or query an image")
    return i


def _query_vector(table, query, rows, X, id_column, max_separation, name, model):
    """(the query's embedding (D,), its row in ``table`` or None, what it was)."""
    from astropy.coordinates import SkyCoord

    if isinstance(query, np.ndarray) and query.ndim == 1:
        if query.shape != (X.shape[1],):
            raise DataError(f"query vector has {query.shape[0]} values; {name} has "
                            f"D = {X.shape[1]}")
        v = np.asarray(query, np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12), None, "a vector"
    is_file = isinstance(query, os.PathLike) or (isinstance(query, str) and Path(query).is_file())
    if is_file or (isinstance(query, np.ndarray) and query.ndim == 3):
        what = f"image {query}" if is_file else "an image array"
        if is_file and not Path(query).is_file():
            raise DataError(f"query image {query} does not exist")
        return embed_images(query, like=table, model=model)[0], None, what
    if not isinstance(query, (str, int, np.integer, SkyCoord)):
        raise ParameterError(f"query must be an ID, a SkyCoord, an image path or array, or an "
                             f"embedding vector; not a {type(query).__name__}")
    row = find_row(table, query, id_column=id_column, max_separation=max_separation, name=name)
    at = np.flatnonzero(rows == row)
    if not len(at):
        raise DataError(f"row {row} of {name} ({query}) has no usable embedding: "
                        f"{_why(table, row)}")
    return X[at[0]], row, f"row {row}"


def _why(table, row):
    if "predict_error" in table.colnames and str(table["predict_error"][row]):
        return str(table["predict_error"][row])
    return "its embedding is NaN"


def find_similar(embeddings, query, k=10, *, id_column=None, max_separation=2.0, model=None,
                 include_query=False):
    """The ``k`` galaxies whose embeddings are nearest the query's (cosine distance).

    Parameters
    ----------
    embeddings : astropy.table.Table or path-like
        An embedding table (:meth:`MorphologyClassifier.embed
        <galmorph.astro.classifier.MorphologyClassifier.embed>`), or a file
        :func:`~galmorph.adapt.embeddings.read_embeddings` reads. Rows that failed
        (``predict_ok`` False, NaN embedding) are left out.
    query : int, str, path-like, SkyCoord, or numpy.ndarray
        A row ID (see :func:`find_row`); an image file (``pathlib.Path``, or a
        ``str`` naming an existing file) or a uint8 (H, W, 3) array, embedded as the
        table was; a position (a SkyCoord, matched within ``max_separation``); or an
        embedding vector (D,).
    k : int
        How many neighbours (default 10).
    id_column : str, optional
        The column of IDs (default: the first of :data:`ID_NAMES` present).
    max_separation : float
        Largest separation, arcsec, for a position query (default 2).
    model : str, path or None
        For an image query: the model, where the table's ``model_path`` is not on
        this machine (default: the table's, else the default model).
    include_query : bool
        Keep the query's own row, when it is one, among the results (default: left out).

    Returns
    -------
    astropy.table.Table
        ``rank`` (1 = nearest), ``distance`` (cosine, float32) and the embedding
        table's columns but ``embedding``, nearest first. ``meta`` holds ``query``,
        ``query_row`` (or None), ``k`` and ``metric``.

    Raises
    ------
    galmorph.errors.DataError
        An ID not in the table, a position with no galaxy near, an image that does not
        exist, no ``embedding`` column.
    galmorph.errors.ParameterError
        ``k`` below 1, or more than the table's usable rows.

    Examples
    --------
    >>> from galmorph import MorphologyClassifier                          # doctest: +SKIP
    >>> emb = MorphologyClassifier().embed(["a.jpg", "b.jpg", "c.jpg"])    # doctest: +SKIP
    >>> find_similar(emb, "a", k=2)["path", "distance"]                    # doctest: +SKIP
    """
    from galmorph.adapt.embeddings import read_embeddings, table_name

    if not hasattr(embeddings, "colnames"):
        embeddings = read_embeddings(embeddings)
    name = table_name(embeddings)
    table = embeddings
    X, rows = embedding_matrix(table, name)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a whole number >= 1, not {k!r}")
    v, row, what = _query_vector(table, query, rows, X, id_column, max_separation, name, model)
    drop = row is not None and not include_query
    if k > len(X) - drop:
        raise ParameterError(f"k={k} but {name} hold only {len(X) - drop} other usable "
                             f"galaxies; ask for k <= {len(X) - drop}")
    idx, dist = nearest(X, v[None], min(k + drop, len(X)))
    keep = [(rows[j], d) for j, d in zip(idx[0], dist[0]) if not (drop and rows[j] == row)][:k]
    out = table[[r for r, _ in keep]]
    out.remove_column(EMBEDDING_COLUMN)
    out.add_column(np.array([d for _, d in keep], np.float32), name="distance", index=0)
    out.add_column(np.arange(1, len(keep) + 1), name="rank", index=0)
    out["distance"].description = "cosine distance of the embeddings to the query's"
    out.meta.update({"query": str(query) if what.startswith("row") else what,
                     "query_row": row, "k": int(k), "metric": "cosine"})
    return out
