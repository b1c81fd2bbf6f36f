"""The images of a classifier's rows: decoded beside the model, read, or fetched as cutouts.

Plumbing of :class:`galmorph.astro.classifier.MorphologyClassifier`; ``clf`` is the
classifier, whose settings (``convert``, ``backend``, ``timeout``, ...) these follow.
"""
from __future__ import annotations

import numpy as np

from galmorph.astro.separation import safe_projected_separation
from galmorph.data.images import load_image
from galmorph.errors import DataError

__all__ = ["file_decoder", "submit", "block_images", "count_rows", "project_separations"]

#: Inputs whose rows are image files, which threads may decode beside the model.
_FILE_KINDS = ("table-images", "paths", "images")


def file_decoder(clf, parsed, separations):
    """Threads decoding image files beside the model, for large jobs of files (the
    separations need the full images here, so they decode in this thread)."""
    from galmorph._util._workers import usable_cores
    from galmorph.inference.files import ImageDecoder, decode_workers

    if separations or not decode_workers(parsed.n or 0) or parsed.kind not in _FILE_KINDS:
        return None
    return ImageDecoder(usable_cores(), clf.preprocessing_.get("crop"),
                        int(clf.preprocessing_["size"]), clf.convert, threads=True)


def submit(decoder, chunk):
    """Start decoding the files of ``chunk``; returns a function giving {row: result}."""
    rows = [i for i, r in enumerate(chunk) if r.kind == "path"]
    if decoder is None or not rows:
        return dict
    wait = decoder.submit([chunk[i].value for i in rows])
    return lambda: dict(zip(rows, wait()))


def block_images(clf, chunk, block, errors, scales, separations, notes):
    """(row, image) for the rows of ``block`` that have no error yet.

    The image is a full-resolution array, or a path where only the crop is
    needed (JPEGs then decode at reduced scale), or the ready model input.
    """
    coords = [i for i in block if chunk[i].kind == "coord" and not errors[i]]
    fetched = dict(zip(coords, _fetch(clf, chunk, coords))) if coords else {}
    for i in block:
        r = chunk[i]
        if errors[i]:
            continue
        if r.kind == "coord":
            cut = fetched[i]
            scales[i] = cut.pixel_scale
            if cut.image is None:
                errors[i] = f"row {r.index}: {cut.error or 'no cutout'}"
                continue
            yield i, cut.image
        elif r.kind == "path" and separations:
            try:
                image, notes[i] = load_image(r.value, convert=clf.convert,
                                             return_note=True)
            except DataError as err:
                errors[i] = f"row {r.index}: {err}"
                continue
            yield i, image
        else:
            yield i, r.value

def _fetch(clf, chunk, coords):
    from astropy.coordinates import SkyCoord

    from galmorph.astro.cutouts import fetch_cutouts

    radec = np.array([chunk[i].value for i in coords])  # (k, 2) degrees
    petro = np.array([chunk[i].petro for i in coords])
    return fetch_cutouts(SkyCoord(radec[:, 0], radec[:, 1], unit="deg"),
                         backend=clf.backend, petro_r90=petro,
                         cache_dir=clf.cache_dir, progress=False, timeout=clf.timeout,
                         retries=clf.retries, workers=clf.workers,
                         guard=clf._network, rows=[chunk[i].index for i in coords])


def count_rows(x):
    """Rows in ``x`` where that is cheap to know (for ``precision="auto"``), else None."""
    if isinstance(x, (str, bytes)) or hasattr(x, "__fspath__"):
        return 1
    if isinstance(x, np.ndarray):
        return len(x) if x.ndim == 4 else 1
    size = getattr(x, "size", None)                 # SkyCoord (and arrays) know it
    if getattr(x, "isscalar", False):
        return 1
    if hasattr(x, "__len__"):
        try:
            return len(x)
        except TypeError:
            pass
    return int(size) if isinstance(size, (int, np.integer)) else None


def project_separations(chunk, parsed, sep_px, scales, cosmology):
    """The separation columns of a chunk's rows from their nearest neighbours' ``sep_px``:
    cutouts by their own pixel ``scales``, image files at the GZ2 scale."""
    petro = np.array([r.petro for r in chunk])
    z = None if parsed.z is None else parsed.z[[r.index for r in chunk]]
    # Cutouts know their pixel scale; image files are taken to be GZ2-scaled. A table of
    # paths may hold both (a cutout where a row's path is empty).
    cut = np.array([r.kind == "coord" for r in chunk])
    kw = dict(petro_r90=petro, z=z, cosmology=cosmology)
    files = safe_projected_separation(sep_px, **kw) if not cut.all() else None
    if not cut.any():
        return files
    cutouts = safe_projected_separation(sep_px, pixel_scale=scales, gz2_scale=False, **kw)
    if files is None:
        return cutouts
    out = {k: np.where(cut, cutouts[k], files[k]) for k in files if k != "diagnostics_error"}
    out["diagnostics_error"] = files["diagnostics_error"] or cutouts["diagnostics_error"]
    return out
