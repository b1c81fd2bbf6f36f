"""The work behind :func:`galmorph.data.cache.prepare`: fingerprints, chunks, workers.

The cache folder is filled chunk by chunk (:data:`galmorph.data.cache.CHUNK`
images each). Worker processes open ``images.npy`` as a writable memory map
and write their rows straight into it; the parent marks a chunk in
``done.npy`` only after its pixels and failures are written, so a run killed
at any moment (Ctrl-C, ``kill -9``) loses at most the chunks in flight.
``failures.jsonl`` lists the images that failed and ``stats.npy`` the size
and modification time of every input, so that a resumed run redoes only the
chunks whose files changed.

Each worker opens an image once: it checks the header (unreadable, or not the
layout's size and mode, as the catalog readers' header check would) before
decoding, cropping and resizing it (:func:`galmorph.data._image_checks.read_checked`).
With ``on_error="raise"`` an undecodable image stops the run at once; the
header problems are collected over every image and then raised together in
the catalog readers' words, so one error lists them all.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sys
import time

import numpy as np

from galmorph._util._atomic import write_text_atomic
from galmorph._util._jsonable import jsonable
from galmorph._util._workers import default_workers, imap_results, worker_pool

from galmorph.data._image_checks import (KINDS, UNDECODABLE, UNEXPECTED, UNREADABLE,
                                         ImageProblem, header_problems, read_checked)
from galmorph.data._validate import CatalogWarning, Issue, Policy, _user_stacklevel, count
from galmorph.errors import DataError

__all__ = ["file_stats", "inputs_hash", "fingerprint", "write_json", "read_meta", "jsonable",
           "locked", "start", "run_chunks", "commit_build", "invalidate_changed"]


def file_stats(catalog):
    """``int64 (N, 2)``: size and mtime (ns) of every image, ``-1`` where missing."""
    stats = np.full((len(catalog.paths), 2), -1, dtype=np.int64)
    for row, path in enumerate(catalog.paths):
        with contextlib.suppress(OSError):
            st = os.stat(path)
            stats[row] = st.st_size, st.st_mtime_ns
    return stats


def inputs_hash(catalog):
    """Hash of the file list, IDs and labels (what fixes the rows of the cache)."""
    h = hashlib.sha256()
    h.update("\n".join(str(p) for p in catalog.paths).encode())
    h.update(np.asarray(catalog.ids).astype(str).tobytes())
    if catalog.labels is not None:
        h.update(np.ascontiguousarray(catalog.labels, dtype=np.float32).tobytes())
    return h.hexdigest()


def fingerprint(inputs, stats):
    return hashlib.sha256(inputs.encode() + stats.tobytes()).hexdigest()


def write_json(path, obj):
    write_text_atomic(path, json.dumps(jsonable(obj), indent=1))


def read_meta(folder):
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def locked(folder):
    """One prepare per cache folder at a time; others wait (the lock dies with the process)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, trust the user
        yield
        return
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            # E.g. the other ranks of a distributed run while rank 0 builds the cache.
            print(f"prepare: waiting for another 'galmorph prepare' writing {folder}",
                  file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# --- workers ---------------------------------------------------------------------------------

_WORK = {}


def _init_worker(images_path, paths, crop, size, checks):
    _WORK["images"] = np.load(images_path, mmap_mode="r+")
    _WORK.update(paths=paths, crop=crop, size=size, checks=checks)


def _run_chunk(task):
    """Check, crop and resize rows [start, stop) straight into the memory map.

    Returns the chunk number and its failures, ``[row, path, reason, kind]``.
    """
    k, start, stop = task
    images, paths = _WORK["images"], _WORK["paths"]
    crop, size, (image_size, image_mode) = _WORK["crop"], _WORK["size"], _WORK["checks"]
    failures = []
    for row in range(start, stop):
        try:
            images[row] = read_checked(paths[row], crop, size, image_size, image_mode)
        except ImageProblem as err:
            failures.append([row, paths[row], err.detail, err.kind])
        except DataError as err:
            failures.append([row, paths[row], str(err), UNDECODABLE])
    return k, failures


def start(folder, n, size, meta):
    """A fresh, empty cache: old files removed, memory map and done-mask created."""
    for name in ("meta.json", "images.npy", "labels.npy", "ids.npy", "done.npy",
                 "failures.jsonl", "stats.npy"):
        (folder / name).unlink(missing_ok=True)
    images = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, 3, size, size))
    del images
    _reserve(folder / "images.npy")
    n_chunks = -(-n // meta["chunk"])
    done = np.lib.format.open_memmap(folder / "done.npy", mode="w+", dtype=np.uint8,
                                     shape=(n_chunks,))
    del done
    write_json(folder / "meta.json", meta)


def _reserve(path):
    """Allocate the whole file now: a full disk is a clear error here, not a SIGBUS
    in a worker writing to a sparse memory map later."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except OSError as err:
            if err.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return  # file system without fallocate: nothing reserved, carry on
            raise DataError(f"cannot reserve {size / 1e6:.0f} MB for {path}: "
                            f"{err.strerror}; free disk space or pass another cache folder "
                            f"(--cache)") from None


def _read_failures(folder):
    failures = {}
    with contextlib.suppress(FileNotFoundError), open(folder / "failures.jsonl") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):
                row, path, reason, *kind = json.loads(line)  # no kind: written before kinds
                failures[row] = (path, reason, kind[0] if kind else UNDECODABLE)
    return failures


def _raise_failure(folder, path, reason, n_done):
    raise DataError(f"{reason} -- prepare stopped; the {n_done} images done so far are kept in "
                    f"{folder} and the next prepare resumes from there. Fix or remove {path}, "
                    f"or prepare with on_error='skip' (--on-error skip) to leave it out.")


def _raise_recorded(folder, failures, n, n_done, checks, labelled):
    """Raise for recorded failures: the header problems as the catalog readers word them
    (every image of the first kind), else the first undecodable image."""
    found = {kind: [Issue(row, path, reason) for row, (path, reason, k) in
                    sorted(failures.items()) if k == kind] for kind in KINDS}
    bad, odd = found[UNREADABLE], found[UNEXPECTED]
    if bad or odd:
        # The labelled layouts name their image folder, as files.match_images does.
        parents = {os.path.dirname(i.key) for i in bad + odd}
        where = f" in {parents.pop()}" if labelled and len(parents) == 1 else ""
        try:
            header_problems(Policy("raise"), bad, odd, n, where, *checks)
        except DataError as err:
            raise DataError(f"{err}\nprepare read every image: the other "
                            f"{n_done - len(failures)} are kept in {folder}, and the next "
                            f"prepare redoes only the files changed.") from None
    row = found[UNDECODABLE][0].pos
    _raise_failure(folder, *failures[row][:2], n_done)


def run_chunks(folder, catalog, meta, workers, on_error, progress, failures,
               checks=(None, None)):
    """Process every chunk not done yet; record failures and done flags as they finish.

    ``checks`` is the expected ``(image_size, image_mode)`` (``None``: any).
    """
    from galmorph._util._progress import progress_bar

    n, chunk = meta["n_input"], meta["chunk"]
    done = np.load(folder / "done.npy", mmap_mode="r+")
    tasks = [(int(k), int(k) * chunk, min(n, (int(k) + 1) * chunk))
             for k in np.flatnonzero(done == 0)]
    n_done = n - sum(stop - start for _, start, stop in tasks)
    meta["resumed_from"] = n_done
    paths = [str(p) for p in catalog.paths]
    checks = (None if checks[0] is None else tuple(int(s) for s in checks[0]), checks[1])
    init = (str(folder / "images.npy"), paths, meta["crop"], meta["size"], checks)
    workers = workers or max(1, default_workers(len(tasks)))
    bar = progress_bar(total=n, initial=n_done, unit="img", desc="prepare", enabled=progress,
                       smoothing=0.1)
    pool = None
    try:
        if workers == 1 or not tasks:
            _init_worker(*init)
            results = map(_run_chunk, tasks)
        else:
            # Ctrl-C is handled once, here, which terminates the pool: workers ignore it.
            pool = worker_pool(workers, initializer=_init_worker, initargs=init)
            results = imap_results(pool.imap_unordered(_run_chunk, tasks))
        sizes = {k: stop - start for k, start, stop in tasks}
        with open(folder / "failures.jsonl", "a") as log:
            for k, new in results:
                undecodable = [f for f in new if f[3] == UNDECODABLE]
                if undecodable and on_error == "raise":
                    _raise_failure(folder, undecodable[0][1], undecodable[0][2], n_done)
                for row, path, reason, kind in new:
                    log.write(json.dumps([row, path, reason, kind]) + "\n")
                    failures[row] = (path, reason, kind)
                log.flush()
                done[k] = 1  # after the pixels and failures of chunk k are written
                n_done += sizes[k]
                bar.update(sizes[k])
    except KeyboardInterrupt:
        bar.close()
        print(f"\nprepare interrupted: {n_done} of {n} images done are kept in {folder}; "
              f"run prepare again to resume", file=sys.stderr, flush=True)
        raise
    finally:
        _WORK.clear()
        if pool is not None:
            pool.terminate()
            pool.join()
        bar.close()
        done.flush()
    if on_error == "raise" and failures:
        _raise_recorded(folder, failures, n, n_done, checks, catalog.labels is not None)
    return failures


def commit_build(folder, catalog, meta, failures):
    """Drop failed rows (keeping ids/labels aligned), write ids/labels/meta, mark complete."""
    ids = np.asarray(catalog.ids)
    labels = None if catalog.labels is None else np.asarray(catalog.labels, dtype=np.float32)
    keep = np.setdiff1d(np.arange(meta["n_input"]), np.fromiter(failures, int))
    # Unreadable, unexpected, then undecodable, each in row order: as the catalogs list them.
    order = sorted(failures.items(), key=lambda kv: (KINDS.index(kv[1][2]), kv[0]))
    reasons = [(jsonable(ids[row].item()), f"{kind}: {reason}")
               for row, (_, reason, kind) in order]
    source = meta.get("source") or folder
    if not len(keep):
        raise DataError(f"no images left to prepare from {source}: all "
                        f"{meta['n_input']} were skipped (first reasons: "
                        f"{'; '.join(r for _, r in reasons[:3])})")
    src = np.load(folder / "images.npy", mmap_mode="r")
    # A run killed after compacting but before writing meta.json finds it already done.
    if len(keep) < meta["n_input"] and src.shape[0] == meta["n_input"]:
        dst = np.lib.format.open_memmap(folder / "images.tmp.npy", mode="w+", dtype=np.uint8,
                                        shape=(len(keep),) + src.shape[1:])
        for lo in range(0, len(keep), 4096):
            dst[lo:lo + 4096] = src[keep[lo:lo + 4096]]
        dst.flush()
        del src, dst
        os.replace(folder / "images.tmp.npy", folder / "images.npy")
    else:
        del src
    ids = ids[keep]
    labels = None if labels is None else labels[keep]
    np.save(folder / "ids.npy", ids, allow_pickle=False)
    if labels is not None:
        np.save(folder / "labels.npy", labels, allow_pickle=False)
    skipped = meta["skipped"] + [list(r) for r in reasons]
    _warn_skipped(source, [kind for _, (_, _, kind) in order], meta["n_input"])
    meta.update(n=int(len(ids)), skipped=skipped, complete=True,
                finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_json(folder / "meta.json", meta)
    for name in ("done.npy", "failures.jsonl", "stats.npy"):
        (folder / name).unlink(missing_ok=True)


def _warn_skipped(source, kinds, n):
    """One warning for the images a build left out (``on_error="skip"``), as a catalog warns."""
    if not kinds:
        return
    import warnings
    from collections import Counter

    counts = ", ".join(f"{k}: {v}" for k, v in Counter(kinds).items())
    warnings.warn(f"prepare {source}: left out {len(kinds)} of {count(n, 'image')} ({counts}); "
                  f"they are listed in the skip report (--report FILE) and in the cache's "
                  f"meta['skipped']", CatalogWarning, stacklevel=_user_stacklevel())


def invalidate_changed(folder, meta, stats):
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
        redo = set(chunks.tolist())
        failures = {r: f for r, f in failures.items() if r // meta["chunk"] not in redo}
        with open(folder / "failures.jsonl", "w") as log:
            log.writelines(json.dumps([r, *f]) + "\n" for r, f in sorted(failures.items()))
        np.save(folder / "stats.npy", stats)
    meta["fingerprint"] = fingerprint(meta["inputs"], stats)
    return failures
