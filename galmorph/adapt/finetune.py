"""Finetuning: a trained galmorph network learns labels of your own from a table.

``finetune(FinetuneConfig(labels="rings.csv", label=["ring"], out="runs/ring"))``
reads the table (:mod:`galmorph.adapt._label_table`), caches its images as
``galmorph train`` does (:func:`galmorph.data.cache.prepare`), holds out a
seeded validation split (stratified by class for a binary or multiclass first
label) and trains a :class:`~galmorph.models.finetuned.Finetuned` model: new
heads on the network's pooled features. ``unfreeze`` says what else trains:

``"none"``
    A linear probe: the features are extracted once and only the head learns.
    Minutes on a CPU for a thousand galaxies; the 37 GZ2 answers stay the
    network's own, with its trust calibration.
``"last"``
    Also the last residual stage (``layer4``) of the network, or of every
    member of an ensemble, at a tenth of the head's learning rate.
``"all"``
    The whole network (``from_model`` a freshly built one: training from scratch).

The run directory is a ``galmorph train`` run directory: ``config.json`` (the
resolved config), ``split.json`` (the held-out table rows), ``metrics.csv``
(epoch, train_loss, val_loss, lr, images_per_s, elapsed_s), ``last.pt`` (with the
optimiser state, for ``resume``) and ``best.pt`` (lowest validation loss), plus
``features.npy`` for a probe. ``best.pt`` is a normal galmorph checkpoint:
``MorphologyClassifier("runs/ring/best.pt").predict(table)`` adds the columns.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from galmorph.errors import ParameterError
from galmorph.rundir import RunDir
from galmorph.training.config import RunOptions

__all__ = ["FinetuneConfig", "finetune", "UNFREEZE", "DEFAULT_EPOCHS"]

from galmorph.adapt._finetune_parts import (  # noqa: F401  (_prepare: the benchmark's)
    _ENCODER, _INVOCATION, _METRICS, DEFAULT_EPOCHS, DEFAULT_LR, UNFREEZE, _base_model, _groups,
    _prepare, _save_metrics)

@dataclass
class FinetuneConfig(RunOptions):
    """Everything that defines a finetuning run (``galmorph finetune`` flags map one to one).

    Attributes
    ----------
    labels : str or Path
        The table: CSV, ECSV, FITS or Parquet with a ``path`` column of images
        (relative to the table's folder) and the label columns.
    label : sequence of str
        The label columns; each gets a head and an output column of its name.
    task : {"auto", "binary", "multiclass", "regression"}
        ``"auto"`` reads each column (see :mod:`galmorph.adapt._label_table`).
    source : str, Path or None
        The trained network (``--from``); ``None``: the default model (the shipped one
        unless ``$GALMORPH_MODEL`` or ``galmorph train --set-default`` says otherwise).
    unfreeze : {"none", "last", "all"}
        See the module docstring.
    image_dir : str, Path or None
        Folder that relative image paths are resolved against (default: the table's).
    epochs : int or None
        Total epochs; ``None``: 25 for a probe, 10 otherwise, or with ``time_limit``
        (and not a probe) as many as fit.
    lr : float or None
        AdamW learning rate of the heads (default 1e-3; a probe's L-BFGS ignores it); the
        network's trained layers get ``encoder_lr`` (default a tenth of it).
    encoder_lr : float or None
    weight_decay : float
        AdamW weight decay (``last``, ``all``; a probe's heads carry an L2 penalty instead,
        ``_finetune_loop.PROBE_C``).
    batch_size : int or None
        Galaxies per step (default 256 for a probe, 32 otherwise).
    val_fraction : float
        Fraction of the labelled galaxies held out (at least one).
    seed : int
        Seeds the split, the batch order and the augmentation.
    augment : bool or None
        Flips and rotations; ``None``: on when the network trains, off for a probe
        (on, a probe trains on the features of the 8 flips and quarter turns, which
        costs 8 times the extraction).
    cache : str or Path or None
        The images' preprocessing cache (default under the user cache directory).
    """

    labels: str | Path | None = None
    label: tuple = ()
    task: str = "auto"
    source: str | Path | None = None
    unfreeze: str = "none"
    image_dir: str | Path | None = None
    epochs: int | None = None
    lr: float | None = None
    encoder_lr: float | None = None
    weight_decay: float = 1e-2
    batch_size: int | None = None
    val_fraction: float = 0.2
    seed: int = 0
    augment: bool | None = None
    precision: str = "fp32"

    def __post_init__(self):
        self.label = (self.label,) if isinstance(self.label, str) else tuple(self.label or ())
        if self.unfreeze not in UNFREEZE:
            raise ParameterError(f"--unfreeze must be one of {', '.join(UNFREEZE)}, not "
                                 f"{self.unfreeze!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value
                                      or value < 1):
                raise ParameterError(f"--{name.replace('_', '-')} must be a positive integer, "
                                     f"not {value!r}")
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise ParameterError(f"--val-fraction must be between 0 and 1, not "
                                 f"{self.val_fraction!r}")
        if (self.lr is not None and not float(self.lr) > 0) or (self.encoder_lr is not None and not self.encoder_lr > 0):
            raise ParameterError("--lr and --encoder-lr must be positive")
        if self.time_limit is not None and float(self.time_limit) < 0:
            raise ParameterError(f"--time-limit must be >= 0 seconds, not {self.time_limit!r}")

    @classmethod
    def from_run(cls, run_dir, **overrides):
        """The config stored in ``run_dir/config.json`` with ``overrides``; resumes it."""
        stored = RunDir(run_dir).config()
        names = {f.name for f in dataclasses.fields(cls)} - set(_INVOCATION)
        values = {k: v for k, v in stored.items() if k in names}
        values.update(out=str(run_dir), resume=True, **overrides)
        return cls(**values)

    def to_dict(self):
        out = dataclasses.asdict(self)
        for key in ("labels", "out", "cache", "report", "source", "image_dir"):
            out[key] = None if out[key] is None else str(out[key])
        out["label"] = list(out["label"])
        return out


def finetune(config):
    """Train heads of your own labels on a trained galmorph network; returns the run folder.

    Parameters
    ----------
    config : FinetuneConfig or dict

    Returns
    -------
    pathlib.Path
        The run directory (see the module docstring).

    Raises
    ------
    galmorph.errors.DataError
        The table (named with its rows and columns) or an image is unusable.
    galmorph.errors.RunDirError
        ``out`` holds another run, or this run without ``resume``.
    galmorph.errors.ParameterError
        A missing or invalid setting.

    Examples
    --------
    >>> run = finetune(FinetuneConfig(labels="rings.csv", label=["ring"],
    ...                               out="runs/ring"))          # doctest: +SKIP
    >>> from galmorph import MorphologyClassifier
    >>> MorphologyClassifier(run / "best.pt").predict("rings.csv")["ring"]  # doctest: +SKIP
    """
    import torch

    from galmorph.adapt import _finetune_run as run

    if isinstance(config, dict):
        config = FinetuneConfig(**config)
    if config.out is None or config.labels is None or not config.label:
        raise ParameterError("finetuning needs LABELS (a table), --label COLUMN and --out "
                             "RUN_DIR (or resume=True with a run directory)")
    with torch.random.fork_rng():
        return run.Run(config).run()
