"""``merger_prob``: the calibrated probability that volunteers would call a galaxy a merger.

The paper's merger rule is ``Class8.6 >= 0.54`` on the volunteers' fractions. A
network trained by mean squared error predicts the *expected* fraction, which
regresses to the mean: galaxies that volunteers call mergers mostly get 0.2-0.5, so
``p_merger >= 0.54`` finds about one merger in seven (issue 26). The ranking is good
(on 800 held-out galaxies the area under the ROC curve is 0.99); the threshold is
what is wrong.

``merger_prob`` is a logistic regression of the event ``Class8.6 >= 0.54`` on
``logit(p_merger)`` (Platt 1999 scaling, two parameters; scikit-learn), fitted on
labelled galaxies. The sum of ``merger_prob`` over a sample estimates its number of
mergers, and its mean the merger fraction
(:func:`galmorph.astro.mergers.merger_fraction`).

For a flag, a probability threshold of 0.5 keeps precision high and recall low for
a class this rare (a calibrated classifier maximises F1 at half the best F1, not at
0.5: Lipton, Elkan & Naryanaswamy 2014). Merger samples are inspected after they are
flagged, so the flag is set by the share of mergers it should find: ``is_merger`` under
the default rule is ``merger_prob >= flag_threshold``, the highest threshold whose
**expected recall** on a population of real galaxies is at least ``FLAG_RECALL``
(0.7). Because ``merger_prob`` is calibrated, the expected number of mergers above a
threshold ``t`` is the sum of ``merger_prob`` over the galaxies above it, so the
expected recall is ``sum(prob[prob >= t]) / sum(prob)`` and the expected precision
``mean(prob[prob >= t])``: no labels are needed, and the population can be the
unlabelled real galaxies the flag will be used on (``galmorph calibrate --reference``),
rather than the training galaxies, a selected mix whose outputs the networks were fitted
to. 0.7 leaves one standard error of a 21-merger sample above a recall of 0.6, the
least galmorph aims for, and keeps as many false flags out as that allows (the expected
precision is stored with the calibration).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from galmorph import schema

__all__ = ["MergerCalibration", "fit_merger_prob", "merger_prob", "merger_scores",
           "expected_scores", "flag_for_recall", "FLAG_RECALL", "MERGER_PRIOR_META"]

_EPS = 1e-4
#: The predictions' meta key of the merger rate ``merger_prob`` was calibrated at
#: (:attr:`MergerCalibration.prior`), which ``merger_fraction(method="prior-shift")`` reads.
MERGER_PRIOR_META = "merger_prob_prior"
_J = schema.column_index(schema.MERGER_COLUMN)


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class MergerCalibration:
    """``merger_prob = sigmoid(intercept + slope * logit(p_merger))`` (plain data).

    Attributes
    ----------
    intercept, slope : float
    flag_threshold : float
        ``is_merger`` (default rule) is ``merger_prob >= flag_threshold``: the highest
        threshold with an expected recall of ``FLAG_RECALL`` on the population it was
        set on (``fitted_on["flag"]``).
    threshold : float
        The volunteers' ``Class8.6`` threshold the event is defined by (0.54).
    fitted_on : dict
        Data, number of galaxies and of mergers.
    """

    intercept: float
    slope: float
    flag_threshold: float = 0.5
    threshold: float = schema.PAPER_MERGER_THRESHOLD
    fitted_on: dict = field(default_factory=dict)

    @property
    def prior(self):
        """The merger rate of the fitting galaxies, which ``merger_prob`` is calibrated at
        (None where not recorded)."""
        n, k = self.fitted_on.get("n"), self.fitted_on.get("n_mergers")
        return float(k) / float(n) if n and k is not None else None

    def to_dict(self):
        return {"intercept": float(self.intercept), "slope": float(self.slope),
                "flag_threshold": float(self.flag_threshold), "threshold": float(self.threshold),
                "fitted_on": dict(self.fitted_on)}

    @classmethod
    def from_dict(cls, data):
        return cls(float(data["intercept"]), float(data["slope"]),
                   float(data.get("flag_threshold", 0.5)),
                   float(data.get("threshold", schema.PAPER_MERGER_THRESHOLD)),
                   dict(data.get("fitted_on") or {}))


def merger_prob(calibration, p_merger):
    """``merger_prob`` of each galaxy from its predicted ``Class8.6`` (NaN stays NaN).

    Parameters
    ----------
    calibration : MergerCalibration or dict
        The fitted calibration (:func:`fit_merger_prob`), or its :meth:`~MergerCalibration.to_dict`.
    p_merger : array (N,)
        Predicted ``Class8.6``, the weighted merger vote fraction in [0, 1]; it is
        clipped to [1e-4, 1 - 1e-4] before the logit.

    Returns
    -------
    numpy.ndarray, float32, shape (N,)
        The calibrated probability that volunteers give ``Class8.6 >= 0.54``
        (``calibration.threshold``); NaN where ``p_merger`` is not finite.
    """
    if isinstance(calibration, dict):
        calibration = MergerCalibration.from_dict(calibration)
    p = np.asarray(p_merger, dtype=np.float64)
    z = calibration.intercept + calibration.slope * _logit(p)
    out = 1.0 / (1.0 + np.exp(-z))
    out[~np.isfinite(p)] = np.nan
    return out.astype(np.float32)


#: ``is_merger`` (default rule) is set to find this share of the mergers, in expectation,
#: of the population its threshold is fitted on.
FLAG_RECALL = 0.7


def expected_scores(prob, flag_threshold):
    """Expected recall, precision and counts of ``prob >= flag_threshold`` from calibrated
    probabilities alone (no labels).

    Parameters
    ----------
    prob : array (N,)
        ``merger_prob`` of a sample; non-finite values are left out.
    flag_threshold : float

    Returns
    -------
    dict
        ``n``, ``n_flagged``, ``expected_mergers`` (the sum of ``prob``),
        ``expected_recall`` (the share of it above the threshold) and
        ``expected_precision`` (the mean ``prob`` of the flagged; NaN with none).
    """
    prob = np.asarray(prob, dtype=np.float64)
    prob = prob[np.isfinite(prob)]
    flagged = prob >= flag_threshold
    total = prob.sum()
    return {"n": int(len(prob)), "n_flagged": int(flagged.sum()),
            "expected_mergers": float(total),
            "expected_recall": float(prob[flagged].sum() / total) if total > 0 else float("nan"),
            "expected_precision": float(prob[flagged].mean()) if flagged.any() else float("nan")}


def flag_for_recall(prob, recall=FLAG_RECALL):
    """The highest threshold on calibrated ``prob`` whose expected recall is at least
    ``recall`` (see :func:`expected_scores`).

    Parameters
    ----------
    prob : array (N,)
        ``merger_prob`` of the population the flag is for (non-finite values left out).
    recall : float
        In (0, 1].

    Returns
    -------
    float
    """
    if not 0 < recall <= 1:
        raise ValueError(f"the merger flag's recall must be in (0, 1], not {recall!r}")
    prob = np.asarray(prob, dtype=np.float64)
    prob = np.sort(prob[np.isfinite(prob)])[::-1]
    if not len(prob) or prob.sum() <= 0:
        raise ValueError("no finite merger_prob above 0 to set the merger flag from")
    share = np.cumsum(prob) / prob.sum()
    return float(prob[min(int(np.searchsorted(share, recall - 1e-12)), len(prob) - 1)])


def fit_merger_prob(p_merger, labels_merger, *, threshold=schema.PAPER_MERGER_THRESHOLD,
                    fitted_on=None, min_mergers=10, flag_recall=FLAG_RECALL, population=None,
                    population_name=None):
    """Fit :class:`MergerCalibration` on labelled galaxies.

    Parameters
    ----------
    p_merger : array (N,)
        Predicted ``Class8.6``.
    labels_merger : array (N,)
        The volunteers' ``Class8.6`` (NaN: unknown, left out).
    threshold : float
        The event is ``labels_merger >= threshold``.
    min_mergers : int
        Fewer galaxies with the event than this raise ``ValueError``: two
        parameters need more.
    flag_recall : float
        The flag threshold is set to find this share of the expected mergers of
        ``population`` (:func:`flag_for_recall`; default 0.7).
    population : array (M,), optional
        Predicted ``Class8.6`` of the galaxies the flag is for, labelled or not (for
        example unlabelled real galaxies); default the fitting galaxies.
    population_name : str, optional
        Recorded with the calibration.

    Returns
    -------
    MergerCalibration
    """
    from sklearn.linear_model import LogisticRegression

    p = np.asarray(p_merger, dtype=np.float64)
    y = np.asarray(labels_merger, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(y)
    event = y[ok] >= threshold
    n_event = int(event.sum())
    if n_event < min_mergers or n_event == ok.sum():
        raise ValueError(f"merger_prob needs at least {min_mergers} galaxies with "
                         f"{schema.MERGER_COLUMN} >= {threshold:g} and some without; these "
                         f"labels have {n_event} of {int(ok.sum())}")
    # No penalty: two parameters, and the intercept must make the sum of merger_prob
    # equal the number of mergers on the fitting galaxies.
    model = LogisticRegression(C=np.inf).fit(_logit(p[ok])[:, None], event)
    cal = MergerCalibration(float(model.intercept_[0]), float(model.coef_[0, 0]), 0.5,
                            float(threshold), dict(fitted_on or {}))
    pop = p[ok] if population is None else np.asarray(population, dtype=np.float64)
    pop_prob = merger_prob(cal, pop[np.isfinite(pop)])
    cal.flag_threshold = flag_for_recall(pop_prob, flag_recall)
    expected = expected_scores(pop_prob, cal.flag_threshold)
    cal.fitted_on.update({"n": int(ok.sum()), "n_mergers": n_event,
                          "flag": {"rule": f"expected recall {flag_recall:g}",
                                   "population": population_name or ("the fitting galaxies"
                                                                     if population is None
                                                                     else "given"),
                                   **expected}})
    return cal


def merger_scores(flags, prob, labels_merger, threshold=schema.PAPER_MERGER_THRESHOLD):
    """Recall, precision and counts of merger flags, and the sum of ``prob``, against the
    volunteers' ``Class8.6 >= threshold``.

    Parameters
    ----------
    flags : bool array (N,)
        The merger flags scored; masked entries count as not flagged.
    prob : array (N,)
        The galaxies' ``merger_prob``; rows where it is not finite are left out.
    labels_merger : array (N,)
        The volunteers' ``Class8.6`` (NaN: unknown, left out).
    threshold : float
        The event is ``labels_merger >= threshold`` (default 0.54, the paper's).

    Returns
    -------
    dict
        Over the rows with a label and a finite ``prob``: ``n``, ``n_mergers`` (with
        the event), ``n_flagged``, ``true_positives``, ``recall`` and ``precision``
        (NaN with no merger or no flag) and ``sum_merger_prob`` (the expected number of
        mergers).
    """
    y = np.asarray(labels_merger, dtype=np.float64)
    flags = np.asarray(np.ma.filled(flags, False), dtype=bool)
    prob = np.asarray(prob, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(prob)
    event, flags, prob = y[ok] >= threshold, flags[ok], prob[ok]
    tp = int((flags & event).sum())
    return {"n": int(ok.sum()), "n_mergers": int(event.sum()), "n_flagged": int(flags.sum()),
            "true_positives": tp,
            "recall": float(tp / event.sum()) if event.any() else float("nan"),
            "precision": float(tp / flags.sum()) if flags.any() else float("nan"),
            "sum_merger_prob": float(prob.sum())}
