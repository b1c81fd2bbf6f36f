"""Training: the configuration and run directory, batches, the loop and ``torchrun``.

- :mod:`.config`: :class:`TrainConfig`, run-directory checks, ``metrics.csv``;
- :mod:`.batches`: the seeded split (stratified by data folder) and batch order;
- :mod:`.loop`: :func:`train`, the loop with its plateau schedule and resume
  (``setup`` -> ``Run``, then ``train_epoch`` and ``validate`` per epoch);
- :mod:`.population` and :mod:`.pseudo`: the loss's weights, and pseudo-labelled folders;
- :mod:`.distributed`: ``torchrun`` / DistributedDataParallel plumbing.

Prediction and evaluation live in :mod:`galmorph.inference`; the metric in
:mod:`galmorph.metrics` and the augmentation in :mod:`galmorph.augment`. The
public names below are imported on first use, so importing this package stays
cheap.

Examples
--------
>>> from galmorph.training import TrainConfig, train
>>> run = train(TrainConfig(data="gz-kaggle-5k", out="runs/cnn", model="cnn",
...                         epochs=20, batches_per_epoch=100))  # doctest: +SKIP
"""
# No sub-module is named ``train`` (the loop is ``loop``), so ``galmorph.training.train``
# is always the function, even after every sub-module has been imported.
from galmorph._util._lazy import lazy_exports

__all__ = ["TrainConfig", "train"]

__getattr__, __dir__ = lazy_exports(__name__, {"TrainConfig": "config", "train": "loop"})
