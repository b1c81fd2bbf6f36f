"""The training loop: ``train(TrainConfig) -> run directory``.

Adam on the mean squared error of the 37 weighted vote fractions; the
validation RMSE (the Kaggle metric: the square root of the mean over
galaxies x 37 answers) drives a ``ReduceLROnPlateau`` schedule and picks
``best.pt``. Batches come straight from the preprocessing cache
(:mod:`galmorph.training.batches`) and are augmented on the device as whole
batches (:mod:`galmorph.augment`).

It reads top to bottom, as nanoGPT's ``train.py`` and pytorch/examples do:
:func:`train` calls :func:`setup`, which returns the :class:`Run` (data, split,
network, optimiser, loader and training state), then, epoch by epoch,
:func:`train_epoch` and :func:`validate`; a checkpoint and a ``metrics.csv`` row
follow each epoch.

Everything random is a function of the seed and the step -- the split, the
batch order, the augmentation -- except dropout, whose RNG state is saved in
every checkpoint; with fp32 on the CPU a resumed run therefore reproduces the
uninterrupted one. See :mod:`galmorph.training.config` for the run directory
and :mod:`galmorph.training.distributed` for ``torchrun``.

Examples
--------
>>> from galmorph.training import TrainConfig, train
>>> run = train(TrainConfig(data="gz-kaggle-5k", out="runs/cnn", model="cnn",
...                         epochs=20, batches_per_epoch=100))  # doctest: +SKIP
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from galmorph import schema
from galmorph._util._progress import progress_bar
from galmorph.augment import random_params, rotate_flip
from galmorph.models import model_config
from galmorph.paths import set_default_model
from galmorph.rundir import RunDir
from galmorph.runtime import autocast, resolve_device, resolve_precision
from galmorph.training._learner import Learner, build_learner, restore_learner, save_learner
from galmorph.training._setup import (check_outputs, prepare_on_ranks, resolve_run, run_record,
                                      split_rows, write_run_config)
from galmorph.training.batches import BatchLoader, BatchStream, step_seed
from galmorph.training.config import TrainConfig, write_metrics
from galmorph.training.distributed import DistContext, StopFlag, init_distributed, shard
from galmorph.training.population import (cell_weights, masked_sq_error, population_of,
                                          weighted_sq_error)
from galmorph.training.pseudo import pseudo_rows

if TYPE_CHECKING:
    from galmorph.data.cache import PreparedData

__all__ = ["train", "setup", "Run", "train_epoch", "validate"]


@dataclass
class Run:
    """One :func:`train` call, as :func:`setup` makes it. The loop then changes only
    ``state`` and, through ``learner``, the weights and the optimiser's state."""

    config: TrainConfig     # resolved: every default explicit (batch size, augmentation...)
    record: dict            # what config.json stores: config as plain data, device, precision
    ctx: DistContext        # this process's place under torchrun (a no-op in one process)
    device: torch.device
    precision: str          # resolved: "bf16", "fp16" or "fp32"
    data: PreparedData      # images uint8 (N, 3, S, S), labels (N, 37), NaN where unknown
    train_rows: np.ndarray  # int64 row numbers of data
    val_rows: np.ndarray
    partial: bool           # some labels unknown: the loss is the mean over the known cells
    learner: Learner        # the network, its optimiser, plateau schedule and grad scaler
    stream: BatchStream     # step -> positions in train_rows of that global batch
    loader: BatchLoader     # rows -> images and targets (N, 37), or (N, 74) with loss weights
    # What last.pt stores: epoch, batch, history (the metrics.csv rows), best_val_rmse,
    # elapsed_s and partial (an unfinished epoch's sums); elapsed_s_at_start is not stored.
    state: dict
    t_start: float          # time.monotonic() when this call started, for the time limit

    @property
    def out(self):
        """The run directory (:class:`pathlib.Path`)."""
        return Path(self.config.out)


def train(config):
    """Train a model as ``config`` says; returns the run directory.

    Parameters
    ----------
    config : TrainConfig or dict
        See :class:`~galmorph.training.config.TrainConfig`.

    Returns
    -------
    pathlib.Path
        The run directory, holding ``config.json``, ``split.json``,
        ``metrics.csv``, ``last.pt`` and ``best.pt``.

    Raises
    ------
    RunDirError
        ``config.out`` holds a different run, or the same run without ``resume``.
    DataError
        The data folder is unreadable or has no labels.
    galmorph._util._io.OutputError
        ``config.out`` or ``config.report`` cannot be written (checked first).

    Notes
    -----
    Under ``torchrun`` every process calls this; they share each global batch
    and rank 0 writes the files. The caller's global torch RNG state is left
    as it was (the run works on a forked copy). SIGINT and SIGTERM stop the run
    at the next batch boundary, with a checkpoint to resume from.
    """
    if isinstance(config, dict):
        config = TrainConfig(**config)
    ctx, device = init_distributed(resolve_device(config.device))
    try:
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            run = setup(config, ctx, device)
            try:
                with StopFlag() as stop:
                    _train_epochs(run, stop)
            finally:
                run.loader.close()
            best = RunDir(run.out).best
            if run.config.set_default and ctx.is_main and best.is_file():
                set_default_model(best)
                _say(ctx, f"registered {best} as the default galmorph model")
            return run.out
    finally:
        ctx.close()


def setup(config, ctx, device):
    """Everything the loop needs, made in this order: the data, the resolved config and its
    ``config.json``, the split, the loss weights, the network and, on resume, ``last.pt``.

    Parameters
    ----------
    config : TrainConfig
        As given (defaults not yet resolved).
    ctx : galmorph.training.distributed.DistContext
        Rank 0 builds missing caches and writes the files; the others wait and read.
    device : torch.device
        This process's device.

    Returns
    -------
    Run
        Close ``run.loader`` when done with it.
    """
    t_start = time.monotonic()
    if config.out is None or config.data is None and not config.resume:
        raise ValueError("TrainConfig needs data (a data folder) and out (a run directory)")
    out = Path(config.out)
    check_outputs(config)
    precision = resolve_precision(device, config.precision)
    mcfg = model_config(config.model, **config.model_options)  # the one build of it
    data = prepare_on_ranks(config, mcfg, ctx, _show_progress(config, ctx))
    config = resolve_run(config, data, out, ctx.world_size)
    record = run_record(config, device, precision)
    mode = ctx.on_main(lambda: write_run_config(out, record, config.resume, ctx.world_size))
    pseudo = pseudo_rows(data)                                   # (N,) rows labelled by a teacher
    train_rows, val_rows = split_rows(config, data, out, ctx, mode == "resume", pseudo)
    # (N, 37) loss weights per cell (population_weights, pseudo_weight), or None: all 1.
    weights = cell_weights(data.labels, population_of(data), pseudo, config.population_weights,
                           config.pseudo_weight)
    if weights is not None and (weights[train_rows] == 1.0).all():
        weights = None                       # e.g. pseudo_weight 0: the rows are not drawn
    stream = BatchStream(len(train_rows), config.batch_size, config.seed)
    learner = build_learner(config, mcfg, device, precision, ctx)
    state = _restored_state(learner, out, ctx, device, config.model) if mode == "resume" \
        else None
    state = state or {"epoch": 0, "batch": 0, "history": [], "best_val_rmse": None,
                      "elapsed_s": 0.0, "partial": None}
    state["elapsed_s_at_start"] = state["elapsed_s"]
    procs = f" x {ctx.world_size} processes" if ctx.enabled else ""
    names = config.data if isinstance(config.data, str) else " + ".join(config.data)
    _say(ctx, f"training {config.model} on {len(train_rows)} galaxies ({len(val_rows)} held "
              f"out) of {names}: batch {config.batch_size}, {config.batches_per_epoch} "
              f"batches/epoch, {precision} on {device}{procs}, augmentation "
              f"{'on' if config.augment else 'off'} -> {out}")
    # The weights travel with the labels, as columns 37-73 of the targets the loader reads.
    targets = (data.labels if weights is None
               else np.concatenate([data.labels, weights], axis=1))   # (N, 37 or 74)
    loader = BatchLoader(data.images, targets, pin_memory=device.type == "cuda")
    partial = not bool(np.isfinite(data.labels).all())                # a masked loss
    return Run(config, record, ctx, device, precision, data, train_rows, val_rows, partial,
               learner, stream, loader, state, t_start)


def _restored_state(learner, out, ctx, device, model):
    """The training state of ``out/last.pt``, restored into ``learner``; None without one."""
    last = RunDir(out).last
    if not last.is_file():
        _say(ctx, f"{out} has no last.pt yet: starting its first epoch again")
        return None
    state = restore_learner(learner, last, ctx, device, model)
    where = (f"epoch {state['epoch'] + 1}, batch {state['batch']}" if state["batch"]
             else f"the end of epoch {state['epoch']}")
    _say(ctx, f"resuming {out} from {where}")
    return state


def _train_epochs(run, stop):
    """Epochs until ``config.epochs`` (or, with ``epochs=None``, until the time limit, which
    resolve_run allows only with one), a signal, or the time limit."""
    cfg, st = run.config, run.state
    epoch = st["epoch"]
    while cfg.epochs is None or epoch < cfg.epochs:
        reason = train_epoch(run, epoch, stop)
        if reason:
            _checkpoint(run, best=False)
            _say(run.ctx, f"stopped in epoch {epoch + 1} after {st['batch']} of "
                          f"{cfg.batches_per_epoch} batches ({reason}); "
                          + _how_to_continue(run, reason))
            return
        _end_epoch(run, epoch, validate(run))
        epoch += 1
        if cfg.epochs is None or epoch < cfg.epochs:
            reason = _stop_reason(run, stop)
            if reason:
                _say(run.ctx, f"stopped after epoch {epoch} ({reason}); "
                              + _how_to_continue(run, reason))
                return
    if st["epoch"] >= cfg.epochs and st["history"]:
        _say(run.ctx, f"done: {cfg.epochs} epoch(s), best validation RMSE "
                      f"{st['best_val_rmse']:.5f}, last {st['history'][-1]['val_rmse']:.5f} "
                      f"({run.out})")


def train_epoch(run, epoch, stop):
    """Train the remaining batches of ``epoch``: all of them, or those after the batch a
    resumed run stopped at. Updates ``run.state`` (``epoch``, ``batch``, ``partial``).

    Parameters
    ----------
    run : Run
    epoch : int
        Zero-based.
    stop : galmorph.training.distributed.StopFlag
        Looked at between batches, with the time limit.

    Returns
    -------
    str or None
        Why the epoch stopped before its end (a signal, the time limit, another process),
        or None when it ran to its end.

    Raises
    ------
    FloatingPointError
        The loss is not finite.
    """
    cfg, st, ctx = run.config, run.state, run.ctx
    bpe, batch = cfg.batches_per_epoch, cfg.batch_size
    part = st["partial"] or {"sum_sq": 0.0, "n": 0, "seconds": 0.0}
    part.setdefault("n_cells", part["n"] * schema.N_ANSWERS)
    sums = torch.zeros(2, dtype=torch.float64, device=run.device)  # squared error, cells
    first = done = st["batch"]
    reason = None
    t0 = time.monotonic()
    run.learner.net.train()
    bar = progress_bar(total=bpe * batch, initial=first * batch, desc=f"epoch "
                       f"{_of(cfg, epoch + 1)}", unit="img", unit_scale=True, leave=False,
                       dynamic_ncols=True, enabled=_show_progress(cfg, ctx))

    def rows_of(step):
        return run.train_rows[shard(run.stream.positions(step), ctx)]

    steps = range(epoch * bpe + first, (epoch + 1) * bpe)
    for step, xb, yb in run.loader.iterate(rows_of, steps):
        sums += _train_step(run, step, xb, yb)
        done += 1
        bar.update(batch)
        if done < bpe and (reason := _stop_reason(run, stop)):
            break
    bar.close()
    total, cells = ctx.all_reduce_sum(sums).tolist()
    part = {"sum_sq": part["sum_sq"] + total, "n": part["n"] + (done - first) * batch,
            "n_cells": part["n_cells"] + cells,
            "seconds": part["seconds"] + time.monotonic() - t0}
    if not math.isfinite(total):
        raise FloatingPointError(
            f"training diverged in epoch {epoch + 1} (non-finite loss); {run.out}/last.pt "
            f"holds the last good state. Lower --lr or use --precision fp32")
    st["epoch"], st["batch"], st["partial"] = epoch, done, part
    st["elapsed_s"] = st["elapsed_s_at_start"] + time.monotonic() - run.t_start
    return reason


def _train_step(run, step, xb, yb):
    """One optimisation step on this process's share of global batch ``step``; returns the
    summed squared error and the number of known cells, ``float64 (2,)``."""
    cfg, ctx, learner = run.config, run.ctx, run.learner
    x = xb.to(run.device, non_blocking=True).float().div_(255.0)     # (b, 3, H, W)
    y = yb.to(run.device, non_blocking=True)                         # (b, 37 or 74)
    y, w = y[:, :schema.N_ANSWERS], y[:, schema.N_ANSWERS:]          # labels, weights
    if cfg.augment:
        # Draw the whole global batch's parameters, keep this rank's share: the same
        # augmentation whatever the number of processes.
        g = torch.Generator().manual_seed(step_seed(cfg.seed, step))
        params = [shard(p, ctx).to(run.device) for p in random_params(cfg.batch_size, g)]
        x = rotate_flip(x, *params)
    if learner.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(run.device, run.precision):
        pred = learner.net(x)                                        # (b, 37)
    sq, n_known = masked_sq_error(pred, y)
    # Mean over this rank's known cells, times the ranks' share of them: DDP's gradient
    # averaging then yields the gradient of the global-batch mean (exactly so where every
    # cell is known, as in the full Kaggle labels). With weights: the weighted mean.
    local_full = cfg.batch_size * schema.N_ANSWERS / ctx.world_size
    if w.shape[1]:
        wsq, w_sum = weighted_sq_error(pred, y, w)
        loss = wsq / w_sum.clamp(min=1e-12)
    else:
        loss = sq / (n_known.clamp(min=1) if run.partial else local_full)
    learner.optimizer.zero_grad(set_to_none=True)
    if learner.scaler is not None:
        learner.scaler.scale(loss).backward()
        learner.scaler.step(learner.optimizer)
        learner.scaler.update()
    else:
        loss.backward()
        learner.optimizer.step()
    return torch.stack([sq.detach().double(), n_known.double()])


@torch.no_grad()
def validate(run):
    """The validation RMSE: over the held-out galaxies' known cells, shared among processes.

    Parameters
    ----------
    run : Run

    Returns
    -------
    float
        The square root of the mean squared error over ``run.val_rows`` x 37 answers.
    """
    model = run.learner.model.eval()
    rows = shard(run.val_rows, run.ctx)
    per_rank = max(1, run.config.val_batch_size // run.ctx.world_size)
    sums = torch.zeros(2, dtype=torch.float64, device=run.device)  # squared error, cells
    for i in range(0, len(rows), per_rank):
        xb, yb = run.loader.read(rows[i:i + per_rank])
        x = xb.to(run.device).float().div_(255.0)                       # (b, 3, H, W)
        if run.learner.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(run.device, run.precision):
            pred = model(x)                                              # (b, 37)
        sq, n_known = masked_sq_error(pred, yb[:, :schema.N_ANSWERS].to(run.device))
        sums += torch.stack([sq.double(), n_known.double()])
    model.train()
    total, cells = run.ctx.all_reduce_sum(sums).tolist()
    return math.sqrt(total / max(cells, 1.0))


def _end_epoch(run, epoch, val_rmse):
    """The schedule's step, the epoch's ``metrics.csv`` row, the checkpoints and a line."""
    st, learner = run.state, run.learner
    lr = learner.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
    learner.scheduler.step(val_rmse)
    part = st["partial"]
    row = {"epoch": epoch + 1,
           "train_rmse": math.sqrt(part["sum_sq"] / max(part.get(
               "n_cells", part["n"] * schema.N_ANSWERS), 1.0)),
           "val_rmse": val_rmse, "lr": lr,
           "images_per_s": part["n"] / max(part["seconds"], 1e-9),
           "elapsed_s": st["elapsed_s_at_start"] + time.monotonic() - run.t_start}
    st.update(epoch=epoch + 1, batch=0, partial=None, elapsed_s=row["elapsed_s"])
    st["history"].append(row)
    best = st["best_val_rmse"] is None or val_rmse < st["best_val_rmse"]
    if best:
        st["best_val_rmse"] = val_rmse
    _checkpoint(run, best=best)
    if run.ctx.is_main:
        write_metrics(run.out, st["history"])
    _say(run.ctx, f"epoch {_of(run.config, epoch + 1)}: train RMSE {row['train_rmse']:.5f}  "
                  f"val RMSE {val_rmse:.5f}{' (best)' if best else ''}  lr {row['lr']:.3g}  "
                  f"{row['images_per_s']:.0f} images/s  {row['elapsed_s']:.0f} s")


def _stop_reason(run, stop):
    """Why to stop now (a signal, the time limit, another process), or None; every process
    calls it at the same point and gets the same answer."""
    local = stop.reason
    limit = run.config.time_limit
    if local is None and limit is not None and time.monotonic() - run.t_start >= float(limit):
        local = f"time limit of {limit:g} s reached"
    if run.ctx.any(local is not None, run.device):
        return local or "another process stopped"
    return None


def _how_to_continue(run, reason):
    if run.config.epochs is None and reason.startswith("time limit"):
        best = run.state["best_val_rmse"]
        return ((f"best validation RMSE {best:.5f} ({run.out}); " if best is not None
                 else "") + f"train on with: galmorph train --resume {run.out} "
                f"--time-limit SECONDS")
    return f"continue with: galmorph train --resume {run.out}"


def _checkpoint(run, best):
    save_learner(run.learner, run.out, run.state, run.ctx, run.device,
                 preprocessing=run.data.preprocessing, resolved=run.record, best=best)


def _of(config, epoch):
    """``"3/10"``, or ``"3"`` in a run that trains until its time limit."""
    return str(epoch) if config.epochs is None else f"{epoch}/{config.epochs}"


def _show_progress(config, ctx):
    return bool(ctx.is_main and config.progress is not False
                and (config.progress or sys.stderr.isatty()))


def _say(ctx, message):
    if ctx.is_main:
        print(message, flush=True)
