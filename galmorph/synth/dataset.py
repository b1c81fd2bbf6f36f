"""Synthetic GZ2-like galaxies in the Kaggle layout: the offline demo data set.

:func:`make_synthetic` writes a folder that the rest of galmorph cannot tell
from the Kaggle "Galaxy Zoo - The Galaxy Challenge" training set::

    OUT/images_training_rev1/<GalaxyID>.jpg   424 x 424 RGB JPEGs (quality 90)
    OUT/training_solutions_rev1.csv           GalaxyID + Class1.1 ... Class11.6
    OUT/synth.json, OUT/README.txt            how it was made (n, seed, version)

Each galaxy gets its own random generator, derived from the seed and its
index only (:func:`galaxy_rng`), so a data set is byte-for-byte the same for
a given seed whatever the number of worker processes. The output folder is
checked for writing before any galaxy is rendered; the label table, written
last, goes to a file in the system temporary folder if writing it fails (a
full disk), and the :class:`~galmorph._util._io.OutputError` names it. For each galaxy the
true morphology is drawn (:mod:`~galmorph.synth.truth`), rendered
(:mod:`~galmorph.synth._render`) and classified by simulated volunteers
(:mod:`~galmorph.synth.votes`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from galmorph._util._atomic import write_text_atomic
from galmorph._util._io import OutputError, check_writable, describe_error, save_with_fallback
from galmorph._util._workers import imap_results, usable_cores, worker_pool
from galmorph.errors import DataError
from galmorph.labels import check_labels
from galmorph.schema import (ID_COLUMN, KAGGLE_COLUMNS, KAGGLE_IMAGE_DIRS, KAGGLE_LABEL_FILE,
                             SCHEMA_VERSION)

__all__ = ["make_synthetic", "synth_galaxy", "synth_labels", "galaxy_rng", "galaxy_ids", "format_fraction",
           "IMAGE_DIR", "LABEL_FILE", "JPEG_QUALITY", "FIRST_ID", "MAX_N"]

IMAGE_DIR = KAGGLE_IMAGE_DIRS["training"]     # the Kaggle layout, as galmorph reads it
LABEL_FILE = KAGGLE_LABEL_FILE
JPEG_QUALITY = 90
#: GalaxyIDs are ``FIRST_ID + index``: 6-digit integers like Kaggle's.
FIRST_ID = 100000
MAX_N = 999999 - FIRST_ID + 1
_CHUNK = 32  # galaxies per task sent to a worker


def galaxy_rng(seed, index):
    """The random generators ``(truth, render, votes)`` of galaxy ``index`` in a
    data set made with ``seed``.

    They come from ``np.random.SeedSequence(seed).spawn(n)[index]`` (for any
    ``n > index``, without building the other sequences), split in three so
    that the labels can be simulated without rendering the image. They depend
    on nothing else, in particular not on the worker that renders the galaxy.

    Parameters
    ----------
    seed : int
        Seed of the data set.
    index : int
        Position of the galaxy in the data set (its GalaxyID is
        ``FIRST_ID + index``).

    Returns
    -------
    truth, render, votes : numpy.random.Generator
        Independent generators for drawing the true morphology, rendering the
        image and simulating the votes.
    """
    ss = np.random.SeedSequence(seed, spawn_key=(int(index),))
    return tuple(np.random.default_rng(s) for s in ss.spawn(3))


def galaxy_ids(n):
    """GalaxyIDs of an ``n``-galaxy synthetic set, ``int64 (n,)``."""
    return FIRST_ID + np.arange(n, dtype=np.int64)


def synth_labels(seed, index):
    """The true morphology and simulated vote fractions of one galaxy, without
    rendering its image (the same as :func:`synth_galaxy` returns).

    Parameters
    ----------
    seed : int
        Seed of the data set.
    index : int
        Position of the galaxy in the data set (its GalaxyID is
        ``FIRST_ID + index``).

    Returns
    -------
    labels : numpy.ndarray
        ``float64 (37,)`` Kaggle weighted vote fractions.
    truth : galmorph.synth.truth.Truth
    """
    from galmorph.synth.truth import sample_truth
    from galmorph.synth.votes import simulate_votes

    truth_rng, _, votes_rng = galaxy_rng(seed, index)
    truth = sample_truth(truth_rng)
    return simulate_votes(truth, votes_rng), truth


def synth_galaxy(seed, index):
    """Draw, render and classify one synthetic galaxy.

    Parameters
    ----------
    seed : int
        Seed of the data set.
    index : int
        Position of the galaxy in the data set (its GalaxyID is
        ``FIRST_ID + index``).

    Returns
    -------
    image : numpy.ndarray
        ``uint8 (424, 424, 3)``.
    labels : numpy.ndarray
        ``float64 (37,)`` Kaggle weighted vote fractions.
    truth : galmorph.synth.truth.Truth
        The galaxy's true morphology.

    Examples
    --------
    >>> image, labels, truth = synth_galaxy(0, 5)
    >>> image.shape, labels.shape
    ((424, 424, 3), (37,))
    """
    from galmorph.synth._render import render

    labels, truth = synth_labels(seed, index)
    image = render(truth, galaxy_rng(seed, index)[1])
    return image, labels, truth


def format_fraction(value):
    """A vote fraction as the Kaggle CSV writes it: up to 6 decimals, no
    trailing zeros (``0.616853``, ``0``, ``1``)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _render_chunk(task):
    """Worker: render galaxies ``start .. stop - 1`` into ``image_dir``; return labels."""
    seed, start, stop, image_dir = task
    labels = np.empty((stop - start, len(KAGGLE_COLUMNS)))
    for i, index in enumerate(range(start, stop)):
        image, labels[i], _ = synth_galaxy(seed, index)
        path = Path(image_dir) / f"{FIRST_ID + index}.jpg"
        try:
            Image.fromarray(image).save(path, format="JPEG", quality=JPEG_QUALITY)
        except OSError as err:  # a plain message: it crosses the process boundary
            raise OutputError(f"cannot write {path} ({describe_error(err)}); free some space "
                              f"(or choose another folder) and run again with --overwrite "
                              f"(overwrite=True)") from None
    return start, labels


def _check_args(out_dir, n, workers, overwrite):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise DataError(f"n must be a positive number of galaxies, got {n!r}")
    if n > MAX_N:
        raise DataError(f"n = {n} is too many: GalaxyIDs are 6-digit integers, so at most "
                        f"{MAX_N} galaxies fit in one synthetic set")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise DataError(f"workers must be a positive number of processes, got {workers!r}")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise DataError(f"output path {out} exists and is not a folder; choose another path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(f"output folder {out} already exists and is not empty; choose a new "
                        f"folder or pass overwrite=True (--overwrite) to replace its data set")
    check_writable(out, "out_dir", folder=True)
    return out


def _clear(out):
    # Only what a previous synthetic set wrote, so stale images cannot mix in.
    for name in (LABEL_FILE, "synth.json", "README.txt"):
        (out / name).unlink(missing_ok=True)
    if (out / IMAGE_DIR).is_dir():
        for jpg in (out / IMAGE_DIR).glob("*.jpg"):
            jpg.unlink()


def _write_labels(path, ids, labels):
    """Write the label CSV atomically (it appears only once every image is written);
    if that fails, save it in the temporary folder and raise an OutputError naming it."""
    lines = [",".join((ID_COLUMN,) + KAGGLE_COLUMNS)]
    for gid, row in zip(ids, labels):
        lines.append(",".join([str(int(gid))] + [format_fraction(v) for v in row]))
    text = "\n".join(lines) + "\n"
    saved, reason = save_with_fallback(lambda p: write_text_atomic(p, text), path)
    if reason is None:
        return
    where = (f"the labels of the {len(ids)} galaxies were saved to {saved}; copy that file "
             f"to {path} to complete the set" if saved is not None
             else "the labels could not be saved anywhere")
    raise OutputError(f"cannot write {path} ({reason}); {where}")


def _write_metadata(out, n, seed):
    from galmorph import __version__

    meta = {"generator": "galmorph.synth.make_synthetic", "galmorph_version": __version__,
            "n": int(n), "seed": int(seed), "schema_version": SCHEMA_VERSION,
            "image_size": 424, "jpeg_quality": JPEG_QUALITY, "first_id": FIRST_ID}
    write_text_atomic(out / "synth.json", json.dumps(meta, indent=2) + "\n")
    write_text_atomic(
        out / "README.txt",
        f"Synthetic Galaxy Zoo 2-like galaxies made by galmorph {__version__}\n"
        f"(galmorph synth {out} --n {n} --seed {seed}). NOT real galaxies: procedural\n"
        f"images with simulated volunteer votes, in the Kaggle 'Galaxy Zoo - The Galaxy\n"
        f"Challenge' layout ({IMAGE_DIR}/<GalaxyID>.jpg and {LABEL_FILE}).\n")


def make_synthetic(out_dir, n=1000, seed=0, workers=None, progress=True, overwrite=False):
    """Write a synthetic GZ2-like data set in the Kaggle layout.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to create (or an empty one).
    n : int
        Number of galaxies (at most :data:`MAX_N`).
    seed : int or None
        Seed of the data set; the same seed gives identical files whatever
        ``workers`` is. None draws a fresh seed (recorded in ``synth.json``).
    workers : int or None
        Worker processes; None uses every CPU this process may run on.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    overwrite : bool
        Allow a non-empty ``out_dir``; a previous synthetic set there is
        removed first.

    Returns
    -------
    pathlib.Path
        ``out_dir``, ready for :func:`galmorph.data.catalogs.open_catalog`.

    Raises
    ------
    galmorph.errors.DataError
        For ``n <= 0``, bad ``workers``, a negative ``seed`` or a non-empty
        ``out_dir`` without ``overwrite``.
    galmorph._util._io.OutputError
        ``out_dir`` cannot be written (checked before any galaxy is rendered),
        an image cannot be written, or the label table could not be written
        (then the message names the copy saved in the temporary folder).

    Examples
    --------
    >>> from galmorph.synth import make_synthetic
    >>> path = make_synthetic("synth-2k", n=2000, seed=1)  # doctest: +SKIP
    """
    out = _check_args(out_dir, n, workers, overwrite)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer (or None), got {seed!r}")
    seed = int(seed)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    image_dir = out / IMAGE_DIR
    image_dir.mkdir(exist_ok=True)
    workers = min(usable_cores() if workers is None else int(workers), n)
    # Small chunks for small sets so that every worker gets some; results do not
    # depend on the chunking (each galaxy has its own generator).
    chunk = max(1, min(_CHUNK, n // (4 * workers)))
    tasks = [(seed, s, min(s + chunk, n), str(image_dir)) for s in range(0, n, chunk)]
    labels = np.empty((n, len(KAGGLE_COLUMNS)))
    bar = None
    if progress:
        from galmorph._util._progress import progress_bar

        bar = progress_bar(total=n, unit="galaxy", desc="galmorph synth")
    try:
        if workers == 1:
            results = map(_render_chunk, tasks)
            _collect(results, labels, bar)
        else:
            with worker_pool(workers) as pool:   # workers ignore Ctrl-C; leaving terminates
                _collect(imap_results(pool.imap_unordered(_render_chunk, tasks)), labels, bar)
    finally:
        if bar is not None:
            bar.close()
    check = check_labels(labels, atol=1e-6)
    if not check:  # a bug in the vote simulator, never the user's fault
        raise RuntimeError("synthetic labels break the GZ2 tree: " + check.summary())
    _write_labels(out / LABEL_FILE, galaxy_ids(n), labels)
    _write_metadata(out, n, seed)
    return out


def _collect(results, labels, bar):
    for start, block in results:
        labels[start:start + len(block)] = block
        if bar is not None:
            bar.update(len(block))
