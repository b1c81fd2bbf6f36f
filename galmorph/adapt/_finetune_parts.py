"""What :func:`galmorph.adapt.finetune.finetune` and its run (``_finetune_run``) share:
the defaults per ``unfreeze``, the base network, the image cache, the split's groups and
the metrics file. Both import it, so neither imports the other at load time."""
from __future__ import annotations

import numpy as np

from galmorph.rundir import RunDir

#: What of the network trains besides the heads.
UNFREEZE = ("none", "last", "all")
#: Epochs without ``epochs`` or ``time_limit``: (linear probe, network).
DEFAULT_EPOCHS = {"none": 25, "last": 10, "all": 10}   # a probe's epoch: 20 L-BFGS steps
#: Learning rate of the heads without ``lr``: (linear probe, network).
DEFAULT_LR = {"none": 1e-2, "last": 1e-3, "all": 1e-3}
_ENCODER = {"none": "frozen", "last": "last", "all": "all"}
_METRICS = ("epoch", "train_loss", "val_loss", "lr", "images_per_s", "elapsed_s")
_INVOCATION = ("out", "time_limit", "resume", "progress", "workers", "report", "set_default")



def _base_model(source):
    """``(network, preprocessing, description)`` of ``source`` (a Finetuned one: its base)."""
    from galmorph.models.finetuned import Finetuned
    from galmorph.models.resolve import resolve_model

    resolved = resolve_model(source)
    model = resolved.model
    if isinstance(model, Finetuned):
        model = model.base
    meta = resolved.checkpoint.meta if resolved.checkpoint is not None else {}
    return model, resolved.preprocessing, {
        "name": getattr(model.config, "name", resolved.name),
        "path": None if resolved.path is None else str(resolved.path),
        "int8": _stored_int8(resolved.path), "trust": meta.get("trust")}


def _stored_int8(path):
    """Whether the checkpoint at ``path`` stores int8 weights (read lazily, memory-mapped)."""
    if path is None:
        return False
    import torch

    try:
        return "int8_scales" in torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:   # not worth failing a run over: the checkpoint then stays float32
        return False


def _prepare(table, config, preprocessing, progress):
    from galmorph.data.cache import default_cache_path, prepare
    from galmorph.data.catalogs import Catalog

    catalog = Catalog(ids=table.rows.astype(np.int64), paths=table.paths, labels=None,
                      layout="images", sources={"root": str(table.path)})
    crop, size = preprocessing.get("crop"), int(preprocessing["size"])
    cache = config.cache or default_cache_path(table.path, crop or 224, size)
    return prepare(catalog, cache_dir=cache, crop=crop, size=size, workers=config.workers,
                   on_error="raise", progress=progress)


def _groups(targets, heads):
    """The first classification label's class per galaxy (stratifies the split), else None."""
    for j, head in enumerate(heads):
        if head["task"] != "regression":
            y = targets[:, j]
            return np.where(np.isfinite(y), y, -1).astype(np.int64)
    return None


def _save_metrics(out, rows):
    # metrics.csv of its own columns (losses, not the 37-answer RMSE of galmorph train).
    RunDir(out).write_metrics(rows, columns=_METRICS)
