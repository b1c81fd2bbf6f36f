"""Training batches straight from the uint8 memory-mapped cache.

No per-sample work at all: a batch is a sorted array of row numbers, read
from the memory map with one ``index_select`` (which releases the GIL, so a
background thread reads batch ``k + 1`` while the model computes batch
``k``), converted to float on the target device and augmented there as a
whole (:mod:`galmorph.augment`).

The batch order is a pure function of ``(seed, step)``: the training split
is walked through an endless sequence of seeded permutations, batch ``k``
taking entries ``k*B .. (k+1)*B - 1`` of that sequence. A run resumed at any
step therefore draws exactly the batches the uninterrupted run would have.
"""
from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from galmorph._util._jsonable import plain
from galmorph.errors import RunDirError
from galmorph.rundir import read_json, write_json

__all__ = ["make_split", "split_sizes", "save_split", "load_split", "BatchStream", "BatchLoader", "step_seed"]


def make_split(n, val_fraction, seed, groups=None):
    """Seeded train/validation split of ``n`` rows, stratified by ``groups``.

    Parameters
    ----------
    n : int
    val_fraction : float
    seed : int
    groups : array-like of int, shape (n,), optional
        The data folder of each row, when a run trains on several: each folder
        is split on its own (``val_fraction`` of it held out), so every folder
        is in the validation set in proportion.

    Returns
    -------
    train, val : numpy.ndarray
        Sorted ``int64`` row numbers; ``val`` holds ``round(n * val_fraction)``
        rows (at least 1) and ``train`` the rest (at least 1).
    """
    groups = None if groups is None else np.asarray(groups)
    if groups is not None and len(np.unique(groups)) > 1:
        trains, vals = [], []
        for k in np.unique(groups):
            rows = np.flatnonzero(groups == k)
            n_val = split_sizes(len(rows), val_fraction)[1]
            perm = np.random.default_rng([seed, 0xC0FFEE, int(k)]).permutation(len(rows))
            vals.append(rows[perm[:n_val]])
            trains.append(rows[perm[n_val:]])
        return np.sort(np.concatenate(trains)), np.sort(np.concatenate(vals))
    n_val = split_sizes(n, val_fraction)[1]
    perm = np.random.default_rng([seed, 0xC0FFEE]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def split_sizes(n, val_fraction):
    """``(n_train, n_val)`` of :func:`make_split`.

    Parameters
    ----------
    n : int
        Number of rows (at least 2).
    val_fraction : float
        Fraction held out for validation.

    Returns
    -------
    n_train, n_val : int
        ``n_val = round(n * val_fraction)``, kept between 1 and ``n - 1``;
        ``n_train = n - n_val``.

    Raises
    ------
    ValueError
        When ``n < 2``.
    """
    if n < 2:
        raise ValueError(f"need at least 2 labelled galaxies to hold out a validation set, "
                         f"got {n}")
    n_val = min(max(1, int(round(n * val_fraction))), n - 1)
    return n - n_val, n_val


def save_split(path, ids, val, seed, val_fraction, groups=None, folders=None):
    """Write ``split.json`` (the validation IDs) atomically.

    With several data folders (``folders``, and ``groups`` the folder of each
    row) it also records, per folder, its size and its validation IDs.

    Parameters
    ----------
    path : path-like
        The file written, usually ``<run dir>/split.json``.
    ids : array-like, shape (N,)
        Galaxy ID of each row of the cache.
    val : array-like of int
        Row numbers of the validation split (as from :func:`make_split`).
    seed : int
        Seed the split was made with.
    val_fraction : float
        Fraction held out for validation.
    groups : array-like of int, shape (N,), optional
        Index into ``folders`` of each row; needed with ``folders``.
    folders : sequence of str or path-like, optional
        The data folders of the run; None (or empty) records no per-folder part.
    """
    doc = {"seed": int(seed), "val_fraction": float(val_fraction), "n_total": int(len(ids)),
           "n_val": int(len(val)), "val_ids": [plain(ids[i]) for i in val]}
    if folders:
        groups = np.asarray(groups)
        doc["stratified_by"] = "folder"
        doc["folders"] = [{"data": str(f), "n_total": int((groups == k).sum()),
                           "val_ids": [plain(ids[i]) for i in val if groups[i] == k]}
                          for k, f in enumerate(folders)]
    write_json(path, doc)   # RunDir.write_split, for a file of any name


def load_split(path, ids):
    """Row numbers ``(train, val)`` of the split stored in ``split.json``, for the cache's ``ids``.

    Parameters
    ----------
    path : pathlib.Path
        The ``split.json`` written by :func:`save_split`.
    ids : array-like, shape (N,)
        Galaxy ID of each row of the cache.

    Returns
    -------
    train, val : numpy.ndarray
        Sorted ``int64`` row numbers; ``val`` those of the stored validation IDs,
        ``train`` every other row.

    Raises
    ------
    RunDirError
        When a validation ID is no longer in the data (the data folder changed), or the
        file is missing or damaged.
    """
    doc = read_json(path, "saved validation split")
    row = {plain(v): i for i, v in enumerate(ids)}
    missing = [v for v in doc["val_ids"] if v not in row]
    if missing:
        raise RunDirError(f"{path}: {len(missing)} validation galaxies (e.g. {missing[0]!r}) "
                          f"are not in the data any more; the data folder changed since the "
                          f"run started. Resume with the original data or start a new --out")
    val = np.sort(np.array([row[v] for v in doc["val_ids"]], dtype=np.int64))
    mask = np.ones(len(ids), dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask).astype(np.int64), val


def step_seed(seed, step, stream=1):
    """A 63-bit seed for ``step`` of random stream ``stream``, derived from ``seed``.

    Parameters
    ----------
    seed : int
        The run's seed.
    step : int
        The training step.
    stream : int
        Which random stream (default 1), so that different uses of one step get
        independent seeds.

    Returns
    -------
    int
        A seed in ``[0, 2**63)``, from ``np.random.SeedSequence([seed, stream, step])``.
    """
    state = np.random.SeedSequence([int(seed), int(stream), int(step)]).generate_state(2)
    return int((int(state[0]) << 32 | int(state[1])) & 0x7FFF_FFFF_FFFF_FFFF)


class BatchStream:
    """Positions (into the training split) of every batch, as a function of the step.

    Parameters
    ----------
    n : int
        Size of the training split.
    batch_size : int
        Global batch size.
    seed : int
    """

    def __init__(self, n, batch_size, seed):
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self._perms = {}

    def _perm(self, p):
        if p not in self._perms:
            if len(self._perms) > 2:
                self._perms.pop(min(self._perms))
            rng = np.random.default_rng([self.seed, 0xBA7C4, p])
            self._perms[p] = rng.permutation(self.n)
        return self._perms[p]

    def positions(self, step):
        """Sorted ``int64 (batch_size,)`` positions of batch ``step`` (sorted: faster reads)."""
        start, parts, need = step * self.batch_size, [], self.batch_size
        while need:
            p, off = divmod(start, self.n)
            take = min(need, self.n - off)
            parts.append(self._perm(p)[off:off + take])
            start, need = start + take, need - take
        return np.sort(np.concatenate(parts))


class BatchLoader:
    """Reads batches of rows from the cache, one batch ahead in a background thread.

    Parameters
    ----------
    images : numpy.ndarray
        ``uint8 (N, 3, H, W)``, typically the read-only memory map.
    labels : numpy.ndarray
        ``float32 (N, 37)``.
    prefetch : bool
        Read the next batch in a background thread.
    pin_memory : bool
        Return page-locked tensors (for asynchronous copies to a CUDA device).
    """

    def __init__(self, images, labels, prefetch=True, pin_memory=False):
        self.pin_memory = bool(pin_memory)
        with warnings.catch_warnings():
            # The memory map is read-only and is only ever read: sharing it is safe.
            warnings.simplefilter("ignore", UserWarning)
            self.images = torch.from_numpy(images)                       # (N, 3, H, W) uint8
        self.labels = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="galmorph-batch") if prefetch else None

    def read(self, rows):
        """``(uint8 (B, 3, H, W), float32 (B, 37))`` tensors of the given rows."""
        rows = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        x, y = self.images.index_select(0, rows), self.labels.index_select(0, rows)
        if self.pin_memory:
            x, y = x.pin_memory(), y.pin_memory()
        return x, y

    def iterate(self, rows_of, steps):
        """Yield ``(step, images, labels)`` for each step (any iterable, consumed lazily),
        reading one step ahead.

        Parameters
        ----------
        rows_of : callable
            ``rows_of(step)`` gives the row numbers (array-like of int) of that step's batch.
        steps : iterable
            The steps, in order.

        Yields
        ------
        step
            The step, as taken from ``steps``.
        images : torch.Tensor
            ``uint8 (B, 3, H, W)``.
        labels : torch.Tensor
            ``float32 (B, 37)``.
        """
        steps = iter(steps)
        if self._pool is None:
            for s in steps:
                yield (s, *self.read(rows_of(s)))
            return
        s = next(steps, None)
        pending = self._pool.submit(self.read, rows_of(s)) if s is not None else None
        while pending is not None:
            batch = pending.result()
            nxt = next(steps, None)
            pending = self._pool.submit(self.read, rows_of(nxt)) if nxt is not None else None
            yield (s, *batch)
            s = nxt

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
