"""``galmorph similar`` and ``galmorph anomalies``: a table and a grid of thumbnails.

:func:`similar_gallery` runs :func:`galmorph.adapt.similarity.find_similar` and
:func:`anomaly_gallery` :func:`galmorph.adapt.anomaly.rank_anomalies` on an embedding
table, and each writes its result to a folder as ``<name>.ecsv`` and ``<name>.png``:
the galaxies' thumbnails in a grid, captioned with their ID and distance or score.
Thumbnails come from the table's image-path column (relative paths resolved against
``image_dir``, then the embedding file's folder, then the working directory) or,
for a catalogue of positions, from cutouts by ra/dec (:mod:`galmorph.astro.cutouts`,
from its cache when ``galmorph embed`` fetched them); a galaxy with neither gets a
grey square saying why.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from galmorph._util._tables import DEC_NAMES, PATH_NAMES, RA_NAMES, find_column
from galmorph.data.images import crop_and_resize, load_image
from galmorph.errors import DataError

__all__ = ["similar_gallery", "anomaly_gallery", "thumbnails", "THUMB"]

#: Thumbnail side, pixels (the central 224 of a GZ2 image, as the model sees it).
THUMB = 128


def _folders(image_dir, source):
    dirs = [image_dir] if isinstance(image_dir, (str, os.PathLike)) else list(image_dir or [])
    if source is not None:
        dirs.append(Path(source).expanduser().resolve().parent)
    return [Path(d) for d in dirs] + [Path.cwd()]


def _find(value, folders):
    path = Path(str(value)).expanduser()
    if path.is_absolute():
        return path
    return next((d / path for d in folders if (d / path).is_file()), folders[-1] / path)


def thumbnails(table, *, image_dir=None, source=None, cache_dir=None, backend="hips2fits"):
    """The rows' images as ``uint8 (THUMB, THUMB, 3)`` thumbnails, and why any is missing.

    Parameters
    ----------
    table : astropy.table.Table
        Rows with an image-path column, or ra/dec.
    image_dir : path or list of paths, optional
        Folders relative paths are looked up in, first.
    source : path, optional
        The embedding file: its folder is looked in next.
    cache_dir, backend
        For cutouts by ra/dec (:func:`galmorph.astro.cutouts.fetch_cutouts`).

    Returns
    -------
    images : numpy.ndarray, uint8, shape (N, THUMB, THUMB, 3)
    missing : list of str
        ``""``, or why the row's thumbnail is grey.
    """
    n = len(table)
    images = np.full((n, THUMB, THUMB, 3), 96, np.uint8)
    missing = [""] * n
    path_col = find_column(table, PATH_NAMES)
    ra, dec = find_column(table, RA_NAMES), find_column(table, DEC_NAMES)
    fetch = []
    for i in range(n):
        value = None if path_col is None else str(table[path_col][i]).strip()
        if value:
            try:
                image = load_image(_find(value, _folders(image_dir, source)))
                images[i] = _thumb(image)
            except DataError as err:
                missing[i] = f"no image: {err}"
        elif ra is not None and dec is not None:
            fetch.append(i)
        else:
            missing[i] = "no image path or ra/dec"
    if fetch:
        from astropy.coordinates import SkyCoord

        from galmorph.astro.cutouts import fetch_cutouts

        coords = SkyCoord(np.asarray(table[ra][fetch], float),
                          np.asarray(table[dec][fetch], float), unit="deg")
        for i, cut in zip(fetch, fetch_cutouts(coords, backend=backend, cache_dir=cache_dir,
                                               progress=False)):
            if cut.image is None:
                missing[i] = f"no cutout: {cut.error}"
            else:
                images[i] = _thumb(cut.image)
    return images, missing


def _thumb(image):
    """The central 224 pixels (all of a smaller image) at THUMB x THUMB, (H, W, 3)."""
    crop = min(224, image.shape[0], image.shape[1])
    return crop_and_resize(image, crop, THUMB).transpose(1, 2, 0)


def _ids(table):
    from galmorph.adapt.similarity import ID_NAMES

    col = next((c for c in (find_column(table, [n]) for n in ID_NAMES) if c), None)
    if col is not None:
        return [str(v) for v in table[col]]
    path = find_column(table, PATH_NAMES)
    if path is not None:
        return [Path(str(v)).stem for v in table[path]]
    return [f"row {i}" for i in range(len(table))]


def _grid(images, titles, missing, filename, ncols):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from galmorph.plots import plot_galaxy_grid

    titles = [t + ("\n" + m[:28] if m else "") for t, m in zip(titles, missing)]
    fig = plot_galaxy_grid(images, titles, ncols=ncols, filename=filename)
    plt.close(fig)
    return Path(filename)


def similar_gallery(embeddings, query, out_dir, *, k=10, id_column=None, image_dir=None,
                    model=None, max_separation=2.0, ncols=6, cache_dir=None):
    """Find the ``k`` galaxies most like ``query`` and write ``similar.ecsv`` and
    ``similar.png`` (the query first, then the neighbours with their cosine distance).

    Parameters
    ----------
    embeddings : path-like or astropy.table.Table
        An embedding table or file (:func:`galmorph.adapt.embeddings.read_embeddings`).
    query
        As for :func:`galmorph.adapt.similarity.find_similar`.
    out_dir : path-like
        Folder to write into (made if need be).
    k, id_column, model, max_separation
        As for :func:`~galmorph.adapt.similarity.find_similar`.
    image_dir : path, optional
        Where the table's relative image paths are (default: beside the file, then here).
    ncols : int
        Thumbnails per row of the grid.
    cache_dir : path, optional
        Cutout cache, for a catalogue of positions.

    Returns
    -------
    result : astropy.table.Table
    png : pathlib.Path
    """
    from galmorph.adapt.embeddings import read_embeddings
    from galmorph.adapt.similarity import find_similar
    from galmorph.inference.embedding import EMBEDDING_COLUMN

    source = None if hasattr(embeddings, "colnames") else Path(embeddings)
    table = embeddings if source is None else read_embeddings(source)
    result = find_similar(table, query, k, id_column=id_column, max_separation=max_separation,
                          model=model)
    out = _out(out_dir)
    row = result.meta["query_row"]
    shown = result.copy()
    titles = [f"{i}\nd = {d:.3f}" for i, d in zip(_ids(result), result["distance"])]
    if row is not None:  # the query's own thumbnail first
        first = table[[row]]
        first.remove_column(EMBEDDING_COLUMN)
        shown, titles = [first, shown], [f"query: {_ids(first)[0]}"] + titles
    images, missing = _images(shown, image_dir, source, cache_dir)
    if row is None and isinstance(query, (str, os.PathLike)) and Path(query).is_file():
        images = np.concatenate([_thumb(load_image(query))[None], images])
        missing, titles = [""] + missing, [f"query: {Path(query).name}"] + titles
    result.write(out / "similar.ecsv", overwrite=True)
    return result, _grid(images, titles, missing, out / "similar.png", ncols)


def anomaly_gallery(embeddings, out_dir, *, top=24, method="knn", k=10, seed=None,
                    image_dir=None, ncols=6, cache_dir=None):
    """Rank every galaxy by :func:`galmorph.adapt.anomaly.rank_anomalies` and write
    ``anomalies.ecsv`` (all of them, most unusual first) and ``anomalies.png`` (the top
    ``top``, with their scores).

    Parameters
    ----------
    embeddings : path-like or astropy.table.Table
    out_dir : path-like
    top : int
        Galaxies in the grid (default 24).
    method, k, seed
        As for :func:`~galmorph.adapt.anomaly.rank_anomalies`.
    image_dir, ncols, cache_dir
        As for :func:`similar_gallery`.

    Returns
    -------
    ranked : astropy.table.Table
    png : pathlib.Path
    """
    from galmorph.adapt.anomaly import rank_anomalies
    from galmorph.adapt.embeddings import read_embeddings

    source = None if hasattr(embeddings, "colnames") else Path(embeddings)
    table = embeddings if source is None else read_embeddings(source)
    ranked = rank_anomalies(table, method=method, k=k, seed=seed)
    out = _out(out_dir)
    shown = ranked[:max(1, int(top))]
    images, missing = _images([shown], image_dir, source, cache_dir)
    titles = [f"#{r} {i}\nscore {s:.3g}" for r, i, s in
              zip(shown["anomaly_rank"], _ids(shown), shown["anomaly_score"])]
    ranked.write(out / "anomalies.ecsv", overwrite=True)
    return ranked, _grid(images, titles, missing, out / "anomalies.png", ncols)


def _images(tables, image_dir, source, cache_dir):
    tables = tables if isinstance(tables, list) else [tables]
    parts = [thumbnails(t, image_dir=image_dir, source=source, cache_dir=cache_dir)
             for t in tables]
    return np.concatenate([p[0] for p in parts]), [m for p in parts for m in p[1]]


def _out(out_dir):
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"--out {out_dir}: cannot make the folder ({err})") from None
    return out
