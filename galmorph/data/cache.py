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

import contextlib
import csv
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galmorph.data.images import crop_and_resize
from galmorph.errors import DataError

__all__ = ["PreparedData", "prepare", "open_prepared", "default_cache_path", "CACHE_FORMAT"]

#: Bumped when the cache layout or the pixels it holds change; older caches are rebuilt.
CACHE_FORMAT = 1
#: Images per chunk: the unit of work of a worker and of resuming
#: (``$GALMORPH_PREPARE_CHUNK`` overrides it for new caches, e.g. in tests).
CHUNK = 64
_ON_ERROR = ("raise", "skip")


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
    """

    images: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray
    meta: dict
    path: Path
    reused: bool = field(default=False, compare=False)

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
    """
    from galmorph.paths import cache_dir

    source = Path(source).resolve()
    key = json.dumps({"source": str(source), **_settings(crop, size, flavour)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return cache_dir("prepared") / f"{source.name or 'data'}-{digest}"


def _open_catalog(source, flavour, on_error):
    if hasattr(source, "paths") and hasattr(source, "ids"):
        return source  # already a Catalog
    try:
        from galmorph.data.catalogs import open_catalog
    except ImportError:  # TEMPORARY until galmorph.data.catalogs lands
        return _kaggle_stopgap(source)
    return open_catalog(source, flavour=flavour, on_error=on_error)


def _kaggle_stopgap(source):
    import types
    import pandas as pd
    from galmorph.schema import ID_COLUMN, KAGGLE_COLUMNS
    source = Path(source)
    table = pd.read_csv(source / "training_solutions_rev1.csv")
    ids = table[ID_COLUMN].to_numpy(np.int64)
    paths = [source / "images_training_rev1" / f"{i}.jpg" for i in ids]
    labels = table[list(KAGGLE_COLUMNS)].to_numpy(np.float32)
    return types.SimpleNamespace(ids=ids, paths=paths, labels=labels, layout="kaggle",
                                 sources={"labels": str(source)}, skipped=[])


def _file_stats(catalog):
    """``int64 (N, 2)``: size and mtime (ns) of every image, ``-1`` where missing."""
    stats = np.full((len(catalog.paths), 2), -1, dtype=np.int64)
    for row, path in enumerate(catalog.paths):
        with contextlib.suppress(OSError):
            st = os.stat(path)
            stats[row] = st.st_size, st.st_mtime_ns
    return stats


def _inputs_hash(catalog):
    """Hash of the file list, IDs and labels (what fixes the rows of the cache)."""
    h = hashlib.sha256()
    h.update("\n".join(str(p) for p in catalog.paths).encode())
    h.update(np.asarray(catalog.ids).astype(str).tobytes())
    if catalog.labels is not None:
        h.update(np.ascontiguousarray(catalog.labels, dtype=np.float32).tobytes())
    return h.hexdigest()


def _fingerprint(inputs, stats):
    return hashlib.sha256(inputs.encode() + stats.tobytes()).hexdigest()


def _json_default(obj):
    return obj.item() if isinstance(obj, np.generic) else str(obj)


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=_json_default))


def _write_json(path, obj):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_json_default))
    os.replace(tmp, path)


def _read_meta(folder):
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(folder):
    """One prepare per cache folder at a time (the lock dies with the process)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, trust the user
        yield
        return
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DataError(f"cache {folder} is being written by another 'galmorph prepare'; "
                            f"wait for it or pass another cache folder") from None
        yield


# --- workers ---------------------------------------------------------------------------------

_WORK = {}


def _init_worker(images_path, paths, crop, size, ignore_sigint):
    if ignore_sigint:
        import signal
        # Ctrl-C is handled once, in the parent, which terminates the pool.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORK["images"] = np.load(images_path, mmap_mode="r+")
    _WORK.update(paths=paths, crop=crop, size=size)


def _run_chunk(task):
    """Crop and resize rows [start, stop) straight into the memory map."""
    k, start, stop = task
    images, paths = _WORK["images"], _WORK["paths"]
    failures = []
    for row in range(start, stop):
        try:
            images[row] = crop_and_resize(paths[row], _WORK["crop"], _WORK["size"])
        except DataError as err:
            failures.append([row, str(paths[row]), str(err)])
    return k, failures


# --- prepare ---------------------------------------------------------------------------------

def _check_args(crop, size, workers, on_error):
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if crop is not None and (int(crop) != crop or crop < 1):
        raise ValueError(f"crop must be a positive integer or None, not {crop!r}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, not {size!r}")
    if workers is not None and (int(workers) != workers or workers < 1):
        raise ValueError(f"workers must be a positive integer or None, not {workers!r}")


def _start(folder, n, size, meta):
    """A fresh, empty cache: old files removed, memory map and done-mask created."""
    for name in ("meta.json", "images.npy", "labels.npy", "ids.npy", "done.npy",
                 "failures.jsonl", "stats.npy"):
        (folder / name).unlink(missing_ok=True)
    images = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, 3, size, size))
    del images
    n_chunks = -(-n // meta["chunk"])
    done = np.lib.format.open_memmap(folder / "done.npy", mode="w+", dtype=np.uint8,
                                     shape=(n_chunks,))
    del done
    _write_json(folder / "meta.json", meta)


def _read_failures(folder):
    failures = {}
    with contextlib.suppress(FileNotFoundError), open(folder / "failures.jsonl") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):
                row, path, reason = json.loads(line)
                failures[row] = (path, reason)
    return failures


def _raise_failure(folder, path, reason, n_done):
    raise DataError(f"{reason} -- prepare stopped; the {n_done} images done so far are kept in "
                    f"{folder} and the next prepare resumes from there. Fix or remove {path}, "
                    f"or prepare with on_error='skip' (--on-error skip) to leave it out.")


def _run_chunks(folder, catalog, meta, workers, on_error, progress, failures):
    """Process every chunk not done yet; record failures and done flags as they finish."""
    from tqdm.auto import tqdm

    n, chunk = meta["n_input"], meta["chunk"]
    done = np.load(folder / "done.npy", mmap_mode="r+")
    tasks = [(int(k), int(k) * chunk, min(n, (int(k) + 1) * chunk))
             for k in np.flatnonzero(done == 0)]
    n_done = n - sum(stop - start for _, start, stop in tasks)
    meta["resumed_from"] = n_done
    if on_error == "raise" and failures:
        row = min(failures)
        _raise_failure(folder, *failures[row], n_done)
    paths = [str(p) for p in catalog.paths]
    init = (str(folder / "images.npy"), paths, meta["crop"], meta["size"])
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    bar = tqdm(total=n, initial=n_done, unit="img", desc="prepare", disable=not progress,
               smoothing=0.1)
    pool = None
    try:
        if workers == 1 or not tasks:
            _init_worker(*init, ignore_sigint=False)
            results = map(_run_chunk, tasks)
        else:
            import multiprocessing
            pool = multiprocessing.get_context().Pool(workers, _init_worker, init + (True,))
            results = pool.imap_unordered(_run_chunk, tasks)
        sizes = {k: stop - start for k, start, stop in tasks}
        with open(folder / "failures.jsonl", "a") as log:
            for k, new in results:
                if new and on_error == "raise":
                    _raise_failure(folder, new[0][1], new[0][2], n_done)
                for row, path, reason in new:
                    log.write(json.dumps([row, path, reason]) + "\n")
                    failures[row] = (path, reason)
                log.flush()
                done[k] = 1  # after the pixels and failures of chunk k are written
                n_done += sizes[k]
                bar.update(sizes[k])
    except KeyboardInterrupt:
        bar.close()
        print(f"\nprepare interrupted: {n_done} of {n} images done are kept in {folder}; "
              f"run prepare again to resume", flush=True)
        raise
    finally:
        _WORK.clear()
        if pool is not None:
            pool.terminate()
            pool.join()
        bar.close()
        done.flush()
    return failures


def _finish(folder, catalog, meta, failures):
    """Drop failed rows (keeping ids/labels aligned), write ids/labels/meta, mark complete."""
    ids = np.asarray(catalog.ids)
    labels = None if catalog.labels is None else np.asarray(catalog.labels, dtype=np.float32)
    if failures:
        keep = np.setdiff1d(np.arange(meta["n_input"]), np.fromiter(failures, int))
        src = np.load(folder / "images.npy", mmap_mode="r")
        dst = np.lib.format.open_memmap(folder / "images.tmp.npy", mode="w+", dtype=np.uint8,
                                        shape=(len(keep),) + src.shape[1:])
        for lo in range(0, len(keep), 4096):
            dst[lo:lo + 4096] = src[keep[lo:lo + 4096]]
        dst.flush()
        del src, dst
        os.replace(folder / "images.tmp.npy", folder / "images.npy")
        ids = ids[keep]
        labels = None if labels is None else labels[keep]
    np.save(folder / "ids.npy", ids, allow_pickle=False)
    if labels is not None:
        np.save(folder / "labels.npy", labels, allow_pickle=False)
    all_ids = np.asarray(catalog.ids)
    skipped = meta["skipped"] + [[_jsonable(all_ids[row].item()), f"undecodable image: {reason}"]
                                 for row, (_, reason) in sorted(failures.items())]
    meta.update(n=int(len(ids)), skipped=skipped, complete=True,
                finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    _write_json(folder / "meta.json", meta)
    for name in ("done.npy", "failures.jsonl", "stats.npy"):
        (folder / name).unlink(missing_ok=True)


def _write_report(catalog, report, skipped):
    """The skip report of :meth:`Catalog.write_report` (CSV for ``*.csv``, else text),
    listing the catalog's skipped rows and the images that failed to decode."""
    import dataclasses

    skipped = [tuple(s) for s in skipped]
    if dataclasses.is_dataclass(catalog) and hasattr(catalog, "write_report"):
        return dataclasses.replace(catalog, skipped=skipped).write_report(report)
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    with open(report, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id_or_file", "reason"])
        writer.writerows([str(item), str(reason)] for item, reason in skipped)
    return report


def prepare(source, *, cache_dir=None, crop=224, size=80, workers=None, on_error="raise",
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
    on_error : {"raise", "skip"}
        An unreadable image stops the run with a :class:`~galmorph.errors.DataError`
        naming it (the chunks done stay for resuming), or is left out of the
        cache and listed in ``meta["skipped"]`` and the report.
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
    >>> data.images.shape, data.labels.shape
    ((5000, 3, 80, 80), (5000, 37))
    """
    _check_args(crop, size, workers, on_error)
    catalog = _open_catalog(source, flavour, on_error)
    n = len(catalog.paths)
    if n == 0:
        raise DataError(f"no images to prepare in {source}")
    if cache_dir is not None:
        folder = Path(cache_dir)
    elif hasattr(source, "paths"):
        raise ValueError("pass cache_dir when preparing an opened Catalog")
    else:
        folder = default_cache_path(source, crop, size, flavour)
    folder.mkdir(parents=True, exist_ok=True)
    settings = _settings(crop, size, flavour)
    inputs, stats = _inputs_hash(catalog), _file_stats(catalog)
    fingerprint = _fingerprint(inputs, stats)
    with _locked(folder):
        old = _read_meta(folder)
        same = (old is not None and old.get("inputs") == inputs
                and all(old.get(k) == v for k, v in settings.items()))
        if same and old.get("complete") and old.get("fingerprint") == fingerprint:
            data = open_prepared(folder)
            data.reused = True
        else:
            resume = same and not old.get("complete")
            data = _build(folder, catalog, source, settings, inputs, stats,
                          old if resume else None, workers, on_error, progress)
    if report is not None:
        _write_report(catalog, report, data.meta.get("skipped", []))
    return data


def _build(folder, catalog, source, settings, inputs, stats, old, workers, on_error, progress):
    from galmorph import __version__

    n = len(catalog.paths)
    if old is None:
        chunk = int(os.environ.get("GALMORPH_PREPARE_CHUNK", CHUNK))
        meta = {**settings, "inputs": inputs, "fingerprint": _fingerprint(inputs, stats),
                "chunk": chunk, "n_input": n, "n": None, "complete": False,
                "source": str(Path(source).resolve()) if not hasattr(source, "paths") else None,
                "layout": getattr(catalog, "layout", None),
                "sources": _jsonable(getattr(catalog, "sources", None)),
                "skipped": _jsonable([list(s) for s in getattr(catalog, "skipped", [])]),
                "has_labels": catalog.labels is not None,
                "galmorph_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        _start(folder, n, settings["size"], meta)
        np.save(folder / "stats.npy", stats)
        failures = {}
    else:
        meta = old
        failures = _invalidate_changed(folder, meta, stats)
    failures = _run_chunks(folder, catalog, meta, workers, on_error, progress, failures)
    _finish(folder, catalog, meta, failures)
    return open_prepared(folder)


def _invalidate_changed(folder, meta, stats):
    """Resuming: redo the chunks whose files changed since the interrupted run."""
    failures = _read_failures(folder)
    try:
        old_stats = np.load(folder / "stats.npy")
    except (OSError, ValueError):
        old_stats = np.full_like(stats, -2)
    changed = np.flatnonzero((old_stats != stats).any(axis=1)) if old_stats.shape == stats.shape \
        else np.arange(len(stats))
    if len(changed):
        chunks = np.unique(changed // meta["chunk"])
        done = np.load(folder / "done.npy", mmap_mode="r+")
        done[chunks] = 0
        done.flush()
        del done
        failures = {r: f for r, f in failures.items() if r // meta["chunk"] not in set(chunks)}
        with open(folder / "failures.jsonl", "w") as log:
            log.writelines(json.dumps([r, *f]) + "\n" for r, f in sorted(failures.items()))
        np.save(folder / "stats.npy", stats)
    meta["fingerprint"] = _fingerprint(meta["inputs"], stats)
    return failures


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
    meta = _read_meta(folder)
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
