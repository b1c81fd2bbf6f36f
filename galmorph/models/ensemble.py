"""An ensemble: the mean of several trained galmorph networks, saved as one checkpoint.

Averaging independently trained models is the cheapest accuracy there is at
prediction time: the 2014 Kaggle winner averaged 17 convnets (Dieleman, Willett
& Dambre 2015, section 7.5). Every member ends in the same (B, 37) weighted
fractions, and the GZ2 tree's constraints (a question's answers sum to the
weight of the branch that leads to it) are linear, so the mean of tree-normalised
outputs still satisfies them.

An :class:`Ensemble` is an ordinary galmorph model: its config
(:class:`EnsembleConfig`) holds the members' configs as plain data, so
:func:`~galmorph.models.checkpoint.save_checkpoint` and
:func:`~galmorph.models.checkpoint.load_checkpoint` store and rebuild it like any
other, and prediction, evaluation and the classifier take it unchanged. It is
built from trained members, never trained itself, so ``galmorph train`` does not
offer it.

    >>> from galmorph.models import build_model
    >>> from galmorph.models.ensemble import ensemble_of
    >>> model = ensemble_of([build_model("cnn"), build_model("cnn")])
    >>> len(model.members), model.config.name
    (2, 'ensemble')
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from galmorph.errors import CheckpointError

__all__ = ["ENSEMBLE", "EnsembleConfig", "Ensemble", "ensemble_of", "ensemble_checkpoints"]

#: The registered name of an ensemble.
ENSEMBLE = "ensemble"


@dataclass
class EnsembleConfig:
    """What an :class:`Ensemble` is made of (plain data, JSON-able).

    Attributes
    ----------
    name : str
        Always ``"ensemble"``.
    members : tuple of dict
        Each member's config as stored in checkpoints (``asdict(model.config)``,
        with its ``"name"``); at least one, none of them an ensemble.
    input_size : int
        Side of the square input images, pixels (the members share it).
    """

    name: str = ENSEMBLE
    members: tuple = ()
    input_size: int = 80

    def __post_init__(self):
        if self.name != ENSEMBLE:
            raise ValueError(f"EnsembleConfig.name must be {ENSEMBLE!r}, not {self.name!r}")
        self.members = tuple(dict(m) for m in self.members)
        if not self.members:
            raise ValueError("an ensemble needs at least one member config")
        for i, member in enumerate(self.members):
            name = member.get("name")
            if name is None or name == ENSEMBLE:
                raise ValueError(f"ensemble member {i} must be a trained network's config "
                                 f"with a 'name', not {name!r}")


class Ensemble(nn.Module):
    """The mean of its members' (B, 37) outputs.

    Parameters
    ----------
    config : EnsembleConfig
        The members are built from their configs, freshly initialised; load
        trained weights with :func:`ensemble_of` or from a checkpoint.
    """

    def __init__(self, config):
        super().__init__()
        from galmorph.models import build_model

        self.config = config
        self.members = nn.ModuleList(build_model(m) for m in config.members)

    def forward(self, x):  # (B, 3, H, W) -> (B, 37)
        # Every galmorph network returns float32 fractions, also under bf16 autocast.
        return torch.stack([member(x) for member in self.members]).mean(0)

    def forward_features(self, x):  # (B, 3, H, W) -> (B, sum of the members' F)
        """The members' pooled features side by side (each member's own space)."""
        return torch.cat([member.forward_features(x) for member in self.members], 1)

    def forward_details(self, x):
        """``(each member's outputs (M, B, 37), the members' features (B, sum F))``: the
        spread of the members is what :mod:`galmorph.trust` calibrates into intervals."""
        outputs, features = zip(*(member.forward_details(x) for member in self.members))
        return torch.cat(outputs, 0), torch.cat(features, 1)


def ensemble_of(models):
    """An :class:`Ensemble` holding copies of the trained ``models``.

    Parameters
    ----------
    models : sequence of torch.nn.Module
        Galmorph networks (each with a ``config``), trained for the same
        preprocessing; a DDP or compiled wrapper is unwrapped.

    Returns
    -------
    Ensemble
        In eval mode, its members' weights copied from ``models``.

    Raises
    ------
    ValueError
        No models, one that is not a galmorph network, or members of different
        input sizes.
    """
    nets = [getattr(m, "module", m) for m in models]          # DistributedDataParallel
    nets = [getattr(m, "_orig_mod", m) for m in nets]          # torch.compile
    if not nets:
        raise ValueError("an ensemble needs at least one model")
    configs = []
    for i, net in enumerate(nets):
        config = getattr(net, "config", None)
        if config is None or not dataclasses.is_dataclass(config):
            raise ValueError(f"model {i} ({type(net).__name__}) is not a galmorph network "
                             f"(no config dataclass)")
        configs.append(dataclasses.asdict(config))
    sizes = {int(c.get("input_size", 80)) for c in configs}
    if len(sizes) > 1:
        raise ValueError(f"ensemble members take different input sizes ({sorted(sizes)} px); "
                         f"an ensemble needs one preprocessing")
    ensemble = Ensemble(EnsembleConfig(
        members=tuple(configs), input_size=sizes.pop()))
    for member, net in zip(ensemble.members, nets):
        member.load_state_dict(net.state_dict())
    return ensemble.eval()


def ensemble_checkpoints(paths):
    """Combine the checkpoints at ``paths`` into one :class:`Ensemble`.

    Parameters
    ----------
    paths : sequence of path-like or Checkpoint
        Checkpoints written by ``galmorph train`` (e.g. each run's ``best.pt``),
        or already loaded ones.

    Returns
    -------
    (Ensemble, dict)
        The ensemble and the preprocessing its members share.

    Raises
    ------
    CheckpointError
        A file that does not load, that is itself an ensemble, or whose
        preprocessing differs from the first's (the file is named).
    """
    from galmorph.models.checkpoint import Checkpoint, load_checkpoint

    paths = list(paths)
    if not paths:
        raise CheckpointError("an ensemble needs at least one checkpoint")
    loaded = [p if isinstance(p, Checkpoint) else load_checkpoint(p) for p in paths]
    first = loaded[0]
    for ckpt in loaded:
        if ckpt.name == ENSEMBLE:
            raise CheckpointError(f"{ckpt.path} is an ensemble already; give its members' "
                                  f"checkpoints instead")
        if ckpt.preprocessing != first.preprocessing:
            raise CheckpointError(f"{ckpt.path} expects preprocessing {ckpt.preprocessing}, but "
                                  f"{first.path} expects {first.preprocessing}; an ensemble's "
                                  f"members must cut images the same way")
    return ensemble_of([c.model for c in loaded]), dict(first.preprocessing)
