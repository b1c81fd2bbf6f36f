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
:mod:`.cnn` and :mod:`.resnet`.
"""
from __future__ import annotations

import dataclasses

__all__ = ["MODEL_NAMES", "AUGMENTED_BY_DEFAULT", "model_config", "build_model", "save_checkpoint", "load_checkpoint",
           "Checkpoint", "tree_normalize", "TreeNormalize"]

MODEL_NAMES = ("cnn", "resnet18", "resnet18-tailored", "resnet18-cpu")

# Per-model defaults that differ from the config class defaults.
_PRESETS = {
    "cnn": {},
    "resnet18": {},
    # softmax rather than the paper's ReLU normalisation: never a dead question, and it
    # reached a lower validation RMSE in short runs (docs/models.rst, "Tree normalisation").
    "resnet18-tailored": {"maxpool": False, "head_hidden": 256, "dropout": 0.5,
                          "output": "tree", "tree_kind": "softmax"},
    # Designed for CPU cost (benchmarks/recipe_frontier.py): half of ResNet-18's width
    # keeps its depth and the tailored tree head at 0.067 GMAC per 80x80 image, so it trains
    # ~4x faster than "resnet18" and ~11x faster than "resnet18-tailored" on a CPU.
    "resnet18-cpu": {"width": 32, "head_hidden": 256, "dropout": 0.3,
                     "output": "tree", "tree_kind": "softmax"},
}

#: Models trained with random rotations and flips unless told otherwise.
AUGMENTED_BY_DEFAULT = ("resnet18-tailored", "resnet18-cpu")


def _classes(name):
    # Imported on use so that ``import galmorph.models`` does not load torch.
    if name == "cnn":
        from galmorph.models.cnn import CNNConfig, GalaxyCNN
        return CNNConfig, GalaxyCNN
    from galmorph.models.resnet import ResNet18, ResNetConfig
    return ResNetConfig, ResNet18


def _check_name(name):
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def model_config(name, /, **overrides):
    """The configuration dataclass of model ``name``, with ``overrides`` applied.

    Parameters
    ----------
    name : {"cnn", "resnet18", "resnet18-tailored", "resnet18-cpu"}
    **overrides
        Fields of :class:`~galmorph.models.cnn.CNNConfig` or
        :class:`~galmorph.models.resnet.ResNetConfig`, e.g. ``dropout=0.3``.

    Returns
    -------
    CNNConfig or ResNetConfig
        Includes the per-model ``batch_size`` / ``val_batch_size`` defaults
        (cnn 256/128, resnet18 and resnet18-tailored 64/32).
    """
    _check_name(name)
    config_cls, _ = _classes(name)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for model {name!r}; "
                         f"valid: {', '.join(sorted(fields - {'name'}))}")
    other = overrides.pop("name", name)
    if other != name:
        raise ValueError(f"config name {other!r} does not match model {name!r}")
    kwargs = {**_PRESETS[name], **overrides}
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
    >>> model.config.batch_size, model(torch.rand(2, 3, 80, 80)).shape
    (256, torch.Size([2, 37]))
    """
    if dataclasses.is_dataclass(name_or_config) and not isinstance(name_or_config, type):
        name_or_config = dataclasses.asdict(name_or_config)
    if isinstance(name_or_config, dict):
        fields = dict(name_or_config)
        name = fields.pop("name", None)
        if name is None:
            raise ValueError("a model config dict needs a 'name' entry, one of "
                             + ", ".join(MODEL_NAMES))
        config = model_config(name, **{**fields, **overrides})
    else:
        name = name_or_config
        config = model_config(name, **overrides)
    _, model_cls = _classes(name)
    return model_cls(config)


def __getattr__(name):
    # Lazy re-exports (no torch import when only MODEL_NAMES is needed).
    if name in ("save_checkpoint", "load_checkpoint", "Checkpoint"):
        from galmorph.models import checkpoint
        return getattr(checkpoint, name)
    if name in ("tree_normalize", "TreeNormalize"):
        from galmorph.models import tree
        return getattr(tree, name)
    raise AttributeError(f"module 'galmorph.models' has no attribute {name!r}")
