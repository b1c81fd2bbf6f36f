"""Galaxy catalogs: the Kaggle, GZ2-release and plain-image layouts as one :class:`Catalog`.

Three layouts are read (see ``docs/data.rst``):

``kaggle``
    ``images_training_rev1/<GalaxyID>.jpg`` + ``training_solutions_rev1.csv``
    (``GalaxyID`` and the 37 weighted fractions ``Class1.1 ... Class11.6``);
    ``split="test"`` reads ``images_test_rev1/`` without labels.
``gz2``
    The Galaxy Zoo 2 release (Willett et al. 2013; Hart et al. 2016):
    ``images/<asset_id>.jpg``, a ``gz2_hart16``-style table of
    ``tNN_..._aNN_..._{fraction,weighted_fraction,debiased}`` columns keyed by
    ``dr7objid`` and, where that table has no ``asset_id``, the
    ``gz2_filename_mapping`` table (``objid`` -> ``asset_id``).
``images``
    Any folder(s), glob(s) or list of JPEG/PNG/FITS files, for prediction.

Every reader validates what it reads and either raises a
:class:`~galmorph.errors.DataError` naming the file, row and column, or (with
``on_error="skip"``) drops the bad rows, lists them in ``Catalog.skipped``
and warns; see :mod:`galmorph.data._validate`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import schema
from ..errors import DataError, ParameterError
from . import _gz2, _kaggle
from ._files import (IMAGE_SUFFIXES, absolute, as_list, describe_sources, expand_inputs,
                    images_fingerprint, is_glob, validate_image_files)
from ._layouts import detect_layout, find_images  # public here; defined beside the layouts
from ._validate import CatalogWarning, Policy, close_read

__all__ = ["Catalog", "open_catalog", "read_kaggle", "read_gz2", "read_images", "find_images",
           "detect_layout", "LAYOUTS", "FLAVOURS", "IMAGE_SUFFIXES", "DEFAULT_IMAGE_SIZE",
           "CatalogWarning"]

#: Layout names returned by :func:`detect_layout` and stored in ``Catalog.layout``.
LAYOUTS = ("kaggle", "gz2", "images")
#: GZ2 vote-fraction flavours accepted by :func:`read_gz2`.
FLAVOURS = _gz2.FLAVOURS
#: ``(width, height)`` of the Kaggle and GZ2 JPEGs, in pixels.
DEFAULT_IMAGE_SIZE = (424, 424)

_AUTO = "auto"


@dataclass
class Catalog:
    """Galaxies, their image files and (optionally) their labels.

    Attributes
    ----------
    ids : numpy.ndarray
        ``int64`` galaxy IDs (Kaggle ``GalaxyID``, GZ2 ``dr7objid``, integer
        file names), else the file stems as ``str``. Shape ``(N,)``.
    paths : list of pathlib.Path
        One image file per galaxy, aligned with ``ids``.
    labels : numpy.ndarray or None
        ``float32 (N, 37)`` Kaggle weighted vote fractions in
        :data:`galmorph.schema.KAGGLE_COLUMNS` order; ``None`` without labels.
    layout : str
        ``"kaggle"``, ``"gz2"`` or ``"images"``.
    sources : dict
        JSON-able description of the inputs: table files with size and
        mtime, an image fingerprint (count, bytes, newest mtime, digest) and
        the reading options. Equal ``sources`` mean the same inputs.
    skipped : list of (id_or_file, reason)
        Everything left out with ``on_error="skip"``.
    table : pandas.DataFrame
        Per-galaxy metadata aligned with ``ids`` (e.g. GZ2 ``ra``, ``dec``,
        ``gz2_class``), always with a ``path`` column.
    """

    ids: np.ndarray
    paths: list
    labels: np.ndarray | None
    layout: str
    sources: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    table: object = None

    def __post_init__(self):
        import pandas as pd

        self.paths = [p if isinstance(p, Path) else Path(p) for p in self.paths]
        self.ids = np.asarray(self.ids)
        n = len(self.paths)
        if len(self.ids) != n:
            raise ParameterError(f"Catalog has {len(self.ids)} ids but {n} paths")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.float32)
            if self.labels.shape != (n, schema.N_ANSWERS):
                raise ParameterError(f"Catalog labels must have shape ({n}, {schema.N_ANSWERS}), "
                                 f"not {self.labels.shape}")
        if self.table is None:
            self.table = pd.DataFrame({"id": self.ids})
        if len(self.table) != n:
            raise ParameterError(f"Catalog table has {len(self.table)} rows for {n} galaxies")
        if "path" not in self.table.columns:
            paths = pd.DataFrame({"path": [str(p) for p in self.paths]}, index=self.table.index)
            self.table = pd.concat([self.table, paths], axis=1)

    def __len__(self):
        return len(self.paths)

    def __repr__(self):
        labels = "None" if self.labels is None else f"{self.labels.shape}"
        return (f"Catalog(layout={self.layout!r}, n={len(self)}, labels={labels}, "
                f"skipped={len(self.skipped)}, root={self.sources.get('root')!r})")

    def subset(self, index):
        """A new :class:`Catalog` with the rows ``index`` (integers or a boolean mask)."""
        idx = np.asarray(index)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        paths = [self.paths[i] for i in idx]
        # Same tables and options, but the fingerprint of the images actually kept.
        sources = dict(self.sources, images=images_fingerprint(paths))
        return Catalog(ids=self.ids[idx], paths=paths,
                       labels=None if self.labels is None else self.labels[idx],
                       layout=self.layout, sources=sources, skipped=list(self.skipped),
                       table=self.table.iloc[idx].reset_index(drop=True))

    def write_report(self, path):
        """Write the skip report: CSV (``id_or_file,reason``) for ``*.csv``, else text.

        Written even when nothing was skipped, so a report always says so.
        Returns the path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["id_or_file", "reason"])
                writer.writerows([str(k), r] for k, r in self.skipped)
            return path
        root = self.sources.get("root", "?")
        lines = [f"# galmorph skip report: {self.layout} catalog from {root}",
                 f"# kept {len(self)}, skipped {len(self.skipped)}"]
        lines += [f"{k}\t{r}" for k, r in self.skipped] or ["# nothing was skipped"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


# ---------------------------------------------------------------------------
# Shared steps
# ---------------------------------------------------------------------------

def _split(split):
    split = {"train": "training"}.get(split, split)
    if split not in _kaggle.KAGGLE_DIRS:
        raise ParameterError(f"split must be 'training' or 'test', not {split!r}")
    return split


def _catalog(parts, layout, root, policy, options, report):
    """Catalog from validated :class:`~galmorph.data._validate.Parts`, then ``close_read``."""
    catalog = Catalog(ids=parts.ids, paths=parts.paths, labels=parts.labels, layout=layout,
                      table=parts.table,
                      sources=describe_sources(layout, root, parts.tables, parts.paths, **options))
    return close_read(policy, catalog, parts.n_rows, report)


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------

def read_kaggle(root, *, split="training", on_error="auto", check_images=True,
                image_size=DEFAULT_IMAGE_SIZE, image_mode="RGB", report=None):
    """Read a folder in the Kaggle "Galaxy Challenge" layout.

    Parameters
    ----------
    root : str or Path
        Folder holding ``training_solutions_rev1.csv`` and
        ``images_training_rev1/`` (and/or ``images_test_rev1/``).
    split : {"training", "test"}
        ``"test"`` reads ``images_test_rev1/`` without labels.
    on_error : {"auto", "raise", "skip"}
        Stop at the first kind of problem, or drop the bad rows and record
        them in ``Catalog.skipped`` (with a :class:`CatalogWarning`).
        ``"auto"`` (default) is ``"raise"`` here; see :func:`read_gz2`.
    check_images : bool
        Open every image header (no decode) to catch unreadable files and
        unexpected size or mode.
    image_size : (int, int) or None
        Expected ``(width, height)`` in pixels; ``None`` accepts any.
    image_mode : str or None
        Expected PIL mode; ``None`` accepts any.
    report : str or Path, optional
        Where to write the skip report (``.csv`` or text).

    Returns
    -------
    Catalog
        ``ids`` are ``int64`` GalaxyIDs in CSV order, ``labels`` ``float32
        (N, 37)`` (``None`` for the test split).

    Examples
    --------
    >>> cat = read_kaggle("gz-kaggle-5k")  # doctest: +SKIP
    >>> cat.labels.shape  # doctest: +SKIP
    (5000, 37)
    """
    root = absolute(root)
    split = _split(split)
    policy = Policy(on_error)
    options = dict(split=split, on_error=on_error, check_images=check_images,
                   image_size=image_size, image_mode=image_mode)
    if split == "test":
        folder = _kaggle.kaggle_dir(root, split)
        catalog = _image_catalog(find_images(folder), policy, layout="kaggle", root=root,
                                 int_ids=True, check=check_images, size=image_size,
                                 mode=image_mode, options=options)
        return close_read(policy, catalog, catalog.sources["n_inputs"], report)
    parts = _kaggle.read_training(root, policy, image_size, image_mode, check_images)
    return _catalog(parts, "kaggle", root, policy, options, report)


def read_gz2(root, *, flavour="weighted_fraction", labels=None, mapping=None, on_error="auto",
             check_images=True, image_size=DEFAULT_IMAGE_SIZE, image_mode="RGB", report=None):
    """Read a folder in the Galaxy Zoo 2 release layout.

    Parameters
    ----------
    root : str or Path
        Folder with ``images/<asset_id>.jpg`` and the label table(s).
    flavour : {"fraction", "weighted_fraction", "debiased"}
        Which GZ2 vote fractions become the labels (Willett et al. 2013;
        debiased: Hart et al. 2016). They are per-question (conditional)
        fractions, multiplied down the tree into Kaggle weighted fractions
        by :func:`galmorph.labels.gz2_to_kaggle`.
    labels : path or list of paths, optional
        Label tables (CSV, CSV.gz or FITS, ``gz2_hart16`` columns). Default:
        every table in ``root`` with ``t01_smooth_or_features_...`` columns.
    mapping : path or list of paths, optional
        Filename mapping (``objid``, ``sample``, ``asset_id``) for tables
        without ``asset_id``. Default: the mapping tables found in ``root``.
    on_error : {"auto", "raise", "skip"}
        As in :func:`read_kaggle`, except that ``"auto"`` (default) skips the
        rows that break the tree by more than the release's rounding explains
        (:data:`galmorph.data._validate.GZ2_TREE_ATOL`, 0.025; smaller breaks
        are accepted), with one :class:`CatalogWarning` that counts them and
        names the first; ``"raise"`` stops at them.
    check_images, image_size, image_mode, report
        As in :func:`read_kaggle`.

    Returns
    -------
    Catalog
        ``ids`` are ``int64`` ``dr7objid``; ``table`` keeps every column of
        the label table(s) (``ra``, ``dec``, ``gz2_class``, ...) plus
        ``asset_id`` and ``path``.

    Examples
    --------
    >>> cat = read_gz2("gz2-1k", flavour="debiased", on_error="skip")  # doctest: +SKIP
    >>> cat.table[["dr7objid", "gz2_class"]].head()  # doctest: +SKIP
    """
    root = absolute(root)
    policy = Policy(on_error)
    options = dict(flavour=flavour, on_error=on_error, check_images=check_images,
                   image_size=image_size, image_mode=image_mode)
    parts = _gz2.read_release(root, flavour, labels, mapping, policy, image_size, image_mode,
                              check_images)
    return _catalog(parts, "gz2", root, policy, options, report)


def _image_catalog(files, policy, *, layout, root, int_ids, check, size, mode, options,
                   empty=()):
    """Catalog of unlabelled image files; IDs from the file stems."""
    import pandas as pd

    ids, paths = validate_image_files(files, policy, int_ids=int_ids, check=check, size=size,
                                      mode=mode, empty=empty, folder=root)
    sources = describe_sources(layout, root, [], paths, **options)
    sources["n_inputs"] = len(files) + len(empty)
    return Catalog(ids=ids, paths=paths, labels=None, layout=layout, sources=sources,
                   table=pd.DataFrame({"id": ids, "path": [str(p) for p in paths]}))


def read_images(inputs, *, on_error="auto", check_images=True, image_size=None,
                image_mode=None, recursive=False, report=None):
    """Catalog of image files for prediction (no labels).

    Parameters
    ----------
    inputs : str, Path or iterable of them
        Folders, glob patterns or files (JPEG, PNG, FITS; see
        :func:`find_images`).
    on_error : {"auto", "raise", "skip"}
        Stop at the first kind of problem or skip the bad files (``"auto"``,
        the default, stops).
    check_images : bool
        Open every header (no decode) to catch unreadable files.
    image_size : (int, int) or None
        Expected ``(width, height)``; ``None`` (default) accepts any size.
    image_mode : str or None
        Expected PIL mode (``"RGB"``); ``None`` (default) accepts any.
    recursive : bool
        Search sub-folders too.
    report : str or Path, optional
        Where to write the skip report.

    Returns
    -------
    Catalog
        ``ids`` are the file names without suffix: ``int64`` when every one
        is an integer, else ``str``. Two files with the same name in
        different folders are an error (``on_error="skip"`` drops both).

    Examples
    --------
    >>> cat = read_images(["cutouts/", "more/*.fits"])  # doctest: +SKIP
    """
    policy = Policy(on_error)
    files, empty = expand_inputs(inputs, recursive)
    if not files:
        raise DataError("no images found for " + "; ".join(why for _, why in empty))
    items = [i if is_glob(i) else str(absolute(i)) for i in map(str, as_list(inputs))]
    root = items[0] if len(items) == 1 else items
    options = dict(on_error=on_error, check_images=check_images, image_size=image_size,
                   image_mode=image_mode, recursive=recursive)
    catalog = _image_catalog(files, policy, layout="images", root=root, int_ids=False,
                             check=check_images, size=image_size, mode=image_mode,
                             options=options, empty=empty)
    return close_read(policy, catalog, catalog.sources["n_inputs"], report)


def open_catalog(source, *, layout="auto", split="training", flavour="weighted_fraction",
                 on_error="auto", check_images=True, image_size=_AUTO, image_mode=_AUTO,
                 labels=None, mapping=None, recursive=False, report=None):
    """Open galaxy images (and labels) in any supported layout.

    Parameters
    ----------
    source : str, Path or list
        A data folder (Kaggle or GZ2 layout), or folders / globs / files of
        images for prediction.
    layout : {"auto", "kaggle", "gz2", "images"}
        ``"auto"`` uses :func:`detect_layout`.
    split : {"training", "test"}
        Kaggle only: the labelled training set or the unlabelled test images.
    flavour : {"fraction", "weighted_fraction", "debiased"}
        GZ2 only: which release vote fractions become labels.
    on_error : {"auto", "raise", "skip"}
        ``"raise"`` stops at the first kind of problem with a
        :class:`~galmorph.errors.DataError` listing every row of that kind;
        ``"skip"`` drops bad rows, lists them in ``Catalog.skipped``, writes
        ``report`` if given and warns (:class:`CatalogWarning`). ``"auto"``
        (default) raises, except for a GZ2 release's tree breaks beyond its
        rounding, which it skips (see :func:`read_gz2`).
    check_images : bool
        Open every image header (no decode): unreadable files, wrong size or mode.
    image_size : (int, int), None or "auto"
        Expected ``(width, height)`` in pixels; ``"auto"``: 424x424 for the
        Kaggle and GZ2 layouts, any size for plain images and for a Kaggle-layout
        folder of pseudo-labels (one with ``teacher.json``, written by
        ``galmorph pseudo-label``).
    image_mode : str, None or "auto"
        Expected PIL mode; ``"auto"``: ``"RGB"`` for Kaggle/GZ2, any otherwise.
    labels, mapping
        GZ2 only, see :func:`read_gz2`.
    recursive : bool
        Plain images only: search sub-folders.
    report : str or Path, optional
        Skip report to write (``.csv`` or text).

    Returns
    -------
    Catalog

    Examples
    --------
    >>> from galmorph.data.catalogs import open_catalog
    >>> cat = open_catalog("../shared/data/gz-kaggle-5k")  # doctest: +SKIP
    >>> len(cat), cat.labels.shape  # doctest: +SKIP
    (5000, (5000, 37))
    """
    if flavour not in FLAVOURS:
        raise ParameterError(f"flavour must be one of {', '.join(FLAVOURS)}, not {flavour!r}")
    if layout == _AUTO:
        layout = detect_layout(source)
    if layout not in LAYOUTS:
        raise ParameterError(f"layout must be 'auto' or one of {', '.join(LAYOUTS)}, not {layout!r}")
    if layout != "kaggle" and _split(split) != "training":
        raise ParameterError(f"split={split!r} applies to the Kaggle layout only; {source} is "
                         f"read as the {layout!r} layout")
    if layout != "gz2" and (labels is not None or mapping is not None):
        raise ParameterError(f"labels= and mapping= apply to the GZ2 layout only; {source} is "
                         f"read as the {layout!r} layout")
    labelled = layout != "images"
    if labelled and not isinstance(source, (str, Path)):
        raise DataError(f"the {layout} layout reads one data folder, not {source!r}")
    auto_size, auto_mode = (DEFAULT_IMAGE_SIZE, "RGB") if labelled else (None, None)
    if layout == "kaggle" and _kaggle.is_teacher_labelled(absolute(source)):
        auto_size = None  # pseudo-labelled crops (e.g. 232 px): any size of at least the crop
    size = auto_size if isinstance(image_size, str) and image_size == _AUTO else image_size
    mode = auto_mode if image_mode == _AUTO else image_mode
    common = dict(on_error=on_error, check_images=check_images, image_size=size,
                  image_mode=mode, report=report)
    if layout == "kaggle":
        return read_kaggle(source, split=split, **common)
    if layout == "gz2":
        return read_gz2(source, flavour=flavour, labels=labels, mapping=mapping, **common)
    return read_images(source, recursive=recursive, **common)
