"""The epochs of a finetuning run: the masked loss per head, batches, validation, checkpoints.

Two kinds of input, one loop:

- a linear probe (the encoder frozen) trains on the pooled features, extracted
  once (:func:`extract_features`); with augmentation, on those of the 8 flips
  and quarter turns of each galaxy, one drawn per galaxy and epoch;
- with its last stage or all of it unfrozen, the network sees the cached images,
  augmented as ``galmorph train`` augments them (:mod:`galmorph.augment`).

Everything random is a function of the seed and the step, so a run stopped by
its time limit and resumed continues the same sequence. BatchNorm statistics
stay those of the trained network (the base is kept in eval mode): a few
hundred labelled galaxies would only make them noisier.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from galmorph.training.batches import step_seed

__all__ = ["head_loss", "extract_features", "trainable_parameters", "Loop"]

#: The linear probe's L2 penalty: the heads' weights cost ``|W|^2 / (2 C n)`` on the
#: standardised features (n training galaxies), as scikit-learn's ``LogisticRegression(C)``.
#: C = 0.01 was chosen on rings of gz-kaggle-5k's training pool (never the shipped model's
#: validation galaxies, which the benchmark scores on): at 100, 300 and 1,000 labels
#: scikit-learn's fit with it gave ROC AUC 0.79, 0.84 and 0.88, the AdamW probe with early
#: stopping 0.68, 0.75 and 0.79 (benchmarks/finetune_efficiency.py measures this probe).
PROBE_C = 0.01
#: L-BFGS iterations of the probe per epoch (one full-batch solve step).
PROBE_ITERATIONS = 20

#: Seconds between two writes of last.pt (a probe's epochs take milliseconds; the
#: checkpoint holds the whole network).
SAVE_EVERY_S = 30.0


def head_loss(heads, raw, targets):
    """Sum over heads of the mean loss over the galaxies whose label is known.

    Parameters
    ----------
    heads : galmorph.models.finetuned.LabelHeads
    raw : torch.Tensor, shape (B, K)
        The heads' raw outputs (logits, standardised values).
    targets : torch.Tensor, shape (B, L)
        Per label the class index or value; NaN where unknown.

    Returns
    -------
    torch.Tensor
        Binary cross-entropy, cross-entropy or the mean squared error in units of
        the label's standard deviation, summed over the labels.
    """
    total = raw.new_zeros(())
    for j, (head, out) in enumerate(zip(heads.heads, heads.split(raw.float()))):
        y = targets[:, j]
        known = torch.isfinite(y)
        if not bool(known.any()):
            continue
        y, out = y[known], out[known]
        if head["task"] == "binary":
            total = total + F.binary_cross_entropy_with_logits(out[:, 0], y)
        elif head["task"] == "multiclass":
            total = total + F.cross_entropy(out, y.long())
        else:
            total = total + F.mse_loss(out[:, 0], (y - head["mean"]) / head["scale"])
    return total


def _view(x, k):
    """View ``k`` of the 8 flips and quarter turns of uint8 images (N, 3, H, W)."""
    x = np.rot90(x, k % 4, axes=(2, 3))
    return np.ascontiguousarray(x[..., ::-1] if k >= 4 else x)


def extract_features(model, images, *, views=1, batch_size=256, device="auto",
                     precision="auto", progress=False):
    """``float32 (views, N, F)`` pooled features of ``images`` and of their first ``views``
    flips and quarter turns (1: the images as they are)."""
    from galmorph.inference.engine import predict_arrays

    out = []
    for k in range(views):
        chunks = []
        for lo in range(0, len(images), 4096):     # never the whole cache in memory at once
            block = _view(np.asarray(images[lo:lo + 4096]), k)
            chunks.append(predict_arrays(model, block, batch_size=batch_size, device=device,
                                         precision=precision, progress=progress,
                                         details=True).features)
        out.append(np.concatenate(chunks))
    return np.stack(out)


def trainable_parameters(model, unfreeze):
    """Switch ``requires_grad`` as ``unfreeze`` says; returns ``(head params, encoder params)``.

    ``"last"`` trains the last residual stage (``layer4``) of the network, or of each
    member of an ensemble; a network without one (the cnn) is refused.
    """
    base = model.base
    for p in base.parameters():
        p.requires_grad_(unfreeze == "all")
    if unfreeze == "last":
        nets = list(getattr(base, "members", [base]))
        if not all(hasattr(net, "layer4") for net in nets):
            raise ValueError(f"unfreeze='last' trains the last residual stage (layer4), which "
                             f"a {base.config.name!r} network does not have; use 'none' or 'all'")
        for net in nets:
            for p in net.layer4.parameters():
                p.requires_grad_(True)
    encoder = [p for p in base.parameters() if p.requires_grad]
    return list(model.label_heads.parameters()), encoder


class Loop:
    """The epochs of one run; :meth:`run` trains until the epochs or the time limit.

    Parameters
    ----------
    model : galmorph.models.finetuned.Finetuned
    inputs : numpy.ndarray
        ``(V, N, F)`` features (probe) or the ``uint8 (N, 3, H, W)`` cache images.
    targets : numpy.ndarray
        ``float32 (N, L)``.
    train_rows, val_rows : numpy.ndarray
    settings : FinetuneConfig
        Resolved: ``epochs``, ``batch_size``, ``augment``, ``seed``, ``time_limit``.
    optimizer, scheduler
    state : dict
        ``epoch``, ``batch``, ``history``, ``best_val_loss``, ``elapsed_s``, ``partial``.
    save : callable
        ``save(best_state_or_None, final)`` writes the checkpoints.
    say : callable
        One line of progress.
    """

    def __init__(self, model, inputs, targets, train_rows, val_rows, settings, optimizer,
                 scheduler, state, save, say, device):
        self.model, self.inputs, self.settings = model, inputs, settings
        self.targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        self.train_rows, self.val_rows = train_rows, val_rows
        self.optimizer, self.scheduler, self.state = optimizer, scheduler, state
        self.save, self.say, self.device = save, say, device
        self.probe = settings.unfreeze == "none"
        self.t_start = time.monotonic()
        self.stop_reason = None
        self.best = None          # the trainable weights of the best epoch, not yet written

    # ------------------------------------------------------------------ batches
    def _raw(self, rows, step=None):
        """The heads' raw outputs for ``rows``; augmented (a training step) when ``step``."""
        heads = self.model.label_heads
        if self.probe:
            views = self.inputs.shape[0]
            if step is None or views == 1:
                x = self.inputs[0, rows]
            else:
                rng = np.random.default_rng(step_seed(self.settings.seed, step, stream=3))
                x = self.inputs[rng.integers(0, views, len(rows)), rows]
            return heads(torch.from_numpy(np.asarray(x)).to(self.device))
        x = torch.from_numpy(np.asarray(self.inputs[rows])).to(self.device)
        x = x.float().div_(255.0)                                          # (B, 3, H, W)
        if step is not None and self.settings.augment:
            from galmorph.augment import random_params, rotate_flip

            g = torch.Generator().manual_seed(step_seed(self.settings.seed, step))
            x = rotate_flip(x, *[p.to(self.device) for p in random_params(len(rows), g)])
        return heads(self.model.forward_features(x))

    def _order(self, epoch):
        rng = np.random.default_rng([int(self.settings.seed), 0xF1E, int(epoch)])
        return self.train_rows[rng.permutation(len(self.train_rows))]

    def batches_per_epoch(self):
        return max(1, math.ceil(len(self.train_rows) / self.settings.batch_size))

    # -------------------------------------------------------------------- loop
    def run(self):
        st, cfg = self.state, self.settings
        last_save = time.monotonic()
        while cfg.epochs is None or st["epoch"] < cfg.epochs:
            if not self._train_epoch():
                break
            self._end_epoch()
            if time.monotonic() - last_save > SAVE_EVERY_S:
                self.save(self._take_best(), final=False)
                last_save = time.monotonic()
            if (cfg.epochs is None or st["epoch"] < cfg.epochs) and self._should_stop():
                break
        self.save(self._take_best(), final=True)
        return self.stop_reason

    def _take_best(self):
        best, self.best = self.best, None
        return best

    def _should_stop(self):
        limit = self.settings.time_limit
        if limit is not None and time.monotonic() - self.t_start >= float(limit):
            self.stop_reason = f"time limit of {float(limit):g} s reached"
        return self.stop_reason is not None

    def _probe_epoch(self):
        """The probe's epoch: full-batch L-BFGS on the L2-penalised loss (every view of every
        training galaxy at once), a convex problem that needs no early stopping to be sane."""
        st, heads = self.state, self.model.label_heads
        rows = self.train_rows
        x = torch.from_numpy(np.asarray(self.inputs[:, rows]).reshape(-1, self.inputs.shape[-1]))
        y = self.targets[rows].repeat(self.inputs.shape[0], 1).to(self.device)
        x = x.to(self.device)
        penalty = 1.0 / (2.0 * PROBE_C * max(len(rows), 1))
        heads.train()
        t0 = time.monotonic()

        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            loss = head_loss(heads, heads(x), y) + penalty * heads.linear.weight.square().sum()
            loss.backward()
            return loss

        value = float(self.optimizer.step(closure).detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"the linear probe diverged in epoch {st['epoch'] + 1}")
        st["partial"] = {"sum": value * len(rows), "n": len(rows),
                         "seconds": time.monotonic() - t0}
        st["batch"] = self.batches_per_epoch()
        st["elapsed_s"] = st["elapsed_s_at_start"] + time.monotonic() - self.t_start
        return True

    def _train_epoch(self):
        if self.probe and isinstance(self.optimizer, torch.optim.LBFGS):
            return self._probe_epoch()
        st, bs, epoch = self.state, self.settings.batch_size, self.state["epoch"]
        order, bpe = self._order(epoch), self.batches_per_epoch()
        part = st["partial"] or {"sum": 0.0, "n": 0, "seconds": 0.0}
        self.model.label_heads.train()
        t0 = time.monotonic()
        while st["batch"] < bpe:
            b = st["batch"]
            rows = np.sort(order[b * bs:(b + 1) * bs])      # memory-map reads in order
            step = epoch * bpe + b
            loss = head_loss(self.model.label_heads, self._raw(rows, step),
                             self.targets[rows].to(self.device))
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"finetuning diverged in epoch {epoch + 1} "
                                         f"(non-finite loss); lower --lr")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            part["sum"] += value * len(rows)
            part["n"] += len(rows)
            st["batch"] = b + 1
            if st["batch"] < bpe and self._should_stop():
                break
        part["seconds"] += time.monotonic() - t0
        st["partial"] = part
        st["elapsed_s"] = st["elapsed_s_at_start"] + time.monotonic() - self.t_start
        return st["batch"] >= bpe

    @torch.no_grad()
    def validation_loss(self):
        heads = self.model.label_heads.eval()
        total, n = 0.0, 0
        for lo in range(0, len(self.val_rows), 256):
            rows = self.val_rows[lo:lo + 256]
            total += float(head_loss(heads, self._raw(rows), self.targets[rows].to(
                self.device))) * len(rows)
            n += len(rows)
        return total / max(n, 1)

    def _end_epoch(self):
        st = self.state
        val = self.validation_loss()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step(val)
        part = st["partial"]
        row = {"epoch": st["epoch"] + 1, "train_loss": part["sum"] / max(part["n"], 1),
               "val_loss": val, "lr": lr, "images_per_s": part["n"] / max(part["seconds"], 1e-9),
               "elapsed_s": st["elapsed_s_at_start"] + time.monotonic() - self.t_start}
        st.update(epoch=st["epoch"] + 1, batch=0, partial=None, elapsed_s=row["elapsed_s"])
        st["history"].append(row)
        if st["best_val_loss"] is None or val < st["best_val_loss"]:
            st["best_val_loss"], st["best_epoch"] = val, row["epoch"]
            trained = {n for n, p in self.model.named_parameters() if p.requires_grad}
            self.best = {k: v.detach().clone() for k, v in self.model.state_dict().items()
                         if k in trained or k.startswith("label_heads.")}
        if not self.probe or row["epoch"] % 50 == 0 or row["epoch"] == self.settings.epochs:
            self.say(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}  "
                     f"val loss {val:.4f}  lr {lr:.3g}  {row['elapsed_s']:.0f} s")
