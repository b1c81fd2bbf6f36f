"""One way to turn "a path, a Checkpoint or a model" into a network and its preprocessing.

Prediction, evaluation, the classifier and the plots all accept any of:

- ``None``: the default model (``$GALMORPH_MODEL``, the registered default, else the
  shipped one; see :func:`galmorph.paths.model_source`);
- a checkpoint path;
- a loaded :class:`~galmorph.models.checkpoint.Checkpoint`;
- a bare ``torch.nn.Module`` (also one wrapped in ``DistributedDataParallel``).

:func:`resolve_model` returns the network with the preprocessing it expects,
which travels with the model (as timm's ``pretrained_cfg``): the checkpoint's,
else the model's ``preprocessing`` attribute, else its registry entry's with
the config's ``input_size``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from galmorph import schema
from galmorph.errors import CheckpointError

__all__ = ["ResolvedModel", "resolve_model", "network_of"]


@dataclass
class ResolvedModel:
    """A network ready to predict, and how its input must be cut.

    Attributes
    ----------
    model : torch.nn.Module
    preprocessing : dict
        ``{"crop": int or None, "size": int}``, pixels.
    name : str
        Model name (``"resnet18-cpu"``), or the class name of a foreign module.
    path : pathlib.Path or None
        The checkpoint file, where the model came from one.
    checkpoint : Checkpoint or None
        The loaded checkpoint (its ``meta``, ``config``), where there is one.
    """

    model: object
    preprocessing: dict
    name: str
    path: Path | None = None
    checkpoint: object = None


def _bare_preprocessing(model):
    from galmorph.models import preprocessing_of

    own = getattr(model, "preprocessing", None)
    if own:
        return dict(own)
    config = getattr(model, "config", None)
    return preprocessing_of(getattr(config, "name", None), getattr(config, "input_size", None))


def network_of(model):
    """The ``torch.nn.Module`` of ``model``: the module itself, or a loaded checkpoint's
    ``.model`` (anything holding an ``nn.Module`` there).

    Unlike :func:`resolve_model`, it loads no path, seeks no preprocessing and unwraps no
    ``DistributedDataParallel``: it serves the code that takes images already cut
    (:func:`galmorph.inference.engine.predict_arrays`, :mod:`galmorph.inference.quantize`).

    Raises
    ------
    TypeError
        ``model`` is neither.
    """
    import torch

    if not isinstance(model, torch.nn.Module) and isinstance(
            getattr(model, "model", None), torch.nn.Module):
        model = model.model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a loaded Checkpoint, "
                        f"got {type(model).__name__}")
    return model


def resolve_model(source=None, preprocessing=None):
    """The network and preprocessing of ``source``.

    Parameters
    ----------
    source : None, path-like, Checkpoint or torch.nn.Module
        See the module docstring.
    preprocessing : dict, optional
        ``{"crop": ..., "size": ...}`` overriding what ``source`` says.

    Returns
    -------
    ResolvedModel

    Raises
    ------
    galmorph.errors.NoModelError
        ``None`` and no default model anywhere.
    galmorph.errors.CheckpointError
        The file is not a galmorph checkpoint, or is for another GZ2 schema version.
    TypeError
        ``source`` is none of the above.
    """
    import torch

    if source is None or isinstance(source, (str, Path)) or hasattr(source, "__fspath__"):
        from galmorph.models.checkpoint import load_checkpoint
        from galmorph.paths import resolve_model_path

        source = load_checkpoint(resolve_model_path(source))
    if isinstance(source, torch.nn.Module):
        model = getattr(source, "module", source)       # DistributedDataParallel -> network
        config = getattr(model, "config", None)
        resolved = ResolvedModel(model, _bare_preprocessing(model),
                                 getattr(config, "name", type(model).__name__))
    elif isinstance(getattr(source, "model", None), torch.nn.Module) and hasattr(
            source, "preprocessing"):
        if source.schema_version != schema.SCHEMA_VERSION:
            raise CheckpointError(f"checkpoint {source.path} is for GZ2 schema "
                                  f"{source.schema_version!r}, this galmorph uses "
                                  f"{schema.SCHEMA_VERSION!r}; retrain or use the matching "
                                  f"galmorph version")
        path = None if source.path is None else Path(source.path)
        resolved = ResolvedModel(source.model, dict(source.preprocessing), source.name, path,
                                 source)
    else:
        raise TypeError(f"expected a galmorph model, Checkpoint or checkpoint path, not "
                        f"{type(source).__name__}")
    if preprocessing:
        resolved.preprocessing = {**resolved.preprocessing, **dict(preprocessing)}
    resolved.preprocessing = {"crop": resolved.preprocessing.get("crop"),
                              "size": int(resolved.preprocessing["size"])}
    return resolved
