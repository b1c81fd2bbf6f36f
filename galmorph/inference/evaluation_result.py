"""What :func:`~galmorph.inference.evaluation.evaluate` returns: the scores and what they
were computed from.

An :class:`Evaluation` keeps the predictions of the one inference pass next to
the JSON-able scores, as scikit-learn's ``cross_validate(...,
return_estimator=True)`` keeps the fitted estimators: code that shows or checks
an evaluation (the run report's figures, say) reads them here instead of
choosing the rows and predicting the galaxies a second time.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from galmorph.inference.engine import RowSelection

__all__ = ["Evaluation"]


@dataclass(frozen=True, eq=False, repr=False)
class Evaluation(Mapping):
    """The result of :func:`~galmorph.inference.evaluation.evaluate`.

    It reads as the JSON-able dict of scores (``result["rmse"]``,
    ``result.get("trust")``, ``dict(result)``), read-only; :meth:`to_dict`
    gives a plain copy for ``json.dumps`` (``galmorph evaluate --json``
    prints it). The arrays are those the scores were computed from.

    Attributes
    ----------
    scores : dict
        The JSON-able scores, as described under *Returns* of
        :func:`~galmorph.inference.evaluation.evaluate`.
    predictions : numpy.ndarray
        ``float32 (n, 37)``: the predicted weighted vote fractions of the
        evaluated galaxies (Kaggle column order; the mean over members and
        views, as scored).
    rows : numpy.ndarray
        ``int64 (n,)``: the evaluated galaxies' row numbers in :attr:`data`,
        in the order of :attr:`predictions`.
    labels : numpy.ndarray
        ``float64 (n, 37)``: their volunteer fractions, NaN where unknown.
    data : PreparedData
        The labelled data evaluated (:class:`galmorph.data.cache.PreparedData`;
        its images stay memory-mapped).
    baseline_rows : numpy.ndarray
        ``int64 (m,)``: the rows the baselines were fitted on: every row
        outside :attr:`rows`, or all rows where none is left.
    subset_masks : dict of str -> numpy.ndarray
        ``bool (n,)`` per key of ``scores["subsets"]``: which evaluated
        galaxies each subset holds (the populations, ``id<=...``, one
        ``folder:<name>`` per data folder, the named ``subsets``).

    Examples
    --------
    >>> result = evaluate("runs/gz2/best.pt", split="all")       # doctest: +SKIP
    >>> result["rmse"], result.predictions.shape                  # doctest: +SKIP
    (0.101, (5000, 37))
    >>> json.dumps(result.to_dict())                              # doctest: +SKIP
    """

    scores: dict
    predictions: np.ndarray
    rows: np.ndarray
    labels: np.ndarray
    data: object
    baseline_rows: np.ndarray
    subset_masks: dict

    # -- the scores, read as a mapping ---------------------------------------------------

    def __getitem__(self, key):
        return self.scores[key]

    def __iter__(self):
        return iter(self.scores)

    def __len__(self):
        return len(self.scores)

    def to_dict(self):
        """The scores as a new plain dict (JSON-able; what ``evaluate`` returned before
        it returned an :class:`Evaluation`)."""
        return copy.deepcopy(self.scores)

    # -- the evaluated galaxies ----------------------------------------------------------

    @property
    def ids(self):
        """``(n,)``: the evaluated galaxies' IDs (``int64``, or file stems as ``str``)."""
        return np.asarray(self.data.ids)[self.rows]

    @property
    def known(self):
        """``bool (n, 37)``: the label cells that are known (scored)."""
        return np.isfinite(self.labels)

    @property
    def folder(self):
        """``int (n,)``: which data folder (``data.parts``) each evaluated galaxy is from;
        all 0 for one folder."""
        return self.data.folder_index[self.rows]

    @property
    def images(self):
        """The evaluated galaxies' preprocessed images, ``uint8 (n, 3, H, W)``, read row by
        row when indexed (a :class:`~galmorph.inference.engine.RowSelection`)."""
        return RowSelection(self.data.images, self.rows)

    @property
    def baseline_labels(self):
        """``float64 (m, 37)``: the labels the baselines were fitted on, NaN where unknown."""
        return np.asarray(self.data.labels, dtype=np.float64)[self.baseline_rows]

    def __repr__(self):
        rmse = self.scores.get("rmse")
        shown = "None" if rmse is None else f"{rmse:.4f}"
        model = (self.scores.get("model") or {}).get("name")
        return (f"Evaluation(rmse={shown}, n_galaxies={len(self.rows)}, "
                f"split={self.scores.get('split')!r}, model={model!r})")
