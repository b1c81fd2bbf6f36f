"""The training loop: ``train(TrainConfig) -> run directory``.

Adam on the mean squared error of the 37 weighted vote fractions; the
validation RMSE (the Kaggle metric: the square root of the mean over
galaxies x 37 answers) drives a ``ReduceLROnPlateau`` schedule and picks
``best.pt``. Batches come straight from the preprocessing cache
(:mod:`galmorph.training.batches`) and are augmented on the device as whole
batches (:mod:`galmorph.augment`).

Everything random is a function of the seed and the step -- the split, the
batch order, the augmentation -- except dropout, whose RNG state is saved in
every checkpoint; with fp32 on the CPU a resumed run therefore reproduces the
uninterrupted one. See :mod:`galmorph.training.config` for the run directory
and :mod:`galmorph.training.distributed` for ``torchrun``.

Examples
--------
>>> from galmorph.training.train import TrainConfig, train
>>> run = train(TrainConfig(data="gz-kaggle-5k", out="runs/cnn", model="cnn",
...                         epochs=20, batches_per_epoch=100))  # doctest: +SKIP
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from galmorph import schema
from galmorph.augment import random_params, rotate_flip
from galmorph.training.batches import (BatchLoader, BatchStream, load_split, make_split,
                                       save_split, step_seed)
from galmorph.training.config import TrainConfig, write_metrics
from galmorph.training.distributed import StopFlag, init_distributed, shard
from galmorph.training._learner import build_learner, restore_learner, save_learner
from galmorph.training.population import (cell_weights, population_of, untouched_of,
                                          weighted_sq_error)
from galmorph.training.pseudo import keep_pseudo, pseudo_rows, split_labelled
from galmorph.training._setup import prepare_data, resolve_run, run_record, write_run_config

__all__ = ["TrainConfig", "train", "masked_sq_error"]


def masked_sq_error(pred, target):
    """Sum of squared errors over the known cells of ``target``, and their number.

    Parameters
    ----------
    pred : torch.Tensor, shape (B, 37)
        Predicted weighted fractions.
    target : torch.Tensor, shape (B, 37)
        Labels; NaN marks a question unknown for that galaxy (partial labels),
        whose cells add nothing to the sum nor to its gradient.

    Returns
    -------
    sum_sq, n_known : torch.Tensor
        Scalars (float32 and int64).

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([[0.5, float("nan")]])
    >>> masked_sq_error(torch.tensor([[0.0, 9.0]]), y)
    (tensor(0.2500), tensor(1))
    """
    known = torch.isfinite(target)                                       # (B, 37)
    diff = torch.where(known, pred.float() - torch.nan_to_num(target), 0.0)
    return diff.pow(2).sum(), known.sum()


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
    as it was (the run works on a forked copy).
    """
    if isinstance(config, dict):
        config = TrainConfig(**config)
    from galmorph.runtime import resolve_device

    device = resolve_device(config.device)
    ctx, device = init_distributed(device)
    try:
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return _Run(config, ctx, device).run()
    finally:
        ctx.close()


class _Run:
    """One invocation of :func:`train`. :meth:`run` sets up every attribute, in order, from
    the values the small steps below return; the loop then reads them."""

    def __init__(self, config, ctx, device):
        self.config, self.ctx, self.device = config, ctx, device
        self.out = Path(config.out) if config.out is not None else None
        self.t_start = time.monotonic()
        self.stop_reason = None

    # ----------------------------------------------------------------- setup
    def run(self):
        from galmorph.runtime import resolve_precision

        if self.out is None or self.config.data is None and not self.config.resume:
            raise ValueError("TrainConfig needs data (a data folder) and out (a run directory)")
        self._check_writable()
        self.precision = resolve_precision(self.device, self.config.precision)
        self.data = self._prepare()
        self.partial = not bool(np.isfinite(self.data.labels).all())   # a masked loss
        # From here on the loop reads the config with every default made explicit (batch
        # size, batches per epoch, augmentation...); self.resolved is what config.json stores.
        self.config = resolve_run(self.config, self.data, self.out, self.ctx.world_size)
        self.resolved = run_record(self.config, self.device, self.precision)
        mode = self.ctx.on_main(lambda: write_run_config(self.out, self.resolved,
                                                         self.config.resume, self.ctx.world_size))
        self.pseudo = pseudo_rows(self.data)                  # (N,) rows labelled by a teacher
        self.held = untouched_of(self.data) if self.config.hold_out_untouched else None
        self.train_rows, self.val_rows = self._split(mode)
        # (N, 37) loss weights per cell (population_weights, pseudo_weight), or None: all 1.
        weights = cell_weights(self.data.labels, population_of(self.data), self.pseudo,
                               self.config.population_weights, self.config.pseudo_weight)
        if weights is not None and (weights[self.train_rows] == 1.0).all():
            weights = None                   # e.g. pseudo_weight 0: the rows are not drawn
        self.stream = BatchStream(len(self.train_rows), self.config.batch_size,
                                  self.config.seed)
        self.learner = build_learner(self.config, self.device, self.precision, self.ctx)
        state = self._load_state() if mode == "resume" else None
        self.state = state or {"epoch": 0, "batch": 0, "history": [], "best_val_rmse": None,
                               "elapsed_s": 0.0, "partial": None}
        self.state["elapsed_s_at_start"] = self.state["elapsed_s"]
        r, procs = self.config, (f" x {self.ctx.world_size} processes" if self.ctx.enabled
                                 else "")
        data = r.data if isinstance(r.data, str) else " + ".join(r.data)
        self._say(f"training {r.model} on {len(self.train_rows)} galaxies "
                  f"({len(self.val_rows)} held out) of {data}: batch {r.batch_size}, "
                  f"{r.batches_per_epoch} batches/epoch, {self.precision} on "
                  f"{self.device}{procs}, augmentation {'on' if r.augment else 'off'} "
                  f"-> {self.out}")
        # The weights travel with the labels, as columns 37-73 of the targets the loader reads.
        targets = (self.data.labels if weights is None
                   else np.concatenate([self.data.labels, weights], axis=1))  # (N, 37 or 74)
        self.loader = BatchLoader(self.data.images, targets,
                                  pin_memory=self.device.type == "cuda")
        try:
            with StopFlag() as self.stop:
                self._loop()
        finally:
            self.loader.close()
        if self.config.set_default and self.ctx.is_main and (self.out / "best.pt").is_file():
            from galmorph.paths import set_default_model
            set_default_model(self.out / "best.pt")
            self._say(f"registered {self.out / 'best.pt'} as the default galmorph model")
        return self.out

    def _check_writable(self):
        """One clear line before the data is prepared if the run directory (or the skip
        report) cannot be written; every rank checks, so none waits for a failed one."""
        from galmorph._util._io import check_writable

        check_writable(self.out, "--resume" if self.config.resume else "--out", folder=True)
        if self.config.report is not None:
            check_writable(self.config.report, "--report")

    def _prepare(self):
        # Rank 0 builds the caches when they are missing; the others then open them.
        data = self.ctx.on_main(lambda: prepare_data(self.config, self._show_progress()),
                                share=False)
        if not self.ctx.is_main:
            data = prepare_data(self.config, False)
        return data

    def _split(self, mode):
        """(train rows, validation rows): stored in split.json, or made and stored there."""
        path = self.out / "split.json"
        cfg = self.config
        if mode == "resume" and path.is_file():
            train_rows, val_rows = load_split(path, self.data.ids)
            return keep_pseudo(train_rows, self.pseudo, cfg.pseudo_weight, self.held), val_rows
        groups = self.data.folder_index
        seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
        # Pseudo-labelled rows are never validated on; the labelled ones split as without them.
        train_rows, val_rows = split_labelled(
            lambda rows: make_split(len(rows), cfg.val_fraction, seed, groups=groups[rows]),
            self.pseudo, cfg.pseudo_weight, self.held)
        folders = [p["source"] for p in self.data.parts] or None
        self.ctx.on_main(lambda: save_split(path, self.data.ids, val_rows, seed,
                                            cfg.val_fraction, groups=groups, folders=folders))
        return train_rows, val_rows

    def _load_state(self):
        path = self.out / "last.pt"
        if not path.is_file():
            self._say(f"{self.out} has no last.pt yet: starting its first epoch again")
            return None
        state = restore_learner(self.learner, path, self.ctx, self.device, self.config.model)
        where = (f"epoch {state['epoch'] + 1}, batch {state['batch']}" if state["batch"]
                 else f"the end of epoch {state['epoch']}")
        self._say(f"resuming {self.out} from {where}")
        return state

    # ------------------------------------------------------------------ loop
    def _loop(self):
        # epochs=None: train until the time limit (resolve_run allows it only with one).
        cfg, st = self.config, self.state
        epoch = st["epoch"]
        while cfg.epochs is None or epoch < cfg.epochs:
            finished = self._train_epoch(epoch)
            if not finished:
                self._checkpoint(best=False)
                self._say(f"stopped in epoch {epoch + 1} after {st['batch']} of "
                          f"{self.config.batches_per_epoch} batches ({self.stop_reason}); "
                          + self._how_to_continue())
                return
            self._end_epoch(epoch)
            epoch += 1
            if (cfg.epochs is None or epoch < cfg.epochs) and self._should_stop():
                self._say(f"stopped after epoch {epoch} ({self.stop_reason}); "
                          + self._how_to_continue())
                return
        if st["epoch"] >= cfg.epochs and st["history"]:
            last = st["history"][-1]
            self._say(f"done: {cfg.epochs} epoch(s), best validation RMSE "
                      f"{st['best_val_rmse']:.5f}, last {last['val_rmse']:.5f} ({self.out})")

    def _how_to_continue(self):
        if self.config.epochs is None and self.stop_reason.startswith("time limit"):
            best = self.state["best_val_rmse"]
            return ((f"best validation RMSE {best:.5f} ({self.out}); " if best is not None
                     else "") + f"train on with: galmorph train --resume {self.out} "
                    f"--time-limit SECONDS")
        return f"continue with: galmorph train --resume {self.out}"

    def _should_stop(self):
        local = self.stop.reason
        if local is None and self.config.time_limit is not None:
            if time.monotonic() - self.t_start >= float(self.config.time_limit):
                local = f"time limit of {self.config.time_limit:g} s reached"
        stop = self.ctx.any(local is not None, self.device)
        if stop:
            self.stop_reason = local or "another process stopped"
        return stop

    def _train_epoch(self, epoch):
        """Run the remaining batches of ``epoch``; False when stopped early."""
        st, bpe = self.state, self.config.batches_per_epoch
        batch = self.config.batch_size
        part = st["partial"] or {"sum_sq": 0.0, "n": 0, "seconds": 0.0}
        part.setdefault("n_cells", part["n"] * schema.N_ANSWERS)
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)  # squared error, cells
        first = st["batch"]
        t0 = time.monotonic()
        self.learner.net.train()
        bar = self._bar(bpe * batch, first * batch, f"epoch {self._of(epoch + 1)}")

        def rows_of(step):
            positions = shard(self.stream.positions(step), self.ctx)
            return self.train_rows[positions]

        steps = range(epoch * bpe + first, (epoch + 1) * bpe)
        done = first
        for step, xb, yb in self.loader.iterate(rows_of, steps):
            sums += self._step(step, xb, yb)
            done += 1
            bar.update(batch)
            if done < bpe and self._should_stop():
                break
        bar.close()
        total, cells = self.ctx.all_reduce_sum(sums).tolist()
        part = {"sum_sq": part["sum_sq"] + total, "n": part["n"] + (done - first) * batch,
                "n_cells": part["n_cells"] + cells,
                "seconds": part["seconds"] + time.monotonic() - t0}
        if not math.isfinite(total):
            raise FloatingPointError(
                f"training diverged in epoch {epoch + 1} (non-finite loss); {self.out}/last.pt "
                f"holds the last good state. Lower --lr or use --precision fp32")
        st["epoch"], st["batch"], st["partial"] = epoch, done, part
        st["elapsed_s"] = st["elapsed_s_at_start"] + time.monotonic() - self.t_start
        return done >= bpe

    def _step(self, step, xb, yb):
        """One optimisation step on this process's share of global batch ``step``."""
        from galmorph.runtime import autocast

        global_b = self.config.batch_size
        x = xb.to(self.device, non_blocking=True).float().div_(255.0)     # (b, 3, H, W)
        y = yb.to(self.device, non_blocking=True)                          # (b, 37 or 74)
        y, w = y[:, :schema.N_ANSWERS], y[:, schema.N_ANSWERS:]           # labels, weights
        if self.config.augment:
            # Draw the whole global batch's parameters, keep this rank's share: the same
            # augmentation whatever the number of processes.
            g = torch.Generator().manual_seed(step_seed(self.config.seed, step))
            params = [shard(p, self.ctx).to(self.device) for p in random_params(global_b, g)]
            x = rotate_flip(x, *params)
        if self.learner.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.precision):
            pred = self.learner.net(x)                                     # (b, 37)
        sq, n_known = masked_sq_error(pred, y)
        # Mean over this rank's known cells, times the ranks' share of them: DDP's gradient
        # averaging then yields the gradient of the global-batch mean (exactly so where every
        # cell is known, as in the full Kaggle labels). With weights: the weighted mean.
        local_full = global_b * schema.N_ANSWERS / self.ctx.world_size
        if w.shape[1]:
            wsq, w_sum = weighted_sq_error(pred, y, w)
            loss = wsq / w_sum.clamp(min=1e-12)
        else:
            loss = sq / (n_known.clamp(min=1) if self.partial else local_full)
        self.learner.optimizer.zero_grad(set_to_none=True)
        if self.learner.scaler is not None:
            self.learner.scaler.scale(loss).backward()
            self.learner.scaler.step(self.learner.optimizer)
            self.learner.scaler.update()
        else:
            loss.backward()
            self.learner.optimizer.step()
        return torch.stack([sq.detach().double(), n_known.double()])

    @torch.no_grad()
    def _validate(self):
        """Validation RMSE over the held-out split (shared among processes)."""
        from galmorph.runtime import autocast

        model = self.learner.model.eval()
        rows = shard(self.val_rows, self.ctx)
        per_rank = max(1, self.config.val_batch_size // self.ctx.world_size)
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)  # squared error, cells
        for i in range(0, len(rows), per_rank):
            xb, yb = self.loader.read(rows[i:i + per_rank])
            x = xb.to(self.device).float().div_(255.0)
            if self.learner.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.precision):
                pred = model(x)                                            # (b, 37)
            sq, n_known = masked_sq_error(pred, yb[:, :schema.N_ANSWERS].to(self.device))
            sums += torch.stack([sq.double(), n_known.double()])
        model.train()
        total, cells = self.ctx.all_reduce_sum(sums).tolist()
        return math.sqrt(total / max(cells, 1.0))

    def _end_epoch(self, epoch):
        st = self.state
        val_rmse = self._validate()
        lr = self.learner.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
        self.learner.scheduler.step(val_rmse)
        part = st["partial"]
        row = {"epoch": epoch + 1,
               "train_rmse": math.sqrt(part["sum_sq"] / max(part.get(
                   "n_cells", part["n"] * schema.N_ANSWERS), 1.0)),
               "val_rmse": val_rmse, "lr": lr,
               "images_per_s": part["n"] / max(part["seconds"], 1e-9),
               "elapsed_s": st["elapsed_s_at_start"] + time.monotonic() - self.t_start}
        st.update(epoch=epoch + 1, batch=0, partial=None, elapsed_s=row["elapsed_s"])
        st["history"].append(row)
        best = st["best_val_rmse"] is None or val_rmse < st["best_val_rmse"]
        if best:
            st["best_val_rmse"] = val_rmse
        self._checkpoint(best=best)
        if self.ctx.is_main:
            write_metrics(self.out, st["history"])
        self._say(f"epoch {self._of(epoch + 1)}: train RMSE {row['train_rmse']:.5f}  "
                  f"val RMSE {val_rmse:.5f}{' (best)' if best else ''}  lr {row['lr']:.3g}  "
                  f"{row['images_per_s']:.0f} images/s  {row['elapsed_s']:.0f} s")

    # --------------------------------------------------------------- output
    def _checkpoint(self, best):
        save_learner(self.learner, self.out, self.state, self.ctx, self.device,
                     preprocessing=self.data.preprocessing, resolved=self.resolved, best=best)

    def _of(self, epoch):
        """``"3/10"``, or ``"3"`` in a run that trains until its time limit."""
        return str(epoch) if self.config.epochs is None else f"{epoch}/{self.config.epochs}"

    def _show_progress(self):
        return bool(self.ctx.is_main and self.config.progress is not False
                    and (self.config.progress or sys.stderr.isatty()))

    def _bar(self, total, initial, desc):
        from galmorph._util._progress import progress_bar

        return progress_bar(total=total, initial=initial, desc=desc, unit="img", unit_scale=True,
                            leave=False, dynamic_ncols=True, enabled=self._show_progress())

    def _say(self, message):
        if self.ctx.is_main:
            print(message, flush=True)

