"""Saving and loading galmorph checkpoints: plain data only, written atomically.

A checkpoint is a ``torch.save`` file holding one dict of plain data (str,
int, float, bool, None, lists, tuples, dicts and tensors): the model name and
config dict (enough to rebuild it with no flags), its ``state_dict``, the GZ2
schema version, the galmorph version, the preprocessing the model expects
(``{"crop": 224, "size": 80}``), free-form ``meta`` and, optionally, optimizer,
scheduler and training-loop state for resuming.

Weights may be stored smaller than they train (``save_checkpoint(dtype=...)``):
``torch.float16`` halves the file, and ``torch.int8`` quarters it, keeping each
weight matrix and convolution kernel as int8 with one float32 scale per output
channel (symmetric, ``w = q * scale``) and everything else (biases, norms) as
float16. Loading turns them back into the model's float32. An int8 file is
format version 2, which a galmorph that reads only version 1 refuses with
"upgrade galmorph" rather than misreading it.

It is read with ``torch.load(weights_only=True)``: a checkpoint is data and
loading one never runs code, so a checkpoint from a stranger is safe to open.
Writing goes to a temporary file in the same folder, which is fsynced and then
renamed over the target, so an interrupted save never leaves a half-written
checkpoint under the real name.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from galmorph import __version__, schema
from galmorph._util._atomic import atomic_open
from galmorph.errors import CheckpointError
from galmorph.models import ALL_MODEL_NAMES, build_model

__all__ = ["FORMAT", "FORMAT_VERSION", "Checkpoint", "save_checkpoint", "load_checkpoint",
           "update_meta",
           "sha256_of"]

#: Marker stored in every checkpoint, to tell it from other torch files.
FORMAT = "galmorph-checkpoint"
#: The newest checkpoint format this galmorph writes and reads (2 adds int8 weights).
FORMAT_VERSION = 2
# Files without int8 weights keep format 1, so a galmorph that reads only 1 still opens them.
_PLAIN_FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint (see :func:`load_checkpoint`).

    Attributes
    ----------
    model : torch.nn.Module
        Rebuilt from the stored config, weights loaded, in eval mode.
    name : str
        Model name, e.g. ``"resnet18-tailored"``.
    config : dict
        The model config as plain data (``build_model(config)`` rebuilds it).
    preprocessing : dict
        How images must be cut for this model, e.g. ``{"crop": 224, "size": 80}``.
    schema_version : str
    meta : dict
        Free-form information saved with the model (metrics, data, dates...).
    optimizer_state, scheduler_state, train_state : dict or None
        Training state for resuming, where saved.
    path : pathlib.Path
    galmorph_version : str
        The galmorph version that wrote the file.
    """

    model: torch.nn.Module
    name: str
    config: dict
    preprocessing: dict
    schema_version: str
    meta: dict = field(default_factory=dict)
    optimizer_state: dict | None = None
    scheduler_state: dict | None = None
    train_state: dict | None = None
    path: Path | None = None
    galmorph_version: str = ""


def _plain(value, where):
    """Return ``value`` as plain data that ``weights_only`` loading accepts.

    NumPy scalars become Python numbers, NumPy arrays tensors and paths
    strings; anything else that is not plain data is refused (it would make the
    checkpoint unloadable, or worse, executable).
    """
    if isinstance(value, np.generic):   # first: numpy.float64 is also a float
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor, torch.Size)):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"cannot store {where} of type {type(value).__name__} in a checkpoint: "
                    f"only plain data (numbers, strings, lists, dicts, tensors) is allowed")


def _stored(tensor, dtype):
    tensor = tensor.detach().cpu()
    return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor


def _quantized(state_dict, keep_float=()):
    """int8 weights with per-output-channel scales, other floats in float16.

    Returns ``(state_dict, scales)``: every floating tensor of two or more
    dimensions (linear weights, convolution kernels) becomes int8 ``q`` with
    ``scales[key]`` of shape ``(out_channels,)`` such that ``q * scale``
    (broadcast over the other dimensions) is within half a step of it. Keys
    starting with one of ``keep_float`` stay as they are (a finetuned model's heads).
    """
    stored, scales = {}, {}
    for key, tensor in state_dict.items():
        tensor = tensor.detach().cpu()
        if key.startswith(tuple(keep_float)):
            stored[key] = tensor
            continue
        if not tensor.is_floating_point() or tensor.dim() < 2:
            stored[key] = _stored(tensor, torch.float16)
            continue
        flat = tensor.float().reshape(tensor.shape[0], -1)
        scale = flat.abs().amax(dim=1) / 127
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero channel
        stored[key] = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8) \
            .reshape(tensor.shape)
        scales[key] = scale
    return stored, scales


def _dequantized(path, state_dict, scales):
    """The float32 weights of an int8 file; a damaged scale table is a CheckpointError."""
    if not isinstance(scales, dict):
        raise CheckpointError(f"{path} is a damaged galmorph checkpoint: int8_scales should be "
                              f"a dict")
    weights = dict(state_dict)
    for key, scale in scales.items():
        q = weights.get(key)
        if not isinstance(q, torch.Tensor) or q.dtype != torch.int8 \
                or not isinstance(scale, torch.Tensor) or not scale.is_floating_point() \
                or scale.shape != q.shape[:1]:
            raise CheckpointError(
                f"{path} is a damaged galmorph checkpoint: the int8 weight {key!r} and its "
                f"scales do not match; re-copy the file or save it again")
        weights[key] = q.float() * scale.float().reshape(-1, *([1] * (q.dim() - 1)))
    stray = [k for k, v in weights.items() if isinstance(v, torch.Tensor) and v.dtype == torch.int8]
    if stray:
        raise CheckpointError(f"{path} is a damaged galmorph checkpoint: int8 weights without "
                              f"scales ({', '.join(stray[:3])})")
    return weights


def save_checkpoint(path, model, *, preprocessing, optimizer_state=None, scheduler_state=None,
                    train_state=None, meta=None, dtype=None):
    """Write ``model`` and its context to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file (conventionally ``*.pt``); its folder is created.
    model : torch.nn.Module
        A galmorph model (it has a ``config`` dataclass with a ``name``).
        A DDP / compiled wrapper is unwrapped.
    preprocessing : dict
        What the model expects, e.g. ``{"crop": 224, "size": 80}`` (pixels).
    optimizer_state, scheduler_state, train_state : dict, optional
        ``optimizer.state_dict()``, ``scheduler.state_dict()`` and any
        training-loop state (epoch, best score, RNG states...).
    meta : dict, optional
        Free-form plain data (metrics, data source, ...).
    dtype : torch.dtype, optional
        Store the floating-point weights in this type: ``torch.float16`` for a
        file half the size, ``torch.int8`` for a quarter (per-channel scaled
        int8 weights, float16 for the rest; see the module docstring). Loading
        turns them back into the model's float32. Default: as they are.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        When ``model`` has no galmorph config or an argument holds something
        other than plain data (the offending key is named).
    """
    path = Path(path)
    model = getattr(model, "module", model)  # DistributedDataParallel
    model = getattr(model, "_orig_mod", model)  # torch.compile
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "name"):
        raise TypeError(f"cannot save {type(model).__name__}: not a galmorph model "
                        f"(no .config with a name); build it with galmorph.models.build_model")
    if dtype not in (None, torch.float32, torch.float16, torch.bfloat16, torch.int8):
        raise TypeError(f"cannot store weights as {dtype}: use torch.float16, torch.bfloat16, "
                        f"torch.int8 or None")
    if dtype == torch.int8:
        state_dict, scales = _quantized(model.state_dict(), getattr(model, "keep_float", ()))
    else:
        state_dict = {k: _stored(v, dtype) for k, v in model.state_dict().items()}
        scales = None
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if scales is not None else _PLAIN_FORMAT_VERSION,
        "model": config.name,
        "config": _plain(asdict(config), "config"),
        "state_dict": state_dict,
        "schema_version": schema.SCHEMA_VERSION,
        "galmorph_version": __version__,
        "preprocessing": _plain(dict(preprocessing), "preprocessing"),
        "meta": _plain(dict(meta or {}), "meta"),
        "optimizer_state": _plain(optimizer_state, "optimizer_state"),
        "scheduler_state": _plain(scheduler_state, "scheduler_state"),
        "train_state": _plain(train_state, "train_state"),
    }
    if scales is not None:
        payload["int8_scales"] = scales
    with atomic_open(path, "wb") as fh:
        torch.save(payload, fh)
    return path


def _read(path):
    """torch.load with weights_only, every failure turned into a CheckpointError."""
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path, or train a "
                              f"model with 'galmorph train'")
    if not path.is_file():
        found = sorted(p.name for p in path.glob("*.pt")) if path.is_dir() else []
        hint = f"; it holds {', '.join(found)}" if found else ""
        raise CheckpointError(f"checkpoint {path} is not a file{hint}")
    with open(path, "rb") as fh:
        head = fh.read(4)
    # save_checkpoint always writes torch's zip format; anything else is foreign.
    if not head:
        raise CheckpointError(f"{path} is empty (an interrupted copy?); re-copy it or save it "
                              f"again")
    if head != b"PK\x03\x04":
        if head[:1] == b"\x80":  # pickle PROTO opcode: a plain or legacy-torch pickle
            raise CheckpointError(
                f"{path} is not a galmorph checkpoint: it is a Python pickle, which galmorph "
                f"refuses to unpickle because that could run code; save models with "
                f"galmorph.models.save_checkpoint")
        raise CheckpointError(f"{path} is not a torch checkpoint file (it starts with "
                              f"{head!r}); pass a .pt file written by galmorph")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} is not a galmorph checkpoint: it holds Python objects other than plain "
            f"data, which galmorph refuses to unpickle because that could run code "
            f"({_weights_only_reason(exc)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        first = str(exc).split(". ")[0].splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path} is truncated or corrupt ({first}); re-copy it or save it "
                              f"again") from None


def _weights_only_reason(exc):
    # torch's message is long; keep its specific part ("Unsupported global: ...").
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error" in line:
            rest = line.split("WeightsUnpickler error", 1)[1].strip(" :")
            if not rest and i + 1 < len(lines):
                rest = lines[i + 1]
            return rest.split(" was not an allowed global")[0][:200]
    return lines[0][:200] if lines else type(exc).__name__


def _check_payload(path, data, expected_model):
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor)
                                                   for v in data.values()):
            what = f"a bare state dict of {len(data)} tensors"
        else:
            what = f"a {type(data).__name__} without the '{FORMAT}' marker"
        raise CheckpointError(f"{path} is not a galmorph checkpoint: it holds {what}; save "
                              f"models with galmorph.models.save_checkpoint")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} uses checkpoint format {version!r}, newer than this "
                              f"galmorph ({__version__}) reads ({FORMAT_VERSION}); upgrade galmorph")
    missing = [k for k in ("model", "config", "state_dict", "schema_version", "preprocessing")
               if k not in data]
    if missing:
        raise CheckpointError(f"{path} is an incomplete galmorph checkpoint: missing "
                              f"{', '.join(missing)}")
    wrong = [k for k in ("config", "state_dict", "preprocessing") if not isinstance(data[k], dict)]
    wrong += [k for k in ("meta", "optimizer_state", "scheduler_state", "train_state")
              if data.get(k) is not None and not isinstance(data[k], dict)]
    if wrong:
        raise CheckpointError(f"{path} is a damaged galmorph checkpoint: {', '.join(wrong)} "
                              f"should be a dict")
    name = data["model"]
    if name not in ALL_MODEL_NAMES:
        raise CheckpointError(f"{path} holds an unknown model {name!r}; this galmorph knows "
                              f"{', '.join(ALL_MODEL_NAMES)}")
    if expected_model is not None and name != expected_model:
        raise CheckpointError(f"{path} holds a {name!r} model, but {expected_model!r} was "
                              f"expected")
    if data["schema_version"] != schema.SCHEMA_VERSION:
        raise CheckpointError(
            f"{path} was trained for GZ2 schema version {data['schema_version']!r}, but this "
            f"galmorph uses {schema.SCHEMA_VERSION!r}; its 37 outputs would be misread. Use "
            f"the galmorph version that wrote it ({data.get('galmorph_version', 'unknown')}) "
            f"or retrain")


def update_meta(path, out, **entries):
    """Copy the checkpoint at ``path`` to ``out`` with ``entries`` added to its ``meta``.

    Everything else (weights as stored, int8 scales, preprocessing) is kept byte for
    byte in value; ``out`` is written atomically and may be ``path`` itself.

    Parameters
    ----------
    path, out : path-like
    **entries
        Plain data (see :func:`save_checkpoint`'s ``meta``), such as
        ``trust=calibration.to_dict()``.
    """
    data = _read(Path(path))
    data["meta"] = {**dict(data.get("meta") or {}), **_plain(entries, "meta")}
    with atomic_open(Path(out), "wb") as fh:
        torch.save(data, fh)
    return Path(out)


def sha256_of(path):
    """Hex sha256 of a file's bytes."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_shipped(path):
    """The shipped model's file must match the sha256 its card records."""
    import json

    from galmorph.paths import shipped_card_path, shipped_model_path

    shipped = shipped_model_path()
    if shipped is None or path.resolve() != shipped.resolve():
        return
    card = shipped_card_path()
    try:
        expected = json.loads(card.read_text())["sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"the shipped model's card {card} is missing or unreadable "
                              f"({type(exc).__name__}); reinstall galmorph") from None
    actual = sha256_of(path)
    if actual != expected:
        raise CheckpointError(f"the shipped model {path} is damaged: its sha256 is "
                              f"{actual[:16]}..., its card says {expected[:16]}...; "
                              f"reinstall galmorph")


def load_checkpoint(path, map_location="cpu", expected_model=None):
    """Load a checkpoint written by :func:`save_checkpoint`; never runs code from the file.

    Parameters
    ----------
    path : str or os.PathLike
    map_location : str or torch.device
        Where to put the model (the training state stays on the CPU).
    expected_model : str, optional
        Refuse a checkpoint of any other model (e.g. ``"resnet18-tailored"``).

    Returns
    -------
    Checkpoint
        With ``model`` rebuilt from the stored config, weights loaded, in eval mode.

    Raises
    ------
    CheckpointError
        For a missing, truncated or foreign file, another model than
        ``expected_model``, weights that do not fit the stored config, or
        another GZ2 schema version; the message names the file.

    Examples
    --------
    >>> ckpt = load_checkpoint("runs/best.pt")  # doctest: +SKIP
    >>> fractions = ckpt.model(images)  # (B, 37)  # doctest: +SKIP
    """
    path = Path(path)
    data = _read(path)
    _check_shipped(path)
    _check_payload(path, data, expected_model)
    config = dict(data["config"])
    config["name"] = data["model"]
    try:
        model = build_model(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the {data['model']!r} model from its "
                              f"stored config ({exc})") from None
    scales = data.get("int8_scales")
    weights = _dequantized(path, data["state_dict"], {} if scales is None else scales)
    try:
        model.load_state_dict(weights, strict=True)
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        detail = " ".join(str(exc).split())
        raise CheckpointError(f"{path}: the weights do not fit the stored {data['model']!r} "
                              f"config ({detail[:400]})") from None
    model.to(map_location).eval()
    return Checkpoint(
        model=model, name=data["model"], config=config,
        preprocessing=dict(data["preprocessing"]), schema_version=data["schema_version"],
        meta=dict(data.get("meta") or {}), optimizer_state=data.get("optimizer_state"),
        scheduler_state=data.get("scheduler_state"), train_state=data.get("train_state"),
        path=path, galmorph_version=data.get("galmorph_version", ""))
