"""What a run learns with: the network, its optimiser, schedule and gradient scaler, built for
a run and saved to (and restored from) its checkpoints with the training state.

Used by :func:`galmorph.training.loop.setup`; ``last.pt`` holds everything
:func:`restore_learner` needs for ``--resume`` to continue exactly where a run stopped.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Learner", "build_learner", "restore_learner", "save_learner"]


@dataclass
class Learner:
    """The trained network and the state of its optimisation."""

    model: torch.nn.Module       # the network itself (what the checkpoints hold)
    net: torch.nn.Module         # what the loop calls: the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scheduler: object            # ReduceLROnPlateau on the validation RMSE
    scaler: object | None        # GradScaler for fp16 on CUDA, else None
    channels_last: bool          # feed the network channels_last batches


def build_learner(config, model_config, device, precision, ctx):
    """The :class:`Learner` of a :class:`~galmorph.training.config.TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
        The seed, learning rate and plateau schedule.
    model_config : dataclass
        The network's config, built once from ``config.model`` and ``config.model_options``
        (:func:`galmorph.models.model_config`).
    device : torch.device
        Where the network lives.
    precision : str
        The resolved precision (``"bf16"``, ``"fp16"``, ``"fp32"``).
    ctx : galmorph.training.distributed.DistContext
        The process group; under ``torchrun`` the network is wrapped in DDP.

    Returns
    -------
    Learner
    """
    from galmorph.models import build_model
    from galmorph.runtime import channels_last_helps, maybe_channels_last

    torch.manual_seed(config.seed)  # model initialisation (on train()'s forked RNG)
    model = build_model(model_config).to(device)
    channels_last = channels_last_helps(device, precision)
    model, _ = maybe_channels_last(model, None, device, precision)
    if ctx.enabled and device.type == "cuda":
        # Normalise over the global batch, as one process would (SyncBatchNorm is
        # CUDA-only; on CPUs each process normalises over its share).
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if ctx.rank:
        torch.manual_seed(config.seed + ctx.rank)  # distinct dropout masks per rank
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience,
        min_lr=config.min_lr)
    scaler = (torch.amp.GradScaler("cuda") if precision == "fp16" and device.type == "cuda"
              else None)
    net = model
    if ctx.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return Learner(model, net, optimizer, scheduler, scaler, channels_last)


def restore_learner(learner, path, ctx, device, expected_model):
    """Load ``path`` (a run's ``last.pt``) into ``learner``; returns its training state.

    Parameters
    ----------
    learner : Learner
        Built for the same run (:func:`build_learner`); updated in place.
    path : Path
        The checkpoint, with its optimiser, scheduler and training state.
    ctx : galmorph.training.distributed.DistContext
        Each process restores its own RNG state where the number of processes is unchanged.
    device : torch.device
        The device of this process.
    expected_model : str
        The run's model name; a checkpoint of another model is refused.

    Returns
    -------
    dict
        The training state (epoch, batch, history, best RMSE, elapsed seconds, partial epoch).
    """
    from galmorph.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, map_location="cpu", expected_model=expected_model)
    learner.model.load_state_dict(ckpt.model.state_dict())
    learner.optimizer.load_state_dict(ckpt.optimizer_state)
    learner.scheduler.load_state_dict(ckpt.scheduler_state)
    state = dict(ckpt.train_state)
    if learner.scaler is not None and state.get("scaler"):
        learner.scaler.load_state_dict(state["scaler"])
    rng = state.pop("rng", None) or []
    if len(rng) == ctx.world_size:
        torch.set_rng_state(rng[ctx.rank]["cpu"])
        if device.type == "cuda" and rng[ctx.rank].get("cuda") is not None:
            torch.cuda.set_rng_state(rng[ctx.rank]["cuda"], device)
    return state


def save_learner(learner, out, state, ctx, device, *, preprocessing, resolved, best):
    """Write ``out/last.pt`` (and ``out/best.pt`` when ``best``) on the main process.

    Parameters
    ----------
    learner : Learner
        The network and its optimisation state.
    out : Path
        The run directory.
    state : dict
        The training state (see :func:`restore_learner`); each process's RNG state is
        gathered into it.
    ctx : galmorph.training.distributed.DistContext
        Every process must call this (the RNG states are gathered); only the main one writes.
    device : torch.device
        The device of this process.
    preprocessing : dict
        The crop and size the network was trained at, stored with it.
    resolved : dict
        The run's resolved config, stored in the checkpoints' ``meta``.
    best : bool
        Also write ``best.pt`` (the network alone, no optimiser state).
    """
    from galmorph.models.checkpoint import save_checkpoint

    rng = {"cpu": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    rngs = ctx.gather_objects(rng)
    if not ctx.is_main:
        return
    st = {k: v for k, v in state.items() if k != "elapsed_s_at_start"}
    st["rng"] = rngs
    if learner.scaler is not None:
        st["scaler"] = learner.scaler.state_dict()
    history = st["history"]
    meta = {"run_dir": str(out), "data": resolved["data"], "epoch": st["epoch"],
            "val_rmse": history[-1]["val_rmse"] if history else None, "train_config": resolved}
    common = dict(preprocessing=preprocessing, meta=meta)
    save_checkpoint(out / "last.pt", learner.model,
                    optimizer_state=learner.optimizer.state_dict(),
                    scheduler_state=learner.scheduler.state_dict(), train_state=st, **common)
    if best:
        save_checkpoint(out / "best.pt", learner.model, **common)
