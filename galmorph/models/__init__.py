"""The model zoo: build any galmorph network by name or from a stored config.

Every model is an ``nn.Module`` with a ``config`` dataclass attribute. It takes
``float`` images in [0, 1] of shape ``(B, 3, H, W)`` (any input normalisation
happens inside) and returns ``(B, 37)`` weighted GZ2 fractions in [0, 1],
float32. ``dataclasses.asdict(model.config)`` holds the model name and rebuilds
the model with no other flags::

    >>> from dataclasses import asdict
    >>> from galmorph.models import build_model
    >>> model = build_model("resnet18-tailored", dropout=0.3)
    >>> clone = build_model(asdict(model.config))
    >>> clone.config == model.config
    True

Models: ``"cnn"`` (the paper's proof of concept), ``"resnet18"`` and
``"resnet18-tailored"`` (the paper's final model), and ``"resnet18-cpu"`` (a
half-width ResNet-18 with the tailored head, designed for CPU cost); see
:mod:`.cnn` and :mod:`.resnet`. ``"ensemble"`` is the mean of trained networks
(:mod:`.ensemble`); it is saved and loaded like them but never trained, nor is
``"finetuned"``, a trained network with heads of your own labels (:mod:`.finetuned`).
"""
from __future__ import annotations

import dataclasses

from galmorph._util._lazy import lazy_exports
from galmorph.models._registry import (DEFAULT_PREPROCESSING, model_entry, model_names,
                                      preprocessing_of, register_model)

__all__ = ["MODEL_NAMES", "ALL_MODEL_NAMES", "AUGMENTED_BY_DEFAULT", "DEFAULT_PREPROCESSING",
           "register_model", "model_entry", "preprocessing_of", "model_config", "build_model",
           "save_checkpoint", "load_checkpoint", "Checkpoint", "resolve_model", "tree_normalize",
           "TreeNormalize"]

# The one place where models are registered (galmorph.models._registry says why by path).
_CNN = ("galmorph.models.cnn:GalaxyCNN", "galmorph.models.cnn:CNNConfig")
_RESNET = ("galmorph.models.resnet:ResNet18", "galmorph.models.resnet:ResNetConfig")
# Batch sizes: the paper's 256 / 128 for the cnn; 64 / 32 (the default) for the ResNets.
register_model("cnn", *_CNN, batch_size=256, val_batch_size=128,
               summary="the paper's 3-layer proof-of-concept CNN")
register_model("resnet18", *_RESNET, summary="ResNet-18 as torchvision builds it, untrained")
# softmax rather than the paper's ReLU normalisation: never a dead question, and it
# reached a lower validation RMSE in short runs (docs/models.rst, "Tree normalisation").
register_model("resnet18-tailored", *_RESNET, augmented=True,
               preset={"maxpool": False, "head_hidden": 256, "dropout": 0.5,
                       "output": "tree", "tree_kind": "softmax"},
               summary="the paper's final model: no max-pool, a hidden head, the GZ2 tree")
# Designed for CPU cost (benchmarks/recipe_frontier.py): half of ResNet-18's width
# keeps its depth and the tailored tree head at 0.067 GMAC per 80x80 image, so it trains
# ~4x faster than "resnet18" and ~11x faster than "resnet18-tailored" on a CPU.
register_model("resnet18-cpu", *_RESNET, augmented=True,
               preset={"width": 32, "head_hidden": 256, "dropout": 0.3,
                       "output": "tree", "tree_kind": "softmax"},
               summary="half-width ResNet-18 with the tailored tree head, for CPUs")
register_model("ensemble", "galmorph.models.ensemble:Ensemble",
               "galmorph.models.ensemble:EnsembleConfig", trainable=False,
               summary="the mean of several trained networks, built by ensemble_of")
register_model("finetuned", "galmorph.models.finetuned:Finetuned",
               "galmorph.models.finetuned:FinetunedConfig", trainable=False,
               summary="a trained network with heads of your own labels (galmorph finetune)")

#: Names of the registered networks that ``galmorph train`` trains.
MODEL_NAMES = model_names(trainable=True)
#: Names of every registered model a checkpoint may hold: the networks and "ensemble".
ALL_MODEL_NAMES = model_names()
#: Models trained with random rotations and flips unless told otherwise.
AUGMENTED_BY_DEFAULT = tuple(n for n in MODEL_NAMES if model_entry(n).augmented)
#: Config fields that model configs no longer have: checkpoints written before the batch
#: sizes moved to the registry entries (issue 29) store them, and loading drops them.
_RETIRED_FIELDS = ("batch_size", "val_batch_size")


def model_config(name, /, **overrides):
    """The configuration dataclass of model ``name``, with ``overrides`` applied.

    Parameters
    ----------
    name : str
        A registered model: ``"cnn"``, ``"resnet18"``, ``"resnet18-tailored"`` or
        ``"resnet18-cpu"`` (:data:`MODEL_NAMES`).
    **overrides
        Fields of :class:`~galmorph.models.cnn.CNNConfig` or
        :class:`~galmorph.models.resnet.ResNetConfig`, e.g. ``dropout=0.3``.

    Returns
    -------
    CNNConfig or ResNetConfig
        The network's hyper-parameters (its training batch sizes are its registry
        entry's: :func:`model_entry`).
    """
    entry = model_entry(name)
    config_cls, _ = entry.classes()
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        hint = ("; batch sizes are the run's (--batch-size, --val-batch-size)"
                if set(unknown) & set(_RETIRED_FIELDS) else "")
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for model {name!r}; "
                         f"valid: {', '.join(sorted(fields - {'name'}))}{hint}")
    other = overrides.pop("name", name)
    if other != name:
        raise ValueError(f"config name {other!r} does not match model {name!r}")
    kwargs = {**entry.preset, **overrides}
    if "name" in fields:
        kwargs["name"] = name
    return config_cls(**kwargs)


def build_model(name_or_config, /, **overrides):
    """Build a model from its name, a config dict (``asdict(model.config)``) or a config.

    Parameters
    ----------
    name_or_config : str, dict or config dataclass
        ``"cnn"``, ``"resnet18"``, ``"resnet18-tailored"``; or a dict holding
        ``"name"`` plus config fields (as stored in checkpoints).
    **overrides
        Config fields to change.

    Returns
    -------
    torch.nn.Module
        In training mode, freshly initialised (use
        :func:`~galmorph.models.checkpoint.load_checkpoint` for trained weights).

    Examples
    --------
    >>> import torch
    >>> model = build_model("cnn")
    >>> model.config.input_size, model(torch.rand(2, 3, 80, 80)).shape
    (80, torch.Size([2, 37]))
    """
    if dataclasses.is_dataclass(name_or_config) and not isinstance(name_or_config, type):
        name_or_config = dataclasses.asdict(name_or_config)
    if isinstance(name_or_config, dict):
        fields = {k: v for k, v in name_or_config.items() if k not in _RETIRED_FIELDS}
        name = fields.pop("name", None)
        if name is None:
            raise ValueError("a model config dict needs a 'name' entry, one of "
                             + ", ".join(MODEL_NAMES))
        config = model_config(name, **{**fields, **overrides})
    else:
        name = name_or_config
        config = model_config(name, **overrides)
    _, model_cls = model_entry(name).classes()
    return model_cls(config)


# Lazy re-exports (no torch import when only MODEL_NAMES is needed).
__getattr__, __dir__ = lazy_exports(__name__, {
    "resolve_model": "resolve", "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint",
    "Checkpoint": "checkpoint", "tree_normalize": "tree", "TreeNormalize": "tree"})
