"""int8 inference on CPUs: post-training static quantization with PyTorch's x86 backend.

:func:`quantize_model` turns a float galmorph model into a
:class:`QuantizedModel`: the convolutional backbone (``forward_features``) runs
in int8, the head (``forward_head``: the linear layers and the GZ2 tree
normalisation, about 0.1 % of the multiply-adds) stays in float32, so the tree
sums are exact to float rounding as in fp32. The steps are those of
``torch.ao.quantization``'s FX graph mode (``prepare_fx`` / ``convert_fx``
with ``get_default_qconfig_mapping("x86")``): conv + batch norm + ReLU are
fused, the weights are quantized per output channel (symmetric int8) and the
activations per tensor (uint8, ranges from histogram observers run over
calibration images). The x86 qconfig keeps activations to 7 bits
(``reduce_range``), which is what CPUs without VNNI need so that the
``vpmaddubsw`` pair sums cannot saturate; results are then the same on AVX2
and AVX-512 VNNI machines. The weights are packed for, and run by, oneDNN's
kernels where torch has them (``torch.backends.quantized.engine = "onednn"``),
else the "x86" engine's: on a 2-core AVX2-only EPYC oneDNN ran the shipped
ensemble 2.27x as fast as fp32, against 1.93x, with the same outputs to 1e-3
(oneDNN's own qconfig, with 8-bit activations, saturates on such a CPU: the
largest change grew from 0.06 to 0.18, so it is not used).

Calibration
    By default the 24 example galaxies shipped with galmorph
    (:func:`galmorph.data.examples.example_galaxies`), cut as the model
    expects: always at hand, no shared data needed, and the same in every
    process. On the shipped model's validation split they change the RMSE by
    about 1e-4 (calibrating on 256 training galaxies: about 3e-4; see
    BENCHMARKS.md). Any images can be passed instead (``calibration=``).
Caching
    Quantizing and calibrating costs seconds (the shipped five-member ensemble:
    about 7 s on 2 AVX2 cores), more than fp32 spends on a few hundred
    galaxies. So a model quantized with the default calibration is kept on disk,
    as a TorchScript archive under :func:`galmorph.paths.cache_dir` ``("int8")``,
    named by the sha256 of its float weights, the preprocessing, this module's
    recipe and torch's version; a later process loads it ready to run (about
    half a second). Within a process, the same model object with unchanged
    weights is quantized or loaded only once. :func:`clear_cache` forgets both.

The precision is ``"int8"`` in :func:`galmorph.runtime.resolve_precision`;
where the CPU cannot run the x86 kernels (:func:`galmorph.runtime.cpu_supports_int8`)
prediction falls back to fp32 with a warning, as bf16 does.

References
----------
Jacob B. et al., 2018, CVPR, "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference".
"""
from __future__ import annotations

import contextlib
import copy
import threading
import warnings
import weakref

import numpy as np
import torch
from torch import nn

from galmorph.errors import ParameterError
from galmorph.inference import _int8_disk as disk
from galmorph.models import DEFAULT_PREPROCESSING, preprocessing_of
from galmorph.models.resolve import network_of

__all__ = ["QuantizedModel", "quantize_model", "calibration_images", "cached_int8",
           "clear_cache", "DEFAULT_CALIBRATION"]

#: What ``calibration=None`` uses.
DEFAULT_CALIBRATION = disk.CALIBRATION
_QCONFIG = "x86"   # the observers: 7-bit activations, per-channel int8 weights
_CAL_BATCH = 64
_CACHE = weakref.WeakKeyDictionary()   # float model -> (fingerprint, QuantizedModel)
_LOCK = threading.Lock()               # threads of one process (Dask workers) quantize once


@contextlib.contextmanager
def _quiet():
    # torch.ao.quantization announces its move to torchao; the API used here still works.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions")
        warnings.filterwarnings("ignore", message=r".*reduce_range will be deprecated")
        yield


class _Features(nn.Module):
    """``model.forward_features`` (or the whole ``forward``) as a module FX can trace."""

    def __init__(self, model, method="forward_features"):
        super().__init__()
        self.m, self.method = model, method

    def forward(self, x):
        return getattr(self.m, self.method)(x)


class _Head(nn.Module):
    """``model.forward_head``, kept in float32."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, features):
        return self.m.forward_head(features)


class _Leaves(torch.fx.Tracer):
    # Every submodule stays whole (the tree normalisation too): the traced head keeps just
    # the modules forward_head calls, not a second copy of the backbone.
    def is_leaf_module(self, module, qualname):
        return True


def _head(model):
    root = _Head(copy.deepcopy(model).float().cpu().eval())
    return torch.fx.GraphModule(root, _Leaves().trace(root), class_name="FloatHead").eval()


class QuantizedModel(nn.Module):
    """A galmorph model with an int8 backbone and a float32 head (from :func:`quantize_model`).

    Parameters
    ----------
    features : torch.fx.GraphModule
        The converted int8 backbone, ``(B, 3, H, W)`` float images in [0, 1] ->
        ``(B, F)``; for a model without ``forward_head`` its whole ``forward``.
    head : torch.nn.Module
        Applied to the output of ``features`` in float32 (:class:`torch.nn.Identity` where
        ``features`` is the whole model).
    config : dataclass or None
        The float model's config.
    calibration : dict
        What it was calibrated on (``source``, ``n_images``, ``backend``); kept as
        ``calibration_``.

    Attributes
    ----------
    features : torch.fx.GraphModule
        ``(B, 3, H, W)`` float images in [0, 1] -> ``(B, F)`` float features, int8 inside.
    head : torch.nn.Module
        ``(B, F)`` -> ``(B, 37)`` fractions in float32 (the float model's ``forward_head``).
    config : dataclass
        The float model's config (``name`` and ``input_size`` are read from it).
    calibration_ : dict
        What it was calibrated on: ``source``, ``n_images`` and ``backend``.
    """

    is_quantized = True

    def __init__(self, features, head, config, calibration):
        super().__init__()
        self.features, self.head, self.config = features, head, config
        self.calibration_ = calibration

    def _engine(self):
        engine = self.calibration_.get("backend")
        if engine and torch.backends.quantized.engine != engine:
            # The engine is global: another model may have set its own since.
            torch.backends.quantized.engine = engine

    def forward(self, x):  # (B, 3, H, W) -> (B, 37)
        self._engine()
        # A TorchScript archive loaded from the disk cache runs as traced: its profiling
        # executor would spend a second optimising the first calls, for nothing in int8.
        with torch.jit.optimized_execution(False):
            return self.head(self.features(x))

    def forward_details(self, x):
        """``(outputs (M, B, 37), features (B, F))``, as the float model's
        ``forward_details`` gives them (M members, or 1)."""
        self._engine()
        inner = getattr(self.features, "forward_details", None)  # an ensemble, or an archive
        with torch.jit.optimized_execution(False):
            if inner is not None and isinstance(self.head, nn.Identity):
                return inner(x)
            features = self.features(x)                                 # (B, F)
            return self.head(features).unsqueeze(0), features

    def extra_repr(self):
        c = self.calibration_
        return (f"int8 backbone ({c['backend']}), float32 head; calibrated on {c['n_images']} "
                f"images from {c['source']}")


def calibration_images(source=None, *, crop=DEFAULT_PREPROCESSING["crop"],
                       size=DEFAULT_PREPROCESSING["size"], limit=256, seed=0):
    """Images to calibrate the int8 activation ranges on, ``uint8 (N, 3, size, size)``.

    Parameters
    ----------
    source : None, array, PreparedData, path or list of paths
        ``None``: the example galaxies shipped with galmorph. A ``uint8
        (N, 3, size, size)`` array or a :class:`~galmorph.data.cache.PreparedData`
        (its ``images``). Image files, folders or globs (cut with ``crop`` and
        ``size``).
    crop, size : int
        Central square kept and output side, pixels (the model's preprocessing; default
        :data:`galmorph.models.DEFAULT_PREPROCESSING`, 224 and 80).
    limit : int
        At most this many images, drawn at random (with ``seed``) from a larger source.
    seed : int or None
        For that draw.

    Returns
    -------
    images : numpy.ndarray, uint8, shape (N, 3, size, size)
    what : str
        A description of the source, for ``QuantizedModel.calibration_``.
    """
    from galmorph.data.images import crop_and_resize
    from galmorph.inference._arrays import check_image_array

    if source is None:
        from galmorph.data.examples import example_galaxies

        files, what = list(example_galaxies()["file"]), DEFAULT_CALIBRATION
    elif hasattr(source, "images") and hasattr(source, "meta"):
        files, what = None, f"prepared data {getattr(source, 'path', '')}"
        source = source.images
    elif isinstance(source, np.ndarray):
        files, what = None, "an image array"
    else:
        from galmorph.data.catalogs import find_images

        files = find_images(source)                  # a DataError names what held no image
        what = f"{len(files)} image files"
    rng = np.random.default_rng(seed)
    if files is not None:
        if len(files) > limit:
            files = [files[i] for i in np.sort(rng.choice(len(files), limit, replace=False))]
        return np.stack([crop_and_resize(f, crop=crop, size=size) for f in files]), what
    check_image_array(source, "calibration images")
    index = np.arange(len(source))
    if len(index) > limit:
        index = np.sort(rng.choice(len(index), limit, replace=False))
    if len(index) == 0:
        raise ParameterError("calibration images: the array is empty; pass at least one image")
    return np.asarray(source[index], dtype=np.uint8), what


def _fingerprint(model):
    # Storage and in-place version of every tensor: changes when the weights are trained on.
    return tuple((k, v.data_ptr(), v._version) for k, v in model.state_dict().items())


def _unwrap(model):
    """``(the network, the checkpoint's preprocessing dict or None)``."""
    preprocessing = getattr(model, "preprocessing", None)
    return network_of(model), preprocessing if isinstance(preprocessing, dict) else None


def _check_cpu(device):
    from galmorph.runtime import cpu_supports_int8

    if device is not None and torch.device(device).type != "cpu":
        raise ParameterError(f"int8 models run on the CPU only, not on {device}; use --device "
                             f"cpu (device='cpu'), or --precision bf16 on a GPU")
    if not cpu_supports_int8():
        raise ParameterError("this machine cannot run PyTorch's x86 int8 kernels (an x86-64 CPU "
                             "with AVX2 and torch.ao.quantization are needed); use --precision "
                             "fp32")


class _MeanOf(nn.Module):
    """The mean of quantized members' outputs: an ensemble in int8, each member on its own
    (one graph over all of them would concatenate features of different scales)."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):  # (B, 3, H, W) -> (B, 37)
        return torch.stack([member(x) for member in self.members]).mean(0)

    def forward_details(self, x):  # -> ((M, B, 37), (B, sum F))
        outputs, features = zip(*(member.forward_details(x) for member in self.members))
        return torch.cat(outputs, 0), torch.cat(features, 1)


def _build(model, images, what, engine=None):
    """FX graph-mode post-training quantization of ``model.forward_features``, or of each
    member of an ensemble (all on one engine, as a saved ensemble loads on one)."""
    engine = engine or disk.int8_engine(model)
    if isinstance(getattr(model, "members", None), nn.ModuleList):
        members = [_build(member, images, what, engine) for member in model.members]
        info = {**members[0].calibration_, "members": len(members)}
        return QuantizedModel(_MeanOf(members), nn.Identity(), getattr(model, "config", None),
                              info)
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    disk.use_engine(engine)
    has_head = hasattr(model, "forward_features") and hasattr(model, "forward_head")
    float_model = copy.deepcopy(model).float().cpu().eval()
    body = _Features(float_model, "forward_features" if has_head else "forward").eval()
    x = torch.from_numpy(images).float().div_(255.0)                       # (N, 3, H, W)
    x = x.contiguous(memory_format=torch.channels_last)
    with _quiet():
        try:
            prepared = prepare_fx(body, get_default_qconfig_mapping(_QCONFIG), (x[:2],))
        except Exception as exc:  # torch.fx raises many types for code it cannot trace
            name = getattr(getattr(model, "config", None), "name", type(model).__name__)
            raise ParameterError(f"cannot quantize model {name}: torch.fx cannot trace it "
                                 f"({type(exc).__name__}: {str(exc)[:200]}); use --precision "
                                 f"fp32 or bf16") from None
        with torch.inference_mode():
            for start in range(0, len(x), _CAL_BATCH):
                prepared(x[start:start + _CAL_BATCH])
        features = convert_fx(prepared)
    head = _head(model) if has_head else nn.Identity()
    info = {"source": what, "n_images": int(len(x)), "backend": engine, "qconfig": _QCONFIG}
    return QuantizedModel(features, head, getattr(model, "config", None), info)


def quantize_model(model, calibration=None, *, preprocessing=None, device="cpu", limit=256,
                   seed=0):
    """int8 version of a galmorph model, for CPU inference.

    Parameters
    ----------
    model : torch.nn.Module, Checkpoint or QuantizedModel
        A float galmorph model (any of :data:`galmorph.models.MODEL_NAMES`, or an
        ensemble of them, quantized member by member) or a loaded checkpoint. A
        :class:`QuantizedModel` is returned as is.
    calibration : None, array, PreparedData, path or list of paths
        Images the activation ranges are measured on (see
        :func:`calibration_images`). ``None`` (default) uses the shipped example
        galaxies, and the result is cached for this process: the same model
        object with unchanged weights is quantized only once.
    preprocessing : dict, optional
        ``{"crop": ..., "size": ...}`` to cut calibration files with; default
        the checkpoint's, else the model's (:func:`galmorph.models.preprocessing_of`).
    device : str or torch.device
        Must be the CPU (int8 kernels run there only).
    limit, seed : int
        At most ``limit`` calibration images, drawn with ``seed`` from a larger source.

    Returns
    -------
    QuantizedModel
        ``(B, 3, H, W)`` float images in [0, 1] -> ``(B, 37)`` float32 fractions,
        in eval mode; pass channels-last batches for speed (``predict_arrays``
        does). ``torch.backends.quantized.engine`` is set to ``"onednn"`` (or
        ``"x86"`` where torch lacks it).

    Raises
    ------
    galmorph.errors.ParameterError
        For a device other than the CPU, a CPU without the x86 int8 kernels, or
        a model that ``torch.fx`` cannot trace.

    Examples
    --------
    >>> from galmorph.models.checkpoint import load_checkpoint      # doctest: +SKIP
    >>> from galmorph.paths import shipped_model_path               # doctest: +SKIP
    >>> q = quantize_model(load_checkpoint(shipped_model_path()))   # doctest: +SKIP
    >>> predict_arrays(q, images).shape                             # doctest: +SKIP
    (N, 37)
    """
    if getattr(model, "is_quantized", False):
        _check_cpu(device)
        return model
    # A checkpoint file cut as it says names its int8 form on disk (see cached_int8).
    source = None
    if not isinstance(model, nn.Module) and getattr(model, "path", None) is not None \
            and not preprocessing:
        source = (model.path, {"name": getattr(model, "name", None),
                               "preprocessing": dict(model.preprocessing),
                               # galmorph.trust's calibration, so that a model loaded
                               # from the disk cache has it without the checkpoint.
                               "trust": (getattr(model, "meta", None) or {}).get("trust")})
    model, ckpt_prep = _unwrap(model)
    _check_cpu(device)
    config = getattr(model, "config", None)
    default = preprocessing_of(getattr(config, "name", None), getattr(config, "input_size", None))
    prep = dict(preprocessing or ckpt_prep or {})
    crop = prep.get("crop", default["crop"])
    size = int(prep.get("size") or default["size"])
    if calibration is not None:
        images, what = calibration_images(calibration, crop=crop, size=size, limit=limit,
                                          seed=seed)
        return _build(model, images, what)
    key = (_fingerprint(model), crop, size)
    with _LOCK:
        cached = _CACHE.get(model)
        if cached is None or cached[0] != key:
            cached = _CACHE[model] = (key, _default_calibration(model, crop, size, source))
    return cached[1]


def _default_calibration(model, crop, size, source=None):
    """Quantized on the example galaxies: from the disk cache, or built and saved there.

    ``source`` is ``(checkpoint file, what to record of it)`` where the model is that
    file's, unchanged.
    """
    if source is not None:
        path, info = disk.disk_path(f"file {disk.file_sha(source[0])}"), source[1]
    else:
        path, info = disk.disk_path(f"crop {crop} size {size} {disk.weights_sha(model)}"), {}
    loaded = disk.load(path)
    if loaded is not None:
        return QuantizedModel(loaded[0], nn.Identity(), getattr(model, "config", None), loaded[1])
    images, what = calibration_images(None, crop=crop, size=size)
    quantized = _build(model, images, what)
    if path is not None:
        disk.save(path, quantized, images[:2], info)
    return quantized


def cached_int8(checkpoint_path):
    """The int8 form of a checkpoint file, cut as the file says, from the disk cache.

    Parameters
    ----------
    checkpoint_path : path-like

    Returns
    -------
    QuantizedModel or None
        ``None`` where the cache does not hold it (``quantize_model`` of the loaded
        checkpoint puts it there). It loads without building the float model, the
        quickest way to a model in a fresh process; its ``config`` is ``None``, and
        its ``calibration_`` also records the checkpoint's ``name`` and
        ``preprocessing``.
    """
    loaded = disk.load(disk.disk_path(f"file {disk.file_sha(checkpoint_path)}"))
    return None if loaded is None else QuantizedModel(loaded[0], nn.Identity(), None, loaded[1])


def clear_cache(disk=False):
    """Forget the int8 models quantized so far in this process; with ``disk=True`` also
    delete the ones kept on disk."""
    _CACHE.clear()
    if disk:
        from galmorph.paths import cache_dir

        for path in cache_dir("int8").glob("*.pt"):
            for part in (path, path.with_suffix(".json"), path.with_suffix(".trust")):
                part.unlink(missing_ok=True)
