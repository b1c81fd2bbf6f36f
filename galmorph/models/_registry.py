"""The model registry: every galmorph network is named, described and built from here.

As timm's ``_registry.py`` with its ``default_cfgs``, each entry carries what
the model needs besides its weights: its config class, the preset that makes
it differ from the config defaults, whether it trains augmented by default,
its training batch sizes, and its preprocessing (timm's ``pretrained_cfg``).
Unlike timm, the entries name their classes by import path rather than
decorating them, so that ``import galmorph.models`` (and ``galmorph --help``,
whose choices come from here) does not import torch.

Adding a model is one :func:`register_model` call in :mod:`galmorph.models`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

__all__ = ["DEFAULT_PREPROCESSING", "ModelEntry", "register_model", "model_entry", "model_names",
           "preprocessing_of"]

#: How galmorph's models cut their input: the central 224 pixels of a 424-pixel GZ2
#: cutout, resized to 80 (the paper's preprocessing). A model's entry may differ.
DEFAULT_PREPROCESSING = {"crop": 224, "size": 80}


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes
    ----------
    name : str
        The name users give (``galmorph train --model NAME``).
    model_class, config_class : str
        ``"module:Class"`` import paths, imported on first use.
    preset : dict
        Config fields that differ from the config class defaults.
    augmented : bool
        Trained with random rotations and flips unless told otherwise.
    preprocessing : dict
        ``{"crop": ..., "size": ...}`` of a freshly built model.
    summary : str
        One line for listings.
    trainable : bool
        ``galmorph train`` can train it; an ensemble is built from trained
        members instead.
    batch_size, val_batch_size : int
        The global training and validation batch sizes of a run that gives none
        (``TrainConfig.batch_size``, ``val_batch_size``).
    """

    name: str
    model_class: str
    config_class: str
    preset: dict = field(default_factory=dict)
    augmented: bool = False
    preprocessing: dict = field(default_factory=lambda: dict(DEFAULT_PREPROCESSING))
    summary: str = ""
    trainable: bool = True
    batch_size: int = 64
    val_batch_size: int = 32

    def classes(self):
        """``(config_class, model_class)``, imported now (this imports torch)."""
        return _load(self.config_class), _load(self.model_class)


_REGISTRY: dict[str, ModelEntry] = {}


def _load(target):
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


def register_model(name, model_class, config_class, *, preset=None, augmented=False,
                   preprocessing=None, summary="", trainable=True, batch_size=64,
                   val_batch_size=32):
    """Register model ``name``; returns its :class:`ModelEntry`.

    Parameters
    ----------
    name : str
        Unique model name.
    model_class, config_class : str
        ``"module:Class"`` import paths of the ``nn.Module`` and its config dataclass.
    preset : dict, optional
        Config fields that differ from the config class defaults.
    augmented : bool
        Train with random rotations and flips by default.
    preprocessing : dict, optional
        Crop and size (default :data:`DEFAULT_PREPROCESSING`).
    summary : str
        One line describing the model.
    trainable : bool
        Whether ``galmorph train`` offers it (default True).
    batch_size, val_batch_size : int
        The batch sizes a training run takes unless told (default 64 and 32).
    """
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered already")
    entry = ModelEntry(name, model_class, config_class, dict(preset or {}), bool(augmented),
                       dict(preprocessing or DEFAULT_PREPROCESSING), summary, bool(trainable),
                       int(batch_size), int(val_batch_size))
    _REGISTRY[name] = entry
    return entry


def model_names(trainable=None):
    """The registered model names, in registration order.

    Parameters
    ----------
    trainable : bool, optional
        Only those ``galmorph train`` can (True) or cannot (False) train; default all.
    """
    return tuple(n for n, e in _REGISTRY.items() if trainable is None or e.trainable == trainable)


def model_entry(name):
    """The :class:`ModelEntry` of ``name``, or a ``ValueError`` listing the names."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of "
                         f"{', '.join(_REGISTRY)}") from None


def preprocessing_of(name=None, input_size=None):
    """How model ``name`` cuts its input: ``{"crop": ..., "size": ...}``, pixels.

    The one rule for a model without a stored preprocessing (a fresh network, a training
    run, an int8 calibration): its registry entry's crop and size, the size being the
    model config's ``input_size`` where one is given (the side the network was built for).

    Parameters
    ----------
    name : str, optional
        A registered model name; any other (a foreign module's, None) gets
        :data:`DEFAULT_PREPROCESSING`.
    input_size : int, optional
        The model config's ``input_size``; None or 0 keeps the entry's size.

    Returns
    -------
    dict
        A new ``{"crop": int, "size": int}``.

    Examples
    --------
    >>> preprocessing_of("resnet18-cpu")
    {'crop': 224, 'size': 80}
    >>> preprocessing_of("cnn", input_size=64)
    {'crop': 224, 'size': 64}
    """
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    prep = dict(entry.preprocessing if entry is not None else DEFAULT_PREPROCESSING)
    if input_size:
        prep["size"] = int(input_size)
    return prep
