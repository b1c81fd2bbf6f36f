"""Where and how fast to run: device choice, mixed precision and memory layout.

Three decisions are taken here, once, for training and inference alike:

Device
    :func:`resolve_device` -- ``"auto"`` picks CUDA when available, else the CPU.
Precision
    :func:`resolve_precision` -- ``"auto"`` picks bfloat16 where the hardware
    computes it natively (CPUs with AVX-512 BF16 or AMX, CUDA GPUs of compute
    capability >= 8.0) and float32 elsewhere; :func:`autocast` applies it. bf16
    keeps float32's exponent range, so unlike fp16 it needs no loss scaling;
    fp16 is offered for older GPUs (training then needs a ``GradScaler``).
    ``"int8"`` (inference only, never chosen by ``"auto"``) runs the network
    quantized with PyTorch's x86 backend (:mod:`galmorph.inference.quantize`)
    where :func:`cpu_supports_int8` says the CPU can.
    Where a requested precision is not supported the choice falls back to
    fp32 with a warning rather than running an emulated, slower path.
Memory layout
    :func:`maybe_channels_last` -- channels_last on the CPU and for half
    precision on CUDA; see :func:`channels_last_helps` for the measurements.
"""
from __future__ import annotations

import contextlib
import functools
import warnings

import torch

from galmorph._util._precisions import ALIASES as _ALIASES
from galmorph._util._precisions import PRECISIONS  # the names, torch-free; re-exported here
from galmorph.errors import ParameterError

__all__ = ["PRECISIONS", "DeviceError", "resolve_device", "cpu_supports_bf16", "cpu_supports_int8",
           "resolve_precision", "autocast_dtype", "autocast", "channels_last_helps",
           "maybe_channels_last"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class DeviceError(ParameterError):
    """The device asked for does not exist on this machine."""


def resolve_device(device="auto"):
    """The ``torch.device`` to run on.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ``"mps"`` ...

    Raises
    ------
    DeviceError
        (a ``GalmorphError`` and a ``ValueError``) when CUDA (or MPS) is asked for
        but not available, or the name is unknown.
    """
    if device is None or (isinstance(device, str) and device.lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N' "
                         f"({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} requested but CUDA is not available on this "
                              f"machine (torch {torch.__version__}); use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps")
                                  and torch.backends.mps.is_available()):
        raise DeviceError(f"device {device!r} requested but MPS is not available")
    return dev


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.lru_cache(maxsize=None)
def cpu_supports_bf16():
    """True when this CPU computes bfloat16 natively and torch's bf16 autocast works.

    Checks the CPU flags (``avx512_bf16`` or ``amx_bf16``, read from
    ``/proc/cpuinfo``; other systems report False), that torch dispatches to
    its AVX-512 kernels (not so where ``ATEN_CPU_CAPABILITY=avx2`` caps them:
    bf16 would then be emulated, slower than fp32) and then runs a small
    matmul under CPU bf16 autocast. The result is cached.
    """
    if not set(_CPU_BF16_FLAGS) & _cpu_flags():
        return False
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")()
    if "AVX512" not in str(capability).upper():
        return False
    try:
        a = torch.ones(8, 8)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = a @ a
        return out.dtype == torch.bfloat16 and bool(torch.all(out == 8))
    except (RuntimeError, TypeError):
        return False


@functools.lru_cache(maxsize=None)
def cpu_supports_int8():
    """True when this machine runs PyTorch's x86 int8 kernels (FBGEMM / oneDNN).

    Needs an x86-64 CPU with at least AVX2 (torch's own dispatch level,
    :func:`torch.backends.cpu.get_cpu_capability`), the ``x86`` quantized
    engine in this torch build and ``torch.ao.quantization``; then a small
    int8 matrix product is run. The result is cached.
    """
    import importlib
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        if "x86" not in torch.backends.quantized.supported_engines:
            return False
        if not torch.backends.cpu.get_cpu_capability().startswith("AVX"):  # AVX2, AVX512
            return False
        importlib.import_module("torch.ao.quantization.quantize_fx")  # what quantize.py uses
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old, torch.backends.quantized.engine = torch.backends.quantized.engine, "x86"
            try:
                w = torch.quantize_per_tensor(torch.ones(4, 4), 0.1, 0, torch.qint8)
                x = torch.quantize_per_tensor(torch.ones(2, 4), 0.1, 0, torch.quint8)
                y = torch.ops.quantized.linear(x, torch.ops.quantized.linear_prepack(w, None),
                                               0.1, 0)
            finally:
                torch.backends.quantized.engine = old
        return bool(torch.allclose(y.dequantize(), torch.full((2, 4), 4.0)))
    except (RuntimeError, ImportError, AttributeError, TypeError):
        return False


def _gpu_supports(device, precision):
    if precision == "bf16":
        return torch.cuda.is_bf16_supported() and torch.cuda.get_device_capability(device)[0] >= 8
    return True  # fp16 runs on every CUDA device torch supports


def resolve_precision(device, precision="auto", *, inference=False):
    """Choose ``"bf16"``, ``"fp16"``, ``"fp32"`` or ``"int8"`` for ``device``.

    Parameters
    ----------
    device : str or torch.device
    precision : str
        ``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"`` or ``"int8"`` (aliases such as
        ``"bfloat16"``, ``"float32"``, ``"16-mixed"`` are accepted).
    inference : bool
        True for prediction, which accepts ``"int8"``; training refuses it with
        a :class:`~galmorph.errors.ParameterError`.

    Returns
    -------
    str
        ``"auto"`` gives bf16 on CPUs that support it natively and on GPUs with
        bf16, fp32 otherwise. An explicit half precision the device cannot run
        natively (fp16 on a CPU, bf16 on an old GPU or CPU) falls back to fp32
        with a ``UserWarning``; so does int8 off the CPU or where
        :func:`cpu_supports_int8` is False.
    """
    device = torch.device(device) if not isinstance(device, torch.device) else device
    key = str(precision).lower()
    if key != "auto" and key not in _ALIASES:
        raise ValueError(f"unknown precision {precision!r}; use 'auto', 'bf16', 'fp16', 'fp32' "
                         f"or 'int8'")
    if key == "auto":
        if device.type == "cuda":
            return "bf16" if _gpu_supports(device, "bf16") else "fp32"
        if device.type == "cpu":
            return "bf16" if cpu_supports_bf16() else "fp32"
        return "fp32"
    wanted = _ALIASES[key]
    if wanted == "fp32":
        return wanted
    if wanted == "int8":
        return _resolve_int8(device, inference)
    if device.type == "cuda":
        ok = _gpu_supports(device, wanted)
    elif device.type == "cpu":
        ok = wanted == "bf16" and cpu_supports_bf16()
    else:
        ok = False
    if not ok:
        warnings.warn(f"{wanted} is not supported natively on {device}; using fp32",
                      stacklevel=2)
        return "fp32"
    return wanted


def _resolve_int8(device, inference):
    if not inference:
        raise ParameterError("precision int8 is for prediction only (galmorph predict, classify, "
                             "evaluate); train with --precision auto, bf16 or fp32")
    if device.type != "cpu":
        warnings.warn(f"int8 runs on the CPU only, not on {device}; using fp32 (bf16 is the "
                      f"fast choice on GPUs)", stacklevel=3)
        return "fp32"
    if not cpu_supports_int8():
        warnings.warn("int8 is not supported on this CPU (PyTorch's x86 int8 kernels need an "
                      "x86-64 CPU with AVX2); using fp32", stacklevel=3)
        return "fp32"
    return "int8"


def autocast_dtype(precision):
    """torch dtype of a resolved precision (``None`` for fp32)."""
    return _DTYPES.get(_ALIASES.get(str(precision).lower(), precision))


def autocast(device, precision):
    """Context manager running the enclosed code in ``precision`` on ``device``.

    A no-op (``contextlib.nullcontext``) for fp32. Give an already resolved
    precision (see :func:`resolve_precision`); ``"auto"`` is resolved here.

    Parameters
    ----------
    device : str or torch.device
        Where the code runs; a string is resolved by :func:`resolve_device`
        (``"auto"`` included).
    precision : str
        ``"bf16"`` or ``"fp16"`` (or an alias) autocasts to that dtype; ``"auto"``
        is resolved for ``device``; anything else (``"fp32"``, ``"int8"``) is a no-op.

    Returns
    -------
    context manager
        ``torch.autocast`` for ``device.type`` and the half-precision dtype, or
        ``contextlib.nullcontext()``.

    Examples
    --------
    >>> import torch
    >>> with autocast("cpu", "fp32"):
    ...     y = torch.ones(2, 2) @ torch.ones(2, 2)
    >>> y.dtype
    torch.float32
    """
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    if str(precision).lower() == "auto":
        precision = resolve_precision(device, "auto")
    dtype = autocast_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def channels_last_helps(device, precision="fp32"):
    """The rule for when the channels-last (NHWC) memory layout speeds up convolutions.

    On the CPU, oneDNN's convolutions work in NHWC and otherwise reorder every
    activation. Measured per CPU second on an AVX-512 BF16 AMD EPYC at 80x80
    pixels, batch 64 (``benchmarks/channels_last.py --threads 1``),
    channels_last made resnet18 and resnet18-tailored 7-30% faster in fp32
    and bf16, for inference and training steps alike, and the small CNN
    1.35-1.9x faster. So the rule is: always on the CPU. On CUDA it pays off
    with half precision (tensor cores want NHWC); elsewhere the default
    layout is kept.
    Results are the same in either layout, only speed differs.

    Parameters
    ----------
    device : str or torch.device
        A concrete device (``"cpu"``, ``"cuda:0"`` ...), not ``"auto"``.
    precision : str
        The resolved precision, or an alias of one (default ``"fp32"``).

    Returns
    -------
    bool
        True on the CPU, and on CUDA with ``"bf16"`` or ``"fp16"``; False otherwise.
    """
    device = torch.device(device) if not isinstance(device, torch.device) else device
    precision = _ALIASES.get(str(precision).lower(), precision)
    if device.type == "cuda":
        return precision in ("bf16", "fp16")
    return device.type == "cpu"


def maybe_channels_last(model, x=None, device="cpu", precision="fp32"):
    """Convert ``model`` (and batch ``x``) to channels_last where that helps.

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor, optional
        A (B, C, H, W) batch; returned converted alongside the model.
    device, precision
        As resolved by :func:`resolve_device` / :func:`resolve_precision`.

    Returns
    -------
    (model, x)
        The same objects, converted in place (model) or copied (x) when
        :func:`channels_last_helps` says so. Results are identical either way.
    """
    if channels_last_helps(device, precision):
        model = model.to(memory_format=torch.channels_last)
        if x is not None and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
    return model, x
