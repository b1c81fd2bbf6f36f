"""The training configuration and the run directory it lives in.

A *run directory* holds everything one training run writes:

- ``config.json``  the resolved :class:`TrainConfig` plus the galmorph and
  torch versions, device, precision and number of processes;
- ``split.json``   the IDs of the held-out validation galaxies;
- ``metrics.csv``  one row per epoch (epoch, train_rmse, val_rmse, lr,
  images_per_s, elapsed_s);
- ``last.pt`` / ``best.pt``  the latest checkpoint (with the full training
  state, for ``--resume``) and the one with the lowest validation RMSE.

A run directory belongs to one run: starting a different run in it, or the
same run again without ``resume``, is a :class:`~galmorph.errors.RunDirError`,
never a silent overwrite. The files are named, written and read by
:class:`galmorph.rundir.RunDir`; this module decides what may go into them.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from galmorph.errors import ParameterError, RunDirError
from galmorph.rundir import METRICS_COLUMNS, RunDir

__all__ = ["TrainConfig", "Recipe", "RunOptions", "DEFAULT_EPOCHS", "RESUMABLE_FIELDS",
           "INVOCATION_FIELDS", "METRICS_COLUMNS", "config_for_invocation", "parse_model_options",
           "read_run_config", "check_run_dir", "write_metrics", "read_metrics"]

@dataclass
class Recipe:
    """What a training run learns, and from what: every field must match when it is resumed
    (except ``epochs``, which may raise the total).

    Attributes
    ----------
    data : str or Path, or a list of them
        Labelled data folder(s) (Kaggle or GZ2-release layout); each keeps its
        own preprocessing cache, built on first use and reused afterwards.
        Several folders are trained on as one set, with one split stratified
        by folder. Their labels may be partial (questions unknown as NaN).
    model : str
        ``"resnet18-cpu"`` (default: the best per CPU-second, see
        ``benchmarks/recipe_frontier.py``), ``"cnn"``, ``"resnet18"`` or
        ``"resnet18-tailored"`` (the paper's three).
    model_options : dict
        Model config overrides, e.g. ``{"dropout": 0.3}``.
    epochs : int or None
        Number of epochs to train in total (a resumed run continues to it).
        ``None`` (default): :data:`DEFAULT_EPOCHS`, or, when ``time_limit``
        is given, as many as fit in it: the run trains until the time limit,
        the learning rate lowered by the plateau schedule below as the
        validation RMSE stalls (the shipped model's recipe; see BENCHMARKS.md).
    batches_per_epoch : int or None
        Batches per epoch; ``None`` is one pass over the training split
        (``n_train // batch_size`` batches). The paper's epochs are 100 batches.
    batch_size, val_batch_size : int or None
        Global batch sizes (shared among processes under ``torchrun``);
        ``None`` takes the model's, from its registry entry (cnn 256/128, ResNets
        64/32; :func:`galmorph.models.model_entry`).
    lr : float
        Adam learning rate.
    plateau_factor, plateau_patience, min_lr : float, int, float
        ``ReduceLROnPlateau`` on the validation RMSE: multiply the learning
        rate by ``plateau_factor`` after ``plateau_patience`` epochs without
        improvement, never below ``min_lr``.
    val_fraction : float
        Fraction of galaxies held out for validation (seeded, stored in
        ``split.json``).
    seed : int
        Seeds the split (unless ``split_seed`` is given), the model
        initialisation, the batch order, augmentation and dropout.
    split_seed : int or None
        Seeds the validation split alone; ``None`` uses ``seed``. Runs that
        differ in ``seed`` but share ``split_seed`` hold out the same galaxies,
        as the members of an ensemble must (:mod:`galmorph.models.ensemble`).
    augment : bool or None
        Random rotations and flips of every training batch. ``None`` is the
        model's default: on for ``resnet18-tailored`` (as in the paper) and
        ``resnet18-cpu``, off for ``cnn`` and ``resnet18``.
    crop, size : int or None
        Preprocessing: central crop side in input pixels, then resize to
        ``size`` pixels. ``None``: the model's (its registry entry's crop, 224, and
        its ``input_size``, 80; :func:`galmorph.models.preprocessing_of`).
    on_error : {"auto", "raise", "skip"}
        What preparing the data does with a bad row or image: stop with an
        error naming it, or leave it out and list it in the skip report.
        ``"auto"`` stops too, except at a GZ2 release's tree breaks, which it
        skips (see :func:`galmorph.data.catalogs.read_gz2`).
    flavour : {"weighted_fraction", "fraction", "debiased"}
        Which GZ2-release vote fractions become the labels (GZ2 layout only).
    population_weights : {"none", "mask", "importance"}
        Weights per galaxy and question that make the loss stand for the real
        population (:mod:`galmorph.training.population`): ``"none"`` (default,
        the plain masked MSE), ``"mask"`` (confident gz-kaggle-5k galaxies do not
        teach Q1, Q2, Q4, Q7) or ``"importance"`` (label-shift weights per question).
    pseudo_weight : float
        Loss weight of the galaxies of pseudo-labelled data folders (written by
        ``galmorph pseudo-label``; never validated on). 0 leaves them out exactly.
    hold_out_untouched : bool
        Leave the untouched split of the shared labelled data out of training and
        validation (:func:`galmorph.data.populations.untouched_mask`).
    """

    data: str | os.PathLike | None = None
    model: str = "resnet18-cpu"
    model_options: dict = field(default_factory=dict)
    epochs: int | None = None
    batches_per_epoch: int | None = None
    batch_size: int | None = None
    val_batch_size: int | None = None
    lr: float = 1e-3
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    min_lr: float = 1e-6
    val_fraction: float = 0.1
    seed: int = 0
    split_seed: int | None = None
    augment: bool | None = None
    crop: int | None = None
    size: int | None = None
    on_error: str = "auto"
    flavour: str = "weighted_fraction"
    population_weights: str = "none"
    pseudo_weight: float = 0.5
    hold_out_untouched: bool = False


@dataclass
class RunOptions:
    """How a training run is run: these may change from one invocation to the next.

    Attributes
    ----------
    out : str or Path
        Run directory (created).
    time_limit : float or None
        Seconds; stop cleanly at the first batch boundary past it and
        checkpoint (resume later with ``resume=True``). Without ``epochs``,
        the run trains until then.
    precision : str
        ``"auto"`` (bf16 where the hardware computes it natively, else fp32),
        ``"bf16"``, ``"fp16"`` (CUDA) or ``"fp32"``.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    workers : int or None
        Processes used to build the preprocessing cache when it is missing
        (``None``: every core).
    cache : str or Path or None, or a list of them
        Cache folder (one per data folder); ``None`` is the default under the
        user cache directory.
    report : str or Path or None
        Where to write the skip report of the data (``report-2.csv`` etc. for
        the further data folders).
    set_default : bool
        Register ``best.pt`` as the default model when training ends.
    resume : bool
        Continue the run stored in ``out`` from its ``last.pt``.
    progress : bool or None
        Progress bars; ``None`` shows them only on a terminal.
    """

    out: str | os.PathLike | None = None
    time_limit: float | None = None
    precision: str = "auto"
    device: str = "auto"
    workers: int | None = None
    cache: str | os.PathLike | list | None = None
    report: str | os.PathLike | None = None
    set_default: bool = False
    resume: bool = False
    progress: bool | None = None


#: Epochs of a run given neither ``epochs`` nor ``time_limit``.
DEFAULT_EPOCHS = 10

#: Fields that may change when a run is resumed (they do not change what is learnt,
#: or -- ``epochs`` -- only extend it). Every other field must match ``config.json``.
RESUMABLE_FIELDS = ("epochs", *(f.name for f in dataclasses.fields(RunOptions)),
                    "resolved_device", "resolved_precision")

#: Fields that belong to one invocation and are not inherited by :meth:`TrainConfig.from_run`.
INVOCATION_FIELDS = ("time_limit", "set_default", "resume", "out", "progress", "workers",
                     "report")


@dataclass
class TrainConfig(RunOptions, Recipe):
    """Everything that defines a training run (``galmorph train`` flags map one to one): the
    fields of :class:`Recipe` (what is learned) and of :class:`RunOptions` (how it is run),
    given by name, e.g. ``TrainConfig(data="gz-kaggle-5k", out="runs/a", epochs=20)``.
    """

    def __post_init__(self):
        for name in ("epochs", "batches_per_epoch", "batch_size", "val_batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value
                                      or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), "
                             f"got {self.val_fraction!r}")
        if not float(self.lr) > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not 0.0 < float(self.plateau_factor) < 1.0:
            raise ValueError(f"plateau_factor must be between 0 and 1, got {self.plateau_factor!r}")
        from galmorph.data import ON_ERROR

        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, "
                             f"not {self.on_error!r}")
        if isinstance(self.data, (list, tuple)) and not self.data:
            raise ValueError("data needs at least one data folder")
        from galmorph.training.population import POPULATION_WEIGHTS

        if self.population_weights not in POPULATION_WEIGHTS:
            raise ValueError(f"population_weights must be one of "
                             f"{', '.join(POPULATION_WEIGHTS)}, not {self.population_weights!r}")
        if not float(self.pseudo_weight) >= 0:
            raise ValueError(f"pseudo_weight must be >= 0, got {self.pseudo_weight!r}")
        if self.time_limit is not None and float(self.time_limit) < 0:
            raise ValueError(f"time_limit must be >= 0 seconds, got {self.time_limit!r}")

    @classmethod
    def from_run(cls, run_dir, **overrides):
        """The config stored in ``run_dir/config.json``, with ``overrides`` applied.

        ``resume=True`` and ``out=run_dir`` are set, so ``train(TrainConfig.from_run(d))``
        continues the run in ``d``.
        """
        stored = read_run_config(run_dir)
        names = {f.name for f in dataclasses.fields(cls)} - set(INVOCATION_FIELDS)
        values = {k: v for k, v in stored.items() if k in names}
        values.update(out=str(run_dir), resume=True)
        values.update(overrides)
        return cls(**values)

    def data_folders(self):
        """The data folders as a list (one or more)."""
        if isinstance(self.data, (list, tuple)):
            return list(self.data)
        return [self.data]

    def to_dict(self):
        """Plain JSON-able dict (paths as strings)."""
        out = dataclasses.asdict(self)
        for key in ("data", "out", "cache", "report"):
            if isinstance(out[key], (list, tuple)):
                out[key] = [str(v) for v in out[key]]
            elif out[key] is not None:
                out[key] = str(out[key])
        return out


def parse_model_options(items):
    """``{"dropout": 0.3}`` from ``["dropout=0.3"]`` (``--model-option``; values read as JSON
    where they parse, else kept as text)."""
    options = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--model-option wants KEY=VALUE, got {item!r}")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def config_for_invocation(data=(), *, resume=None, model_options=None, **given):
    """The :class:`TrainConfig` of one ``galmorph train`` invocation.

    Parameters
    ----------
    data : sequence of path-like
        The data folders given (none with ``resume`` keeps the stored ones).
    resume : path-like, optional
        A run directory to continue: its stored config, with ``given`` applied.
    model_options : dict or sequence of "KEY=VALUE", optional
        Model config overrides.
    **given
        Other :class:`TrainConfig` fields; ``None`` values are left out (the
        defaults, or with ``resume`` the stored values).

    Raises
    ------
    galmorph.errors.ParameterError
        A missing or contradictory setting, named as its flag, or an invalid value.
    """
    given = {k: v for k, v in given.items() if v is not None}
    data = list(data or ())
    if len(data) == 1:
        given["data"] = data[0]
    elif data:
        given["data"] = data
        if "cache" in given:
            raise ParameterError("--cache names one folder; with several DATA_DIRs each gets "
                                 "its default cache")
    if model_options:
        given["model_options"] = (dict(model_options) if isinstance(model_options, dict)
                                  else parse_model_options(model_options))
    try:
        if resume:
            out = given.pop("out", None)
            if out is not None and str(out) != str(resume):
                raise ParameterError(f"--out {out} and --resume {resume} name different run "
                                     f"directories; give only --resume")
            return TrainConfig.from_run(resume, **given)
        missing = [name for name, key in (("DATA_DIR", "data"), ("--out RUN_DIR", "out"))
                   if key not in given]
        if missing:
            raise ParameterError(f"{' and '.join(missing)} required (or --resume RUN_DIR to "
                                 f"continue a run)")
        config = TrainConfig(**given)
        from galmorph.models import model_config

        model_config(config.model, **config.model_options)  # unknown options fail here, cleanly
        return config
    except RunDirError:
        raise
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ParameterError):
            raise
        raise ParameterError(str(exc)) from None


def read_run_config(run_dir):
    """The dict stored in ``run_dir/config.json``; RunDirError when there is none
    (:meth:`galmorph.rundir.RunDir.config`)."""
    return RunDir(run_dir).config()


def _differences(stored, wanted):
    diffs = []
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for key, value in wanted.items():
        if key in RESUMABLE_FIELDS:
            continue
        if key not in stored and defaults.get(key, "<none>") == value:
            continue  # a setting added after the run was made, at its default
        old = stored.get(key, "<missing>")
        if _norm(old) != _norm(value):
            diffs.append(f"{key}: {old!r} stored, {value!r} requested")
    return diffs


def _norm(value):
    # JSON turns tuples into lists; compare the JSON forms.
    return json.loads(json.dumps(value, sort_keys=True))


def check_run_dir(out, resolved, resume, stored=None):
    """Check that ``out`` may receive the run ``resolved``; returns ``"new"`` or ``"resume"``.

    Parameters
    ----------
    out : Path
        The run directory.
    resolved : dict
        The resolved :meth:`TrainConfig.to_dict`.
    resume : bool
    stored : dict, optional
        ``out/config.json`` where the caller has read it already; read here otherwise.

    Raises
    ------
    RunDirError
        ``out`` holds a different run (the differing settings are named), the
        same run without ``resume``, foreign files, or nothing to resume.
    """
    out = Path(out)
    cfg = RunDir(out).config_file
    hint_new = "choose a new --out"
    if not cfg.is_file():
        if resume:
            read_run_config(out)  # raises the "nothing to resume" error
        if out.is_dir() and any(p.name not in (".", "..") for p in out.iterdir()):
            names = ", ".join(sorted(p.name for p in out.iterdir())[:5])
            raise RunDirError(f"run directory {out} is not empty ({names}) and holds no "
                              f"galmorph run; {hint_new} or empty it")
        return "new"
    if stored is None:
        stored = read_run_config(out)
    diffs = _differences(stored, resolved)
    if diffs:
        raise RunDirError(
            f"run directory {out} already holds a different run: " + "; ".join(diffs)
            + f". Pass --resume {out} to continue the stored run as it was, or {hint_new} "
              f"for this one")
    if not resume:
        done, total = len(read_metrics(out)), stored.get("epochs", "?")
        raise RunDirError(
            f"run directory {out} already holds this run ({done} "
            f"{'epochs' if total is None else f'of {total} epochs'} done); pass --resume "
            f"{out} to continue it, "
            f"or {hint_new} to train again from scratch (nothing was overwritten)")
    return "resume"


def write_metrics(run_dir, rows):
    """(Re)write ``metrics.csv`` from the epoch rows kept in the checkpoint, atomically
    (:meth:`galmorph.rundir.RunDir.write_metrics`).

    Parameters
    ----------
    run_dir : path-like
        The run directory.
    rows : list of dict
        One row per epoch, keyed by :data:`METRICS_COLUMNS`.
    """
    RunDir(run_dir).write_metrics(rows)


def read_metrics(run_dir):
    """The rows of ``metrics.csv`` as dicts of numbers (empty when absent)."""
    return RunDir(run_dir).metrics()
