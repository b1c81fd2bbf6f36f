"""One invocation of :func:`galmorph.adapt.finetune.finetune`: set up, resume, train, save.

The run directory is checked and ``config.json`` written by the helpers of
``galmorph train`` (:func:`galmorph.training._setup.write_run_config`), the split
made and stored by :mod:`galmorph.training.batches`, and every file named, written
and read by :class:`galmorph.rundir.RunDir` (``metrics.csv`` with the finetuning
columns), so a finetuning run folder reads like any other.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from galmorph.adapt import _finetune_parts as api
from galmorph.adapt._finetune_loop import (PROBE_ITERATIONS, Loop, extract_features,
                                          trainable_parameters)
from galmorph.rundir import RunDir

__all__ = ["Run"]


class Run:
    """Set up from a :class:`~galmorph.adapt.finetune.FinetuneConfig`; :meth:`run` trains."""

    def __init__(self, config):
        self.config = config
        self.out = Path(config.out)
        self.t_start = time.monotonic()

    def say(self, message):
        print(message, flush=True)

    def _progress(self):
        import sys

        return bool(self.config.progress or (self.config.progress is None
                                             and sys.stderr.isatty()))

    # ------------------------------------------------------------------ setup
    def run(self):
        from galmorph._util._io import check_writable
        from galmorph.adapt._label_table import read_label_table
        from galmorph.runtime import resolve_device
        from galmorph.training._setup import write_run_config

        cfg = self.config
        check_writable(self.out, "--out", folder=True)
        self.device = resolve_device(cfg.device)
        table = read_label_table(cfg.labels, cfg.label, task=cfg.task, image_dir=cfg.image_dir)
        if table.skipped:
            self.say(f"{len(table.skipped)} of {table.n_rows} rows of {table.path} have none of "
                     f"the labels and are left out (first: row {table.skipped[0] + 1})")
        base, prep, self.base_info = api._base_model(cfg.source)
        data = api._prepare(table, cfg, prep, self._progress())
        targets = table.targets[np.searchsorted(table.rows, data.ids)]      # (N, L)
        self.resolved = self._resolve(table, prep)
        mode = write_run_config(self.out, self.resolved, cfg.resume)
        train_rows, val_rows = self._split(data.ids, targets, table.heads, mode)
        self.say(f"finetuning {self.base_info['name']} ({cfg.unfreeze} unfrozen) on "
                 f"{len(train_rows)} galaxies ({len(val_rows)} held out) of {table.path}: "
                 f"{', '.join(h['label'] + ' (' + h['task'] + ')' for h in table.heads)} "
                 f"-> {self.out}")
        inputs, model = self._model(base, data, train_rows, table.heads, mode)
        self.model, self.preprocessing = model.to(self.device), data.preprocessing
        heads, encoder = trainable_parameters(model, cfg.unfreeze)
        groups = [{"params": heads, "lr": self.resolved["lr"]}]
        if encoder:
            groups.append({"params": encoder, "lr": self.resolved["encoder_lr"]})
        if cfg.unfreeze == "none":   # a convex problem: L-BFGS, penalised (_finetune_loop)
            self.optimizer = torch.optim.LBFGS(heads, lr=1.0, max_iter=PROBE_ITERATIONS,
                                               history_size=20, line_search_fn="strong_wolfe")
        else:
            self.optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=0.5, patience=10 if cfg.unfreeze == "none" else 2)
        state = self._restore() if mode == "resume" else None
        state = state or {"epoch": 0, "batch": 0, "history": [], "best_val_loss": None,
                          "best_epoch": None, "elapsed_s": 0.0, "partial": None}
        state["elapsed_s_at_start"] = state["elapsed_s"]
        self.state, self.n_train, self.n_val = state, len(train_rows), len(val_rows)
        settings = _Settings(self.resolved, cfg.time_limit)
        loop = Loop(model, inputs, targets, train_rows, val_rows, settings, self.optimizer,
                    self.scheduler, state, self._save, self.say, self.device)
        reason = loop.run()
        self._report(reason, settings)
        if cfg.set_default:
            from galmorph.paths import set_default_model

            set_default_model(self.out / "best.pt")
            self.say(f"registered {self.out / 'best.pt'} as the default galmorph model")
        return self.out

    def _resolve(self, table, prep):
        """``config.json``: the config with every default explicit, the heads and the base."""
        cfg = self.config
        probe = cfg.unfreeze == "none"
        epochs = cfg.epochs
        if epochs is None and (probe or cfg.time_limit is None):
            epochs = api.DEFAULT_EPOCHS[cfg.unfreeze]
        lr = cfg.lr or api.DEFAULT_LR[cfg.unfreeze]
        doc = cfg.to_dict()
        doc.update(
            labels=str(Path(cfg.labels).resolve()), epochs=epochs,
            batch_size=int(cfg.batch_size or (256 if probe else 32)),
            augment=bool(cfg.augment if cfg.augment is not None else not probe),
            lr=float(lr), encoder_lr=float(cfg.encoder_lr or lr / 10), heads=[dict(h) for h in table.heads],
            base={k: v for k, v in self.base_info.items() if k != "trust"},
            preprocessing=dict(prep), n_labelled=len(table),
            resolved_device=str(self.device), resolved_precision=cfg.precision)
        return doc

    def _split(self, ids, targets, heads, mode):
        from galmorph.training.batches import load_split, make_split, save_split

        path = RunDir(self.out).split_file
        if mode == "resume" and path.is_file():
            return load_split(path, ids)
        groups = api._groups(targets, heads)
        counts = np.bincount(groups + 1) if groups is not None else np.array([2])
        if counts[counts > 0].min() < 2:
            groups = None            # a class with one galaxy cannot be split: plain split
        cfg = self.config
        train_rows, val_rows = make_split(len(ids), cfg.val_fraction, cfg.seed, groups=groups)
        save_split(path, ids, val_rows, cfg.seed, cfg.val_fraction)
        return train_rows, val_rows

    def _model(self, base, data, train_rows, heads, mode):
        """``(what the loop reads, the Finetuned model)``; a probe's features are extracted
        once and kept in ``features.npy``."""
        from galmorph.models.finetuned import finetuned_of

        cfg, r = self.config, self.resolved
        probe = cfg.unfreeze == "none"
        path = self.out / "features.npy"
        views = 8 if probe and r["augment"] else 1
        kw = dict(device=self.device, precision=cfg.precision, progress=self._progress())
        if probe and mode == "resume" and path.is_file():
            features = np.load(path)
        elif probe:
            self.say(f"extracting the features of {len(data)} galaxies"
                     + (" in 8 orientations" if views > 1 else ""))
            features = extract_features(base, data.images, views=views, **kw)   # (V, N, F)
            np.save(path, features)
        else:
            features = extract_features(base, data.images[np.sort(train_rows)], **kw)
        model = finetuned_of(base, heads, features.shape[-1], api._ENCODER[cfg.unfreeze])
        model.label_heads.set_feature_stats(features[0, train_rows] if probe else features[0])
        return (features if probe else data.images), model

    def _restore(self):
        from galmorph.models.checkpoint import load_checkpoint

        path = self.out / "last.pt"
        if not path.is_file():
            self.say(f"{self.out} has no last.pt yet: starting its first epoch again")
            return None
        ckpt = load_checkpoint(path, expected_model="finetuned")
        self.model.load_state_dict(ckpt.model.state_dict())
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        self.scheduler.load_state_dict(ckpt.scheduler_state)
        state = dict(ckpt.train_state)
        self.say(f"resuming {self.out} from epoch {state['epoch'] + 1}, batch {state['batch']}")
        return state

    # ------------------------------------------------------------------ output
    def _meta(self):
        st = self.state
        encoder = api._ENCODER[self.config.unfreeze]
        meta = {"run_dir": str(self.out), "epoch": st["epoch"], "train_config": self.resolved,
                "finetune": {"labels_table": self.resolved["labels"],
                             "labels": list(self.config.label), "encoder": encoder,
                             "base": self.resolved["base"], "n_train": self.n_train,
                             "n_val": self.n_val, "best_val_loss": st["best_val_loss"],
                             "best_epoch": st.get("best_epoch"),
                             "gz2_answers": "kept" if encoder == "frozen" else "changed"}}
        if encoder == "frozen" and self.base_info.get("trust"):
            meta["trust"] = self.base_info["trust"]     # same features and outputs: still valid
        return meta

    def _save(self, best, final):
        """Write last.pt and metrics.csv; best.pt with the ``best`` weights, where given."""
        from galmorph.models.checkpoint import save_checkpoint

        # A frozen network that came in int8 goes back in int8, losslessly (the same
        # per-channel scales); the heads stay float32 (Finetuned.keep_float).
        dtype = torch.int8 if self.base_info["int8"] and self.config.unfreeze == "none" \
            else None
        st = {k: v for k, v in self.state.items() if k != "elapsed_s_at_start"}
        common = dict(preprocessing=self.preprocessing, meta=self._meta(), dtype=dtype)
        save_checkpoint(self.out / "last.pt", self.model,
                        optimizer_state=self.optimizer.state_dict(),
                        scheduler_state=self.scheduler.state_dict(), train_state=st, **common)
        if best is not None:
            current = {k: v.detach().clone() for k, v in self.model.state_dict().items()
                       if k in best}
            self.model.load_state_dict(best, strict=False)
            save_checkpoint(self.out / "best.pt", self.model, **common)
            self.model.load_state_dict(current, strict=False)
        api._save_metrics(self.out, self.state["history"])

    def _report(self, reason, settings):
        st = self.state
        best = st["best_val_loss"]
        summary = (f"best validation loss {best:.4f} (epoch {st.get('best_epoch')})"
                   if best is not None else "no epoch finished")
        if reason:
            self.say(f"stopped after epoch {st['epoch']} ({reason}); {summary}; continue with: "
                     f"galmorph finetune --resume {self.out} --time-limit SECONDS")
        else:
            self.say(f"done: {st['epoch']} epoch(s), {summary} ({self.out / 'best.pt'})")


class _Settings:
    """What the loop reads: the resolved config, and this invocation's time limit."""

    def __init__(self, resolved, time_limit):
        self.epochs, self.batch_size = resolved["epochs"], resolved["batch_size"]
        self.augment, self.seed = resolved["augment"], resolved["seed"]
        self.unfreeze, self.time_limit = resolved["unfreeze"], time_limit
