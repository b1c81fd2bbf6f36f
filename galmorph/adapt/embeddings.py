"""Embedding tables: read, write, and the rows and queries a search needs.

An embedding table is what :meth:`MorphologyClassifier.embed
<galmorph.astro.classifier.MorphologyClassifier.embed>` and ``galmorph embed`` give:
the input's columns (IDs, paths, ra/dec), an ``embedding`` column of float32 (N, D)
L2-normalised rows (:mod:`galmorph.inference.embedding`), ``predict_ok``,
``predict_error`` and ``input_note``, and ``meta`` naming the model, its precision,
TTA and preprocessing. It is stored as Parquet, ECSV or FITS (one file), or as
``.npy`` (the (N, D) array) beside ``<stem>.ids.ecsv`` (every other column); a
folder of Parquet files (the Dask path, ``galmorph embed --scheduler``) reads as one
table.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from galmorph.errors import DataError, MissingColumnError
from galmorph.inference.embedding import EMBEDDING_COLUMN, NORM_COLUMN

__all__ = ["read_embeddings", "write_embeddings", "embedding_matrix", "ids_path", "table_name",
           "embedding_format", "EMBEDDING_FORMATS", "query_meta", "embed_images"]

#: File endings :func:`write_embeddings` writes, and :func:`read_embeddings` reads.
EMBEDDING_FORMATS = {".parquet": "parquet", ".ecsv": "ascii.ecsv", ".fits": "fits",
                     ".fit": "fits", ".npy": "npy"}
#: ``meta`` keys a query image needs to be embedded as the table was.
_QUERY_META = ("model_path", "precision", "tta", "preprocessing", "device")


def ids_path(path):
    """The table of IDs and status that goes with an ``.npy`` embedding file."""
    path = Path(path)
    return path.with_name(path.stem + ".ids.ecsv")


def embedding_format(path, verb="write"):
    """The format of an embedding file from its ending.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    verb : str
        What is done with it, for the error ("write" or "read").

    Returns
    -------
    str
        The astropy format (or ``"npy"``).

    Raises
    ------
    galmorph.errors.DataError
        An ending that is not one of :data:`EMBEDDING_FORMATS`, naming them.
    """
    fmt = EMBEDDING_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(f"cannot {verb} embeddings {path}: use a name ending in "
                        f"{', '.join(EMBEDDING_FORMATS)}")
    return fmt


def write_embeddings(table, path):
    """Write an embedding table to ``path`` (format from its ending), atomically.

    Parameters
    ----------
    table : astropy.table.Table
        With an ``embedding`` column.
    path : path-like
        ``.parquet``, ``.ecsv``, ``.fits``; or ``.npy``: the (N, D) array there and
        the other columns (and ``meta``) in :func:`ids_path`.

    Returns
    -------
    pathlib.Path
    """
    from galmorph._util._atomic import atomic_open
    from galmorph._util._io import write_table_atomic

    path = Path(path)
    fmt = embedding_format(path, "write")
    embedding_matrix(table, f"the table for {path}", usable_only=False)  # has the column
    if fmt == "npy":
        rest = table.copy(copy_data=False)
        rest.remove_column(EMBEDDING_COLUMN)
        write_table_atomic(rest, ids_path(path), format="ascii.ecsv")
        with atomic_open(path, "wb") as f:
            np.save(f, np.asarray(table[EMBEDDING_COLUMN], dtype=np.float32))
        return path
    out = table
    if fmt == "fits":  # FITS headers hold scalars only: the rest as JSON text
        out = table.copy(copy_data=False)
        out.meta = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                    for k, v in table.meta.items()}
    with warnings.catch_warnings():  # FITS: long meta keys become HIERARCH cards, as meant
        warnings.simplefilter("ignore", category=UserWarning)
        write_table_atomic(out, path, format=fmt)
    return path


def read_embeddings(path):
    """Read an embedding table written by :func:`write_embeddings` or the Dask path.

    Parameters
    ----------
    path : path-like
        A ``.parquet``, ``.ecsv``, ``.fits`` or ``.npy`` file (with its
        ``.ids.ecsv``), or a folder of Parquet files.

    Returns
    -------
    astropy.table.Table
        With ``embedding`` as a float32 (N, D) column.

    Raises
    ------
    galmorph.errors.DataError
        No such file, a format it cannot read, or no ``embedding`` column (named).
    """
    from astropy.table import Table

    path = Path(path).expanduser()
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise DataError(f"embeddings folder {path} holds no .parquet files; give an "
                            f"embedding file written by galmorph embed --out")
        table = _read_parquet(path, astropy=False)
    elif not path.is_file():
        raise DataError(f"embeddings file {path} does not exist")
    elif embedding_format(path, "read") == "npy":
        table = _read_npy(path)
    elif path.suffix.lower() == ".parquet":
        table = _read_parquet(path)
    else:
        try:
            table = Table.read(path, format=embedding_format(path, "read"))
        except Exception as err:  # astropy raises many kinds for a broken file
            raise DataError(f"cannot read embeddings {path}: {err}") from None
    table.meta = {k: _unjson(v) for k, v in table.meta.items()}
    embedding_matrix(table, f"embeddings {path}", usable_only=False)  # the column is there
    table.meta["embeddings_file"] = str(path)  # named in errors and in the results
    for name in (EMBEDDING_COLUMN, NORM_COLUMN):  # FITS: big-endian, NaN read as masked
        if name in table.colnames:
            table[name] = np.asarray(np.ma.filled(table[name], np.nan), dtype=np.float32)
    return table


def _read_parquet(path, *, astropy=True):
    """A Parquet file as a Table: astropy's reader keeps the meta that write_embeddings
    stored; pandas (pyarrow) reads what the Dask path writes (lists, None in text)."""
    from astropy.table import Table

    if astropy:
        try:
            with warnings.catch_warnings():  # text widths are not stored: taken from the data
                warnings.simplefilter("ignore", category=UserWarning)
                return Table.read(path, format="parquet")
        except Exception:  # noqa: BLE001 -- e.g. None in a text column: pandas reads it
            pass
    import pandas as pd

    paths = sorted(Path(path).glob("*.parquet")) if Path(path).is_dir() else [path]
    try:
        frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    except Exception as err:  # pyarrow raises many kinds for a broken file
        raise DataError(f"cannot read embeddings {path}: {err}") from None
    emb = frame.pop(EMBEDDING_COLUMN) if EMBEDDING_COLUMN in frame.columns else None
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: "" if v is None else str(v))
    table = Table.from_pandas(frame)
    if emb is not None:  # one list per row: one (N, D) column
        table[EMBEDDING_COLUMN] = np.stack([np.asarray(v, np.float32) for v in emb]) \
            if len(emb) else np.zeros((0, 0), np.float32)
    return table


def _read_npy(path):
    from astropy.table import Table

    ids = ids_path(path)
    if not ids.is_file():
        raise DataError(f"embeddings {path} has no {ids.name} beside it (the IDs and status "
                        f"of its rows); write both with write_embeddings / galmorph embed")
    emb = np.load(path, allow_pickle=False)
    table = Table.read(ids, format="ascii.ecsv")
    if emb.ndim != 2 or len(emb) != len(table):
        raise DataError(f"embeddings {path} hold shape {emb.shape}, but {ids.name} has "
                        f"{len(table)} rows; they must match, one row per galaxy")
    table[EMBEDDING_COLUMN] = emb.astype(np.float32, copy=False)
    return table


def _unjson(value):
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def table_name(table):
    """What errors call an embedding table: its file where it was read from one."""
    source = getattr(table, "meta", {}).get("embeddings_file")
    return f"embeddings {source}" if source else "the embeddings"


def embedding_matrix(table, name="embeddings", *, usable_only=True):
    """The embedding rows of ``table`` a search can use.

    Parameters
    ----------
    table : astropy.table.Table
        An embedding table.
    name : str
        What to call the table in errors (e.g. the file).
    usable_only : bool
        Keep only rows whose embedding is finite and whose ``predict_ok`` (if
        present) is true.

    Returns
    -------
    X : numpy.ndarray, float32, shape (k, D)
    rows : numpy.ndarray, int, shape (k,)
        Their row numbers in ``table``.

    Raises
    ------
    galmorph.errors.MissingColumnError
        No ``embedding`` column.
    galmorph.errors.DataError
        The column is not (N, D) numbers, or (``usable_only``) no row is usable.
    """
    if EMBEDDING_COLUMN not in table.colnames:
        cols = ", ".join(table.colnames[:12])
        raise MissingColumnError(f"{name} has no {EMBEDDING_COLUMN!r} column (columns: {cols});"
                                 f" make one with galmorph embed (MorphologyClassifier().embed)")
    col = np.asarray(table[EMBEDDING_COLUMN])
    if col.ndim != 2 or col.dtype.kind not in "fiu":
        raise DataError(f"{name}: column {EMBEDDING_COLUMN!r} holds {col.dtype} of shape "
                        f"{col.shape}; expected float (N, D), one vector per row")
    X = col.astype(np.float32, copy=False)
    keep = np.ones(len(X), bool)
    if usable_only:
        keep = np.isfinite(X).all(1)
        if "predict_ok" in table.colnames:
            keep &= np.asarray(np.ma.filled(table["predict_ok"], False), dtype=bool)
        if not keep.any():
            raise DataError(f"{name}: none of its {len(X)} rows has a usable embedding (all "
                            f"failed; see the predict_error column)")
    rows = np.flatnonzero(keep)
    return X[rows], rows


def query_meta(table):
    """How ``table``'s embeddings were made: ``model_path``, ``precision``, ``tta``,
    ``preprocessing`` and ``device`` from its ``meta`` (missing keys are None)."""
    meta = {k: table.meta.get(k) for k in _QUERY_META}
    if meta["tta"] in ("none", ""):
        meta["tta"] = None
    return meta


def embed_images(images, *, like=None, model=None, tta=None, precision="auto", device="cpu"):
    """Embed image files or arrays as an embedding table's rows were embedded.

    Parameters
    ----------
    images : path-like, uint8 array (H, W, 3), or a list of them
        Full images (cropped and resized here as the model's preprocessing says).
    like : astropy.table.Table, optional
        An embedding table: its ``meta`` gives the model, precision, TTA and
        preprocessing (:func:`query_meta`), so that the query lies in its space.
    model, tta, precision, device
        Used where ``like`` does not say (``model`` None: the default model).

    Returns
    -------
    numpy.ndarray, float32, shape (n, D)
    """
    from galmorph.data.images import crop_and_resize
    from galmorph.inference.embedding import embed_arrays
    from galmorph.inference.loading import load_for_inference

    if isinstance(images, (str, os.PathLike)) or (
            isinstance(images, np.ndarray) and images.ndim == 3):
        images = [images]
    meta = query_meta(like) if like is not None else {}
    source = meta.get("model_path") or model
    if source is not None and not Path(str(source)).is_file() and model is not None:
        source = model  # the table's model is not on this machine: the one given
    resolved, prec, dev = load_for_inference(
        source, device=device, precision=meta.get("precision") or precision, n_images=len(images))
    pre = meta.get("preprocessing") or resolved.preprocessing
    x = np.stack([crop_and_resize(im, pre.get("crop"), int(pre["size"])) for im in images])
    tta = meta["tta"] if like is not None else tta
    return embed_arrays(resolved.model, x, tta=tta, device=dev, precision=prec)
