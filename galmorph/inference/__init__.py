"""Prediction, apart from training: the inference loop, evaluation and file prediction.

- :mod:`.engine`: :func:`predict_arrays`, the one batched inference loop
  (test-time augmentation, autocast), used by everything that predicts;
- :mod:`.evaluation`: :func:`evaluate` a checkpoint on labelled data (the Kaggle
  RMSE over known labels, per question and answer, intervals, baselines) and
  :func:`format_report`;
- :mod:`.evaluation_result`: the :class:`Evaluation` that :func:`evaluate`
  returns: the scores, and the predictions, rows and labels they come from;
- :mod:`.files`: :func:`predict_files`, image files -> the 37 fractions ->
  CSV / ECSV / FITS.

This layer uses :mod:`galmorph.models`, :mod:`galmorph.data`,
:mod:`galmorph.metrics` and :mod:`galmorph.augment`, never
:mod:`galmorph.training`. The public names below are imported on first use, so
``import galmorph.inference`` stays cheap.
"""
from galmorph._util._lazy import lazy_exports

__all__ = ["predict_arrays", "evaluate", "Evaluation", "format_report", "predict_files"]

_WHERE = {"predict_arrays": "engine", "evaluate": "evaluation", "Evaluation": "evaluation_result",
          "format_report": "evaluation", "predict_files": "files"}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
