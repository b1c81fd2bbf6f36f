"""Which layout a data folder, file, glob or list is, and the image files inputs name.

Re-exported by :mod:`galmorph.data.catalogs`, whose readers they dispatch to.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from . import _gz2, _kaggle
from ._files import IMAGE_SUFFIXES, expand_inputs, image_suffix, is_glob

__all__ = ["find_images", "detect_layout"]


def find_images(inputs, recursive=False):
    """Image files named by folders, globs or file paths.

    Parameters
    ----------
    inputs : str, Path or iterable of them
        Folders (their image files, sorted by name), glob patterns
        (``"cutouts/*.fits"``) or files. JPEG (``.jpg``, ``.jpeg``), PNG and
        FITS (``.fits``, ``.fit``, ``.fits.gz``) are recognised.
    recursive : bool
        Also search sub-folders of folders.

    Returns
    -------
    list of pathlib.Path
        Absolute paths, each file once, in input order.

    Raises
    ------
    DataError
        When an input names no image file (missing path, empty folder,
        pattern without matches, unsupported file type).

    Examples
    --------
    >>> find_images(["run1/", "extra/*.png"])  # doctest: +SKIP
    """
    files, empty = expand_inputs(inputs, recursive)
    if empty:
        raise DataError("no images found for " + "; ".join(why for _, why in empty))
    return files


def detect_layout(path):
    """``"kaggle"``, ``"gz2"`` or ``"images"`` for a data folder, file, glob or list.

    A folder with ``training_solutions_rev1.csv``, ``images_training_rev1/``
    or ``images_test_rev1/`` is Kaggle; one with ``images/`` and a table of
    ``t01_smooth_or_features_...`` columns is GZ2; anything else holding
    image files is plain images.
    """
    if not isinstance(path, (str, Path)) or is_glob(path):
        return "images"
    p = Path(path).expanduser()
    if p.is_file():
        if image_suffix(p):
            return "images"
        raise DataError(f"{p} is neither a data folder nor an image ({', '.join(IMAGE_SUFFIXES)})")
    if not p.is_dir():
        raise DataError(f"{p}: no such file or folder")
    names = {c.name for c in p.iterdir()}
    if _kaggle.is_kaggle_folder(names):
        return "kaggle"
    if (p / _gz2.GZ2_IMAGE_DIR).is_dir():
        if _gz2.find_tables(p)[0]:
            return "gz2"
        why = _gz2.unused_tables(p)
        found = (f"; of the tables there, {why}" if why else
                 "; add gz2_hart16.csv for training")
        raise DataError(f"{p} has an images/ folder but no GZ2 label table (a CSV or FITS "
                        f"table with {_gz2.GZ2_MARKER}_... columns){found}; or pass "
                        f"{p / _gz2.GZ2_IMAGE_DIR} to read the images alone")
    if any(image_suffix(n) for n in names):
        return "images"
    raise DataError(f"{p} holds no known layout: expected {_kaggle.KAGGLE_CSV} + "
                    f"images_training_rev1/ (Kaggle), images/ + a gz2_hart16 table (GZ2), "
                    f"or image files")
