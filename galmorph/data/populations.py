"""Which galaxies of the shared Kaggle data stand for the real population.

Most of ``gz-kaggle-5k`` was picked because volunteers classified it confidently
(smooth, edge-on or spiral); only its galaxies with ``GalaxyID <= 115091`` are an
unselected sample. Every galaxy of ``gz-kaggle-partial-3k`` and of
``gz-kaggle-unlabelled-22k`` is unselected. Figures "on the real population" are
figures on the unselected galaxies.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

__all__ = ["UNSELECTED_ID_MAX", "CONFIDENT_DATA", "unselected_mask", "LABELLED_DATA",
           "UNTOUCHED_SALT", "UNTOUCHED_FRACTION", "untouched_mask", "split_role"]

#: gz-kaggle-5k: GalaxyIDs up to here are an unselected sample, the rest confident ones.
UNSELECTED_ID_MAX = 115091
#: Data folders (by name) whose galaxies above UNSELECTED_ID_MAX were selected.
CONFIDENT_DATA = ("gz-kaggle-5k",)


def unselected_mask(data_name, ids):
    """True for the galaxies of folder ``data_name`` that are an unselected sample.

    Parameters
    ----------
    data_name : str or path
        A data folder (its name is used); folders other than :data:`CONFIDENT_DATA`
        are taken to be unselected throughout.
    ids : array-like
        GalaxyIDs (numbers, or strings of digits).

    Returns
    -------
    numpy.ndarray of bool
    """
    ids = np.asarray(ids)
    if Path(str(data_name)).name not in CONFIDENT_DATA:
        return np.ones(len(ids), bool)
    numbers = np.array([int(i) if str(i).isdigit() else -1 for i in ids])
    return (numbers >= 0) & (numbers <= UNSELECTED_ID_MAX)


# --------------------------------------------------------------------- the untouched split
#: The shared labelled data folders (by name) the untouched split is drawn from.
LABELLED_DATA = ("gz-kaggle-5k", "gz-kaggle-partial-3k")
#: Salt of the hash that picks the untouched galaxies (a new salt would be a new split).
UNTOUCHED_SALT = "galmorph-untouched-v1"
#: Fraction of each part held untouched: more of the scarce unselected gz-kaggle-5k galaxies
#: (the only real-population galaxies with all 37 answers), less of the confident ones.
UNTOUCHED_FRACTION = {"unselected-5k": 0.25, "partial-3k": 0.15, "confident-5k": 0.10}


def _unit_hash(ids):
    """A number in [0, 1) for each ID, a fixed function of the ID and :data:`UNTOUCHED_SALT`."""
    out = np.empty(len(ids))
    for k, value in enumerate(ids):
        digest = hashlib.blake2b(f"{UNTOUCHED_SALT}:{value}".encode(), digest_size=8).digest()
        out[k] = int.from_bytes(digest, "big") / 2.0 ** 64
    return out


def untouched_mask(data_name, ids):
    """True for the galaxies of folder ``data_name`` in the *untouched split*.

    The untouched split is the part of the shared labelled data that nothing
    chooses on: no epoch, ensemble member, weight or hyper-parameter of a model
    is selected on it, and no model is trained on it
    (``galmorph train --hold-out-untouched`` leaves it out of both the training
    and the validation split). Each galaxy is in it or not by a salted hash of
    its GalaxyID alone (:data:`UNTOUCHED_SALT`), with the fractions of
    :data:`UNTOUCHED_FRACTION`: 116 of the 500 unselected ``gz-kaggle-5k``
    galaxies, 449 of the 3,000 of ``gz-kaggle-partial-3k`` and 442 of the 4,500
    confident ``gz-kaggle-5k`` galaxies (1,007 in all). Folders other than
    :data:`LABELLED_DATA` have no untouched galaxies.

    The shipped model of 2026-12-03 predates it: it was trained on every
    galaxy of these two folders but its 800-galaxy validation split, which
    chose its epochs, so its figures on this split are not held-out figures.
    The split is held out from the next model on.

    Parameters
    ----------
    data_name : str or path
        A data folder (its name is used).
    ids : array-like
        GalaxyIDs.

    Returns
    -------
    numpy.ndarray of bool
    """
    ids = np.asarray(ids)
    name = Path(str(data_name)).name
    if name not in LABELLED_DATA or len(ids) == 0:
        return np.zeros(len(ids), bool)
    unselected = unselected_mask(name, ids)
    if name == "gz-kaggle-partial-3k":
        fraction = np.full(len(ids), UNTOUCHED_FRACTION["partial-3k"])
    else:
        fraction = np.where(unselected, UNTOUCHED_FRACTION["unselected-5k"],
                            UNTOUCHED_FRACTION["confident-5k"])
    return _unit_hash([int(i) for i in ids]) < fraction


def split_role(data_name, ids, selection_ids=()):
    """``"untouched"``, ``"selection"`` or ``"train"`` for each galaxy of ``data_name``.

    Parameters
    ----------
    data_name : str or path
        A data folder (its name is used).
    ids : array-like
        GalaxyIDs.
    selection_ids : array-like
        The IDs a model was chosen on (a run's ``split.json`` ``val_ids``, or the
        shipped model's ``meta["val_ids"]``).

    Returns
    -------
    numpy.ndarray of str
        Untouched first (:func:`untouched_mask`), then selection, else train.

    Examples
    --------
    >>> split_role("gz-kaggle-5k", [100008, 100053, 100123], selection_ids=[100008])
    array(['selection', 'untouched', 'train'], dtype='<U9')
    """
    ids = np.asarray(ids)
    role = np.full(len(ids), "train", dtype="<U9")
    chosen = np.isin(ids.astype(str), np.asarray(list(selection_ids)).astype(str))
    role[chosen] = "selection"
    role[untouched_mask(data_name, ids)] = "untouched"
    return role
