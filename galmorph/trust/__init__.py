"""How far to trust an answer: intervals, merger probabilities and out-of-distribution flags.

- :mod:`~galmorph.trust.intervals`   split-conformal intervals from the members' spread;
- :mod:`~galmorph.trust.merger_calibration`     ``merger_prob``, calibrated on volunteers' votes;
- :mod:`~galmorph.trust.ood`         ``ood_score`` / ``is_ood`` for inputs the model was not
  made for;
- :mod:`~galmorph.trust.calibration` the three together, stored in a checkpoint, and the
  columns they give one forward pass;
- :mod:`~galmorph.trust.fit`         fitting them on labelled galaxies (``galmorph calibrate``);
- :mod:`~galmorph.trust.measure`     measuring them on evaluated galaxies (``galmorph
  evaluate``, the run report).

It sits above :mod:`galmorph.inference` and :mod:`galmorph.models` and below
:mod:`galmorph.astro`, whose classifier writes the columns.
"""
from galmorph.trust.calibration import (TRUST_VERSION, TrustCalibration, TrustColumns,
                                        empty_trust, trust_columns)
from galmorph.trust.intervals import (REPORTED_LEVELS, IntervalCalibration, check_intervals,
                                      fit_intervals, interval_coverage, predict_intervals)
from galmorph.trust.measure import TrustMeasure, format_trust
from galmorph.trust.merger_calibration import (MergerCalibration, expected_scores,
                                               fit_merger_prob, flag_for_recall, merger_prob,
                                               merger_scores)
from galmorph.trust.ood import OODCalibration, fit_ood, image_statistics, score_ood

__all__ = ["TRUST_VERSION", "TrustCalibration", "TrustColumns", "empty_trust", "trust_columns",
           "REPORTED_LEVELS", "IntervalCalibration", "check_intervals", "fit_intervals",
           "interval_coverage", "predict_intervals", "MergerCalibration", "fit_merger_prob",
           "merger_prob", "merger_scores", "expected_scores", "flag_for_recall", "OODCalibration",
           "fit_ood", "image_statistics", "score_ood", "TrustMeasure", "format_trust"]
