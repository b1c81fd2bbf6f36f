"""The preprocessing cache: every image cropped and resized once, memory-mapped.

:func:`prepare` reads a data folder (any layout :func:`galmorph.data.catalogs.open_catalog`
knows), runs :func:`~galmorph.data.images.crop_and_resize` on every image with
all cores and writes a cache folder; :func:`open_prepared` opens one. The
folder holds

- ``images.npy``  ``uint8 (N, 3, size, size)``, opened as a read-only memory map;
- ``labels.npy``  ``float32 (N, 37)`` Kaggle weighted fractions (absent without labels);
- ``ids.npy``     ``int64`` galaxy IDs, or file stems as strings;
- ``meta.json``   settings (crop, size, flavour), layout, sources, galmorph
  version, ``n``, creation time, ``complete`` and the ``skipped`` list.

A finished cache is reused while the settings and the inputs (file list,
sizes, modification times, IDs and labels) are unchanged, and rebuilt
otherwise. An interrupted run (Ctrl-C, ``kill -9``) keeps the chunks done so
far (``done.npy``, one flag per chunk) and the next :func:`prepare` continues.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galmorph.data import _cache_build as build
from galmorph.data._combine import combine  # public here; defined beside its helpers
from galmorph.data._validate import ON_ERROR
from galmorph.errors import DataError, ParameterError
from galmorph.schema import GZ2_FLAVOURS

__all__ = ["combine", "PreparedData", "prepare", "open_prepared", "default_cache_path", "CACHE_FORMAT"]

#: Bumped when the cache layout or the pixels it holds change; older caches are rebuilt.
CACHE_FORMAT = 1
#: Images per chunk: the unit of work of a worker and of resuming
#: (``$GALMORPH_PREPARE_CHUNK`` overrides it for new caches, e.g. in tests).
CHUNK = 64
_ON_ERROR = ON_ERROR
_FLAVOURS = GZ2_FLAVOURS


@dataclass
class PreparedData:
    """A prepared cache, as returned by :func:`prepare` and :func:`open_prepared`.

    Attributes
    ----------
    images : numpy.memmap
        ``uint8 (N, 3, size, size)``, read-only memory map.
    labels : numpy.ndarray or None
        ``float32 (N, 37)`` Kaggle weighted fractions, ``None`` without labels.
    ids : numpy.ndarray
        ``int64`` IDs, or file stems (``str``), aligned with ``images``.
    meta : dict
        The contents of ``meta.json``.
    path : pathlib.Path
        The cache folder.
    reused : bool
        True when :func:`prepare` found the cache up to date.
    parts : list of dict
        Where several data folders were combined (:func:`combine`): one
        ``{"source", "cache", "n"}`` per folder, in row order; else empty.
    """

    images: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray
    meta: dict
    path: Path
    reused: bool = field(default=False, compare=False)
    parts: list = field(default_factory=list, compare=False)

    @property
    def folder_index(self):
        """``int (N,)``: which of :attr:`parts` each row comes from (all 0 for one folder)."""
        if not self.parts:
            return np.zeros(len(self), dtype=np.int64)
        return np.repeat(np.arange(len(self.parts)), [p["n"] for p in self.parts])

    def __len__(self):
        return int(self.images.shape[0])

    @property
    def preprocessing(self):
        """``{"crop": ..., "size": ...}``, as checkpoints store it."""
        return {"crop": self.meta["crop"], "size": self.meta["size"]}

    def __repr__(self):
        return (f"PreparedData(n={len(self)}, size={self.meta['size']}, crop={self.meta['crop']}, "
                f"labels={self.labels is not None}, path='{self.path}')")


def _settings(crop, size, flavour):
    return {"crop": crop, "size": int(size), "flavour": flavour, "format": CACHE_FORMAT}


def default_cache_path(source, crop=224, size=80, flavour="weighted_fraction"):
    """Where :func:`prepare` puts the cache of ``source`` by default.

    ``galmorph.paths.cache_dir("prepared") / f"{name}-{hash8}"``, where the
    hash covers the resolved source path and the settings, so that the data
    folder (often read-only) is never written to.

    Parameters
    ----------
    source : path-like
        The data folder; its resolved path enters the hash and its name the
        folder name (``"data"`` where it has none).
    crop : int or None
        Side of the central square kept, in input pixels (default 224).
    size : int
        Side of the cached images, in pixels (default 80).
    flavour : {"weighted_fraction", "fraction", "debiased"}
        Which GZ2-release vote fractions become the labels (default
        ``"weighted_fraction"``).

    Returns
    -------
    pathlib.Path
        The cache folder; it need not exist yet.
    """
    from galmorph.paths import cache_dir

    source = Path(source).resolve()
    key = json.dumps({"source": str(source), **_settings(crop, size, flavour)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return cache_dir("prepared") / f"{source.name or 'data'}-{digest}"


def _open_catalog(source, flavour, on_error):
    """The catalog and the ``(image_size, image_mode)`` the build workers check.

    The catalog is read without its header check: the workers check each
    image when they open it to decode it, so every image is opened once.
    """
    if hasattr(source, "paths") and hasattr(source, "ids"):  # already a Catalog
        catalog, checked = source, True
    else:
        from galmorph.data.catalogs import open_catalog

        catalog = open_catalog(source, flavour=flavour, on_error=on_error, check_images=False)
        checked = False
    options = (getattr(catalog, "sources", None) or {}).get("options", {})
    if checked and not options.get("check_images", False):
        return catalog, (None, None)  # a catalog read without header checks: none here either
    return catalog, (options.get("image_size"), options.get("image_mode"))


def _check_args(crop, size, workers, on_error, flavour):
    if on_error not in _ON_ERROR:
        raise ParameterError(f"on_error must be 'auto', 'raise' or 'skip', not {on_error!r}")
    if flavour not in _FLAVOURS:
        raise ParameterError(f"flavour must be one of {', '.join(_FLAVOURS)}, not {flavour!r}")
    if crop is not None and (int(crop) != crop or crop < 1):
        raise ParameterError(f"crop must be a positive integer or None, not {crop!r}")
    if int(size) != size or size < 1:
        raise ParameterError(f"size must be a positive integer, not {size!r}")
    if workers is not None and (int(workers) != workers or workers < 1):
        raise ParameterError(f"workers must be a positive integer or None, not {workers!r}")


def _write_report(catalog, data, report):
    """The skip report of :meth:`Catalog.write_report` (CSV for ``*.csv``, else text),
    listing the catalog's skipped rows and the images the build left out."""
    import dataclasses

    skipped = [tuple(s) for s in data.meta.get("skipped", [])]
    if dataclasses.is_dataclass(catalog) and hasattr(catalog, "write_report"):
        kept = catalog.subset(np.isin(catalog.ids, data.ids))  # without the images left out
        return dataclasses.replace(kept, skipped=skipped).write_report(report)
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    with open(report, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id_or_file", "reason"])
        writer.writerows([str(item), str(reason)] for item, reason in skipped)
    return report


def prepare(source, *, cache_dir=None, crop=224, size=80, workers=None, on_error="auto",
            flavour="weighted_fraction", progress=True, report=None):
    """Crop and resize every image of a data folder once, into a memory-mapped cache.

    Parameters
    ----------
    source : path-like or Catalog
        A data folder in any layout :func:`galmorph.data.catalogs.open_catalog`
        detects (Kaggle, GZ2 release, plain images), or an opened ``Catalog``.
    cache_dir : path-like, optional
        Cache folder. Default :func:`default_cache_path` (under the user cache
        directory, named after the source and a hash of it and the settings).
    crop : int
        Side of the central square kept, in input pixels.
    size : int
        Side of the cached images, in pixels.
    workers : int, optional
        Worker processes; ``None`` uses every core (``os.cpu_count()``).
    on_error : {"auto", "raise", "skip"}
        A bad row or image (unreadable, undecodable, or not the layout's 424 x
        424 RGB) stops the run with a :class:`~galmorph.errors.DataError` naming
        it (the chunks done stay for resuming), or is left out of the cache
        and listed in ``meta["skipped"]`` and the report. Each image is opened
        once, by the worker that decodes it. ``"auto"`` (default) stops, except
        at a GZ2 release's tree breaks (see :func:`galmorph.data.catalogs.read_gz2`).
    flavour : {"weighted_fraction", "fraction", "debiased"}
        Which GZ2-release vote fractions become the labels (GZ2 layout only).
    progress : bool
        Show a progress bar.
    report : path-like, optional
        Write the skip report (CSV ``id_or_file,reason`` for ``*.csv``, else
        text) of every catalog row and image left out.

    Returns
    -------
    PreparedData
        ``reused`` tells whether an up-to-date cache was found.

    Examples
    --------
    >>> data = prepare("gz-kaggle-5k", crop=224, size=80)  # doctest: +SKIP
    >>> data.images.shape, data.labels.shape  # doctest: +SKIP
    ((5000, 3, 80, 80), (5000, 37))
    """
    _check_args(crop, size, workers, on_error, flavour)
    catalog, checks = _open_catalog(source, flavour, on_error)
    n = len(catalog.paths)
    if n == 0:
        raise DataError(f"no images to prepare in {source}")
    if cache_dir is not None:
        folder = Path(cache_dir)
    elif hasattr(source, "paths"):
        raise ParameterError("pass cache_dir when preparing an opened Catalog")
    else:
        folder = default_cache_path(source, crop, size, flavour)
    settings = _settings(crop, size, flavour)
    inputs, stats = build.inputs_hash(catalog), build.file_stats(catalog)
    fingerprint = build.fingerprint(inputs, stats)
    data = _reuse(folder, settings, inputs, fingerprint)  # lock-free: readers never wait
    if data is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ".lock").touch()
        except OSError as err:
            raise DataError(f"cannot write the cache folder {folder}: {err.strerror}; pass a "
                            f"writable folder as cache_dir (--cache DIR)") from None
        with build.locked(folder):  # waits while another prepare writes this folder
            data = _reuse(folder, settings, inputs, fingerprint)
            if data is None:
                old = build.read_meta(folder)
                resume = (_same_inputs(old, settings, inputs) and not old.get("complete"))
                data = _build(folder, catalog, source, settings, inputs, stats,
                              old if resume else None, workers, on_error, progress, checks)
    if report is not None:
        _write_report(catalog, data, report)
    return data


def _same_inputs(meta, settings, inputs):
    return (meta is not None and meta.get("inputs") == inputs
            and all(meta.get(k) == v for k, v in settings.items()))


def _reuse(folder, settings, inputs, fingerprint):
    """The cache in ``folder`` if it is complete and up to date, else None."""
    meta = build.read_meta(folder)
    if not (_same_inputs(meta, settings, inputs) and meta.get("complete")
            and meta.get("fingerprint") == fingerprint):
        return None
    try:
        data = open_prepared(folder)
    except DataError:  # damaged, or rewritten at this very moment: rebuild under the lock
        return None
    data.reused = True
    return data


def _build(folder, catalog, source, settings, inputs, stats, old, workers, on_error, progress,
           checks):
    from galmorph import __version__

    n = len(catalog.paths)
    if old is None:
        chunk = int(os.environ.get("GALMORPH_PREPARE_CHUNK", CHUNK))
        meta = {**settings, "inputs": inputs, "fingerprint": build.fingerprint(inputs, stats),
                "chunk": chunk, "n_input": n, "n": None, "complete": False,
                "source": str(Path(source).resolve()) if not hasattr(source, "paths") else None,
                "layout": getattr(catalog, "layout", None),
                "sources": build.jsonable(getattr(catalog, "sources", None)),
                "skipped": build.jsonable([list(s) for s in getattr(catalog, "skipped", [])]),
                "has_labels": catalog.labels is not None,
                "galmorph_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        build.start(folder, n, settings["size"], meta)
        np.save(folder / "stats.npy", stats)
        failures = {}
    else:
        meta = old
        failures = build.invalidate_changed(folder, meta, stats)
    images_on_error = "skip" if on_error == "skip" else "raise"  # "auto" stops at a bad image
    failures = build.run_chunks(folder, catalog, meta, workers, images_on_error, progress,
                                failures, checks)
    build.commit_build(folder, catalog, meta, failures)
    return open_prepared(folder)


def open_prepared(path):
    """Open a cache folder written by :func:`prepare`.

    Parameters
    ----------
    path : path-like
        The cache folder.

    Returns
    -------
    PreparedData

    Raises
    ------
    galmorph.errors.DataError
        The folder is not a galmorph cache, is incomplete or damaged.
    """
    folder = Path(path)
    meta = build.read_meta(folder)
    if meta is None:
        raise DataError(f"{folder} is not a galmorph prepared cache (no readable meta.json); "
                        f"build one with 'galmorph prepare DATA_DIR --cache {folder}'")
    if not meta.get("complete"):
        raise DataError(f"cache {folder} is incomplete (an interrupted prepare); run "
                        f"'galmorph prepare' on its data folder again to finish it")
    try:
        images = np.load(folder / "images.npy", mmap_mode="r")
        ids = np.load(folder / "ids.npy", allow_pickle=False)
        labels = (np.load(folder / "labels.npy", allow_pickle=False)
                  if meta.get("has_labels") else None)
    except (OSError, ValueError) as err:
        raise DataError(f"cache {folder} is damaged ({err}); delete it and prepare again") from None
    n, size = meta["n"], meta["size"]
    if (images.shape != (n, 3, size, size) or len(ids) != n
            or (labels is not None and labels.shape[0] != n)):
        raise DataError(f"cache {folder} is damaged: images {images.shape}, {len(ids)} ids, "
                        f"meta says n={n}, size={size}; delete it and prepare again")
    return PreparedData(images=images, labels=labels, ids=ids, meta=meta, path=folder)
