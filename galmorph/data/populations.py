"""Which galaxies of the shared Kaggle data stand for the real population.

Most of ``gz-kaggle-5k`` was picked because volunteers classified it confidently
(smooth, edge-on or spiral); only its galaxies with ``GalaxyID <= 115091`` are an
unselected sample. Every galaxy of ``gz-kaggle-partial-3k`` and of
``gz-kaggle-unlabelled-22k`` is unselected. Figures "on the real population" are
figures on the unselected galaxies.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["UNSELECTED_ID_MAX", "CONFIDENT_DATA", "unselected_mask"]

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
