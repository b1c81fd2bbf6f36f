"""Training: the configuration and run directory, batches, the loop and ``torchrun``.

- :mod:`.config`: :class:`TrainConfig`, run-directory checks, ``metrics.csv``;
- :mod:`.batches`: the seeded split (stratified by data folder) and batch order;
- :mod:`.train`: :func:`train`, the loop with its plateau schedule and resume;
- :mod:`.distributed`: ``torchrun`` / DistributedDataParallel plumbing.

Prediction and evaluation live in :mod:`galmorph.inference`; the metric in
:mod:`galmorph.metrics` and the augmentation in :mod:`galmorph.augment`. The
public names below are imported on first use, so importing this package stays
cheap.
"""
# ``train`` is also the name of the submodule, so the function is imported from it:
# ``from galmorph.training.train import train``.
from galmorph._util._lazy import lazy_exports

__all__ = ["TrainConfig"]

__getattr__, __dir__ = lazy_exports(__name__, {"TrainConfig": "config"})
