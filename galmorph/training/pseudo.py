"""Pseudo-labelled data folders, as training reads them (Noisy Student; Xie et al. 2020).

``galmorph pseudo-label`` (:func:`galmorph.adapt.teacher.pseudo_label`, which
predicts, so it lives where inference may be used) writes a Kaggle-layout folder:
``training_solutions_rev1.csv`` with a teacher model's soft labels (tree-consistent
weighted fractions), ``images_training_rev1/`` linking to the unlabelled images,
and ``teacher.json`` recording the teacher. ``galmorph train LABELLED_DIR PSEUDO_DIR
--pseudo-weight W`` then trains on both; this module is the training side:

- the rows of a pseudo-labelled folder never enter the validation split (a model is
  chosen on real labels only);
- their loss is weighted by ``W`` (see :mod:`galmorph.training.population`);
- ``W = 0`` leaves them out of the training split too, so that the run is the run
  without the folder, exactly (same batches, same weights).

References
----------
Xie Q., Luong M.-T., Hovy E., Le Q. V., 2020, "Self-training with Noisy Student
improves ImageNet classification", CVPR, arXiv:1911.04252.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from galmorph.data._kaggle import TEACHER_FILE
from galmorph.errors import DataError

__all__ = ["is_pseudo_folder", "read_teacher", "row_sources", "pseudo_rows",
           "split_labelled", "keep_pseudo"]


def is_pseudo_folder(folder):
    """Whether ``folder`` holds pseudo-labels written by ``galmorph pseudo-label``."""
    return folder is not None and (Path(str(folder)) / TEACHER_FILE).is_file()


def read_teacher(folder):
    """The teacher record (``teacher.json``) of a pseudo-labelled folder.

    Returns
    -------
    dict
        ``teacher`` (path, sha256, name), ``tta``, ``precision``, ``created``,
        ``n_galaxies``, ``source`` (the unlabelled folder) and ``galmorph_version``.

    Raises
    ------
    galmorph.errors.DataError
        No ``teacher.json``, or one that is not a JSON object.
    """
    path = Path(folder) / TEACHER_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{folder} holds no {TEACHER_FILE}: it was not written by galmorph "
                        f"pseudo-label") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is unreadable ({exc}); write the folder again with "
                        f"galmorph pseudo-label") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path} is not a JSON object; write the folder again with "
                        f"galmorph pseudo-label")
    return doc


def row_sources(data):
    """The data folder (``str``) of every row of a prepared (possibly combined) set."""
    if data.parts:
        sources = [str(p["source"]) for p in data.parts]
        return [sources[k] for k in data.folder_index]
    return [str(data.meta.get("source") or data.path)] * len(data)


def pseudo_rows(data):
    """``bool (N,)``: the rows of ``data`` that come from pseudo-labelled folders."""
    sources = row_sources(data)
    flags = {s: is_pseudo_folder(s) for s in set(sources)}
    return np.array([flags[s] for s in sources], dtype=bool)


def split_labelled(make_split, pseudo, pseudo_weight, held=None):
    """``(train, val)`` row numbers: a split of the labelled rows, plus the pseudo-labelled
    rows in training (none where ``pseudo_weight`` is 0).

    The labelled rows are split as if the pseudo-labelled folders were not there,
    so a run with ``pseudo_weight=0`` holds out, and trains on, exactly what the
    run without them does.

    Parameters
    ----------
    make_split : callable
        ``make_split(rows) -> (train, val)``: positions into ``rows`` (the labelled
        row numbers), e.g. :func:`galmorph.training.batches.make_split` on their groups.
    pseudo : numpy.ndarray of bool, shape (N,)
        :func:`pseudo_rows`.
    pseudo_weight : float
        The weight of the pseudo-labelled rows' loss.
    held : numpy.ndarray of bool, shape (N,), optional
        Rows in neither split (the untouched split, ``hold_out_untouched``).

    Returns
    -------
    train, val : numpy.ndarray
        Sorted ``int64`` row numbers.

    Raises
    ------
    galmorph.errors.DataError
        No labelled row to split (every folder pseudo-labelled).
    """
    held = np.zeros(len(pseudo), bool) if held is None else held
    labelled = np.flatnonzero(~pseudo & ~held)
    if len(labelled) < 2:
        raise DataError("every data folder holds pseudo-labels: training needs galaxies "
                        "labelled by volunteers to validate on; add a labelled data folder")
    train, val = make_split(labelled)
    return keep_pseudo(labelled[train], pseudo, pseudo_weight), np.sort(labelled[val])


def keep_pseudo(train_rows, pseudo, pseudo_weight, held=None):
    """The training rows: every pseudo-labelled row where ``pseudo_weight > 0``, none where 0.

    Parameters
    ----------
    train_rows : array-like of int
        Training row numbers (e.g. every row outside a stored validation split).
    pseudo : numpy.ndarray of bool, shape (N,)
        :func:`pseudo_rows`.
    pseudo_weight : float
        The weight of the pseudo-labelled rows' loss.
    held : numpy.ndarray of bool, shape (N,), optional
        Rows left out whatever they are (the untouched split).

    Returns
    -------
    numpy.ndarray
        Sorted ``int64`` row numbers.
    """
    rows = np.asarray(train_rows, dtype=np.int64)
    rows = rows[~pseudo[rows] & (True if held is None else ~held[rows])]
    if float(pseudo_weight) > 0.0:
        rows = np.concatenate([rows, np.flatnonzero(pseudo)])
    return np.sort(rows).astype(np.int64)
