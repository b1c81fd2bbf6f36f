"""The disk cache of int8 models (see :mod:`galmorph.inference.quantize`, "Caching").

A model quantized with the default calibration is saved as a TorchScript archive under
:func:`galmorph.paths.cache_dir` ``("int8")``, named by a hash of what it was made from
(a checkpoint file's sha256, or the weights and the preprocessing), the recipe and
torch's version, so that a later process loads it ready to run instead of quantizing
again. A TorchScript archive, not a pickle: loading runs no Python code from the file.
torch 2.13 marks ``torch.jit`` deprecated in favour of ``torch.export``; where a later
torch cannot save or load these archives, the cache is simply not used.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings

import torch

from galmorph._util._atomic import write_text_atomic

__all__ = ["disk_path", "file_sha", "weights_sha", "load", "save", "CALIBRATION", "int8_engine",
           "use_engine"]

#: Bump when the quantization recipe changes: older files on disk are then not used.
RECIPE = "fx-x86-qconfig-v4-details-trust"
#: The default calibration, which is the only one kept on disk.
CALIBRATION = "the example galaxies (galmorph.data.examples)"


def int8_engine(model=None):
    """The quantized engine that packs and runs a model's int8 form.

    oneDNN where this torch has it: on a 2-core AVX2 EPYC it ran the shipped ensemble
    2.27x as fast as fp32, against 1.93x for the "x86" engine's FBGEMM kernels, at the
    same RMSE (BENCHMARKS.md). But its kernels gave different outputs from one call to
    the next for convolutions of fewer than 16 output channels (tiny test networks), so
    a ``model`` with such a layer gets the deterministic "x86" engine.
    """
    if "onednn" not in torch.backends.quantized.supported_engines:
        return "x86"
    if model is not None and any(isinstance(m, torch.nn.Conv2d) and m.out_channels < 16
                                 for m in model.modules()):
        return "x86"
    return "onednn"


def use_engine(engine):
    """Make ``engine`` torch's quantized engine (a global setting); returns it."""
    if torch.backends.quantized.engine != engine:
        torch.backends.quantized.engine = engine
    return engine


def file_sha(path):
    from galmorph.models.checkpoint import sha256_of

    return sha256_of(path)


def weights_sha(model):
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():   # the weights, as fp32 runs them
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16
                      else t.view(torch.int16).numpy().tobytes())
    return digest.hexdigest()


def disk_path(what):
    """Where the disk cache keeps the int8 form of ``what`` (a checkpoint file's sha256, or
    the weights' and the preprocessing): named by its hash with this module's recipe and
    torch's version. None where there is no cache folder."""
    from galmorph.paths import cache_dir

    name = hashlib.sha256(f"{RECIPE} torch {torch.__version__} {CALIBRATION} "
                          f"{what}".encode()).hexdigest()
    try:
        return cache_dir("int8") / f"{name[:40]}.pt"
    except OSError:
        return None


def load(path):
    """``(TorchScript module, info dict)`` saved at ``path``, or None (absent or unreadable:
    the caller quantizes again)."""
    if path is None or not path.is_file():
        return None
    try:
        info = json.loads(path.with_suffix(".json").read_text())
        trust = path.with_suffix(".trust")
        if info.pop("has_trust", False):   # arrays: torch's plain-data format, not JSON
            info["trust"] = torch.load(str(trust), map_location="cpu", weights_only=True)
        # The weights are packed for the engine current as they load: the one they ran on.
        use_engine(info["backend"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see the module's note
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception:  # damaged, or a torch without TorchScript: quantize again
        return None
    return scripted.eval(), info


def save(path, quantized, example, info):
    """Trace ``quantized`` and write it atomically, with ``info`` and its calibration beside
    it (``.json``); a failure only costs the next process the quantization again."""
    x = torch.from_numpy(example).float().div_(255.0).contiguous(
        memory_format=torch.channels_last)                                  # (2, 3, H, W)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # tracer and deprecation notes (module docstring)
            with torch.inference_mode():
                # forward_details too: the members' outputs and features (galmorph.trust).
                scripted = torch.jit.trace_module(
                    quantized.eval(), {"forward": x, "forward_details": x}, check_trace=False)
            torch.jit.save(scripted, str(tmp))
        info = dict(info)
        trust = info.pop("trust", None)
        if trust is not None:
            from galmorph.models.checkpoint import _plain

            torch.save(_plain(trust, "trust"), str(path.with_suffix(".trust")))
            info["has_trust"] = True   # a missing .trust file then makes the entry a miss
        write_text_atomic(path.with_suffix(".json"),
                          json.dumps({**quantized.calibration_, **info}))
        os.replace(tmp, path)   # last: a .pt file always has its .json
    except Exception:  # a full disk, or a torch without TorchScript: nothing kept
        tmp.unlink(missing_ok=True)
