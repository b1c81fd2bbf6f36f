"""Pseudo-labels from a teacher: unlabelled galaxy images -> a labelled training folder.

:func:`pseudo_label` predicts the 37 weighted vote fractions of every image in an
unlabelled folder with a teacher model (by default the shipped model, with d8
test-time augmentation) and writes them as a Kaggle-layout data folder that
``galmorph train`` reads beside volunteer-labelled folders (Noisy Student; Xie et
al. 2020):

.. code-block:: text

   OUT/training_solutions_rev1.csv   GalaxyID + Class1.1 ... Class11.6, 6 decimals,
                                     rows by GalaxyID (tree-consistent: the model's
                                     output is normalised down the GZ2 tree)
   OUT/images_training_rev1/<id>.jpg symbolic links to the unlabelled images
   OUT/teacher.json                  the teacher (path, sha256, name), TTA, precision,
                                     date, source folder, skipped images

The same teacher, images, TTA and precision write the same labels file, byte
for byte (``teacher.json`` differs in its date only). The writer is here, not
in :mod:`galmorph.training`, because it predicts (training never imports
inference); :mod:`galmorph.training.pseudo` is the reading side.

References
----------
Xie Q., Luong M.-T., Hovy E., Le Q. V., 2020, CVPR, arXiv:1911.04252.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from galmorph import schema
from galmorph._util._atomic import write_text_atomic
from galmorph.errors import DataError, ParameterError
from galmorph.training.pseudo import TEACHER_FILE

__all__ = ["pseudo_label", "unlabelled_images", "LABEL_DECIMALS"]

#: Decimals of the written fractions (Kaggle's labels have 6): fixes the bytes of a rerun.
LABEL_DECIMALS = 6


def unlabelled_images(folder):
    """``(ids, paths)``: the images of an unlabelled folder, sorted by GalaxyID.

    Parameters
    ----------
    folder : path-like
        A folder of ``<GalaxyID>.jpg`` (or PNG/FITS) images, or one holding them
        in ``images/`` (as ``gz-kaggle-unlabelled-22k``) or ``images_test_rev1/``.

    Returns
    -------
    ids : numpy.ndarray of int64
    paths : list of pathlib.Path

    Raises
    ------
    galmorph.errors.DataError
        No images, or a file name that is not an integer GalaxyID.
    """
    from galmorph.data.catalogs import find_images
    from galmorph.data._files import image_suffix

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"{folder}: no such folder of unlabelled images")
    candidates = [root] + [root / sub for sub in ("images", schema.KAGGLE_IMAGE_DIRS["test"])]
    where = next((d for d in candidates if d.is_dir()
                  and any(image_suffix(p.name) for p in d.iterdir())), None)
    if where is None:
        raise DataError(f"{folder} holds no images (JPEG, PNG or FITS), nor an images/ folder "
                        f"of them")
    paths = find_images(where)
    bad = [p for p in paths if not p.name.split(".")[0].isdigit()]
    if bad:
        raise DataError(f"{bad[0]}: the file name is not an integer GalaxyID ({len(bad)} such "
                        f"files in {where}); pseudo-labels are written in the Kaggle layout, "
                        f"whose images are named <GalaxyID>.jpg")
    ids = np.array([int(p.name.split(".")[0]) for p in paths], dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    if len(np.unique(ids)) < len(ids):
        raise DataError(f"{where}: two images share a GalaxyID (e.g. {ids[order][0]}); keep one")
    return ids[order], [paths[i] for i in order]


def _check_out(out, source):
    out = Path(out)
    if out.resolve() == Path(source).resolve():
        raise ParameterError(f"--out {out} is the unlabelled folder itself; choose a new folder")
    if out.is_dir() and any(out.iterdir()) and not (out / TEACHER_FILE).is_file():
        raise ParameterError(f"--out {out} is not empty and holds no pseudo-labels "
                             f"({TEACHER_FILE}); choose a new or empty folder")
    return out


def _labels_text(ids, labels):
    """The Kaggle label table: exact header, rows by GalaxyID, fixed decimals."""
    fmt = f"{{:.{LABEL_DECIMALS}f}}"
    lines = [",".join((schema.ID_COLUMN,) + schema.KAGGLE_COLUMNS)]
    for galaxy, row in zip(ids, labels):
        lines.append(",".join([str(int(galaxy))] + [fmt.format(v) for v in row]))
    return "\n".join(lines) + "\n"


def _link_images(folder, ids, paths):
    """``folder/<id>.<suffix>`` -> the image, for these galaxies only (others removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"{int(i)}{''.join(p.suffixes)}": p.resolve() for i, p in zip(ids, paths)}
    for old in folder.iterdir():
        if old.name not in wanted or not old.is_symlink() \
                or Path(os.readlink(old)) != wanted[old.name]:
            old.unlink()
    for name, target in wanted.items():
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(target)


def pseudo_label(unlabelled, out, *, model=None, tta="d8", precision="auto", batch_size=256,
                 workers=None, limit=None, device="auto", progress=False):
    """Write a teacher's soft labels for an unlabelled folder as a training folder.

    Parameters
    ----------
    unlabelled : path-like
        Unlabelled images (see :func:`unlabelled_images`).
    out : path-like
        The pseudo-labelled folder to write (created; a rerun into it rewrites it).
    model : path-like, optional
        The teacher checkpoint (default: ``$GALMORPH_MODEL``, the registered
        default, else the shipped model).
    tta : None, "d8" or int
        Test-time augmentation of the teacher (default ``"d8"``).
    precision : str
        ``"auto"`` (default), ``"fp32"``, ``"bf16"`` or ``"int8"`` (see
        :func:`galmorph.inference.engine.predict_arrays`); recorded.
    batch_size, workers, device, progress
        As for :func:`galmorph.inference.files.predict_files`.
    limit : int, optional
        Label only the first ``limit`` galaxies by GalaxyID (a trial run).

    Returns
    -------
    pathlib.Path
        ``out``, holding ``training_solutions_rev1.csv``, ``images_training_rev1/``
        and ``teacher.json``.

    Raises
    ------
    galmorph.errors.DataError
        No images, or file names that are not GalaxyIDs; labels that break the
        GZ2 tree even after projection (non-finite outputs).
    galmorph.errors.CheckpointError, galmorph.errors.NoModelError
        ``model`` is not a galmorph checkpoint, or does not exist.
    galmorph.errors.ParameterError
        ``out`` holds something else, or ``limit`` < 1.

    Examples
    --------
    >>> pseudo_label("../shared/data/gz-kaggle-unlabelled-22k", "pseudo-22k",
    ...              precision="int8")                                  # doctest: +SKIP
    PosixPath('pseudo-22k')
    """
    from galmorph import __version__
    from galmorph.inference.files import predict_files
    from galmorph.labels import check_labels, normalize_tree_numpy, weighted_to_conditional
    from galmorph.models.checkpoint import sha256_of
    from galmorph.paths import resolve_model_path

    if limit is not None and int(limit) < 1:
        raise ParameterError(f"--limit must be a positive number of galaxies, not {limit!r}")
    out = _check_out(out, unlabelled)
    ids, paths = unlabelled_images(unlabelled)
    if limit is not None:
        ids, paths = ids[:int(limit)], paths[:int(limit)]
    teacher = resolve_model_path(model)           # NoModelError where there is none
    start = time.perf_counter()
    table = predict_files(teacher, [str(p) for p in paths], tta=tta, precision=precision,
                          batch_size=batch_size, workers=workers, device=device,
                          progress=progress, convert="refuse")
    seconds = time.perf_counter() - start
    got = np.asarray(table[schema.ID_COLUMN], dtype=np.int64)
    labels = np.stack([np.asarray(table[c], dtype=np.float64)
                       for c in schema.KAGGLE_COLUMNS], axis=1)              # (n, 37)
    tree = "as predicted (the teacher's outputs are tree-normalised)"
    if not check_labels(labels, atol=1e-4):
        # A teacher with a sigmoid head (cnn's default): each question is rescaled to sum
        # to its parent answer, down the tree, so the labels obey the GZ2 tree.
        labels = normalize_tree_numpy(weighted_to_conditional(labels))
        tree = "projected onto the GZ2 tree (the teacher's outputs do not obey it)"
    labels = np.round(labels, LABEL_DECIMALS)
    check = check_labels(labels)
    if not check:
        raise DataError(f"teacher {teacher}: its outputs cannot be made to obey the GZ2 "
                        f"decision tree ({check.violations[0]}); use a galmorph model as the "
                        f"teacher")
    order = np.argsort(got, kind="stable")
    got, labels = got[order], labels[order]
    by_id = dict(zip(ids.tolist(), paths))
    out.mkdir(parents=True, exist_ok=True)
    _link_images(out / schema.KAGGLE_IMAGE_DIRS["training"], got,
                 [by_id[int(i)] for i in got])
    text = _labels_text(got, labels)
    write_text_atomic(out / schema.KAGGLE_LABEL_FILE, text)
    record = {
        "labels": "soft pseudo-labels from a teacher model, not volunteer votes",
        "teacher": {"path": str(Path(teacher).resolve()), "sha256": sha256_of(teacher),
                    "name": table.meta.get("model_name")},
        "tta": tta, "precision": table.meta.get("precision"), "tree": tree,
        "preprocessing": table.meta.get("preprocessing"),
        "source": str(Path(unlabelled).resolve()), "n_galaxies": int(len(got)),
        "limit": None if limit is None else int(limit),
        "skipped": table.meta.get("skipped", []),
        "labels_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "seconds": round(seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "galmorph_version": __version__, "schema_version": schema.SCHEMA_VERSION,
    }
    write_text_atomic(out / TEACHER_FILE, json.dumps(record, indent=1) + "\n")
    return out
