"""A model loaded for prediction, in the precision that pays on this device.

``precision="auto"`` on a CPU without native bf16 (an AVX2-only CPU, such as the
AMD EPYC galmorph is measured on) picks int8 where it pays: where the int8 form of
the model is already in the disk cache (:mod:`galmorph.inference.quantize`), so that
it loads ready to run, or for a job of at least :data:`INT8_AUTO_MIN_IMAGES` images,
where quantizing once (seconds) costs less than int8 saves; that first job also fills
the cache for the next. Elsewhere ``"auto"`` is :func:`galmorph.runtime.resolve_precision`'s:
bf16 where the hardware runs it natively, else fp32.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["INT8_AUTO_MIN_IMAGES", "choose_precision", "load_for_inference", "trust_meta"]

#: Images from which ``"auto"`` quantizes a model that the disk cache does not hold yet:
#: quantizing the shipped ensemble costs about 7 s on 2 AVX2 cores, and int8 saves about
#: 5 ms per image there (BENCHMARKS.md, "int8").
INT8_AUTO_MIN_IMAGES = 2000


def choose_precision(device, precision="auto", *, n_images=None, int8_ready=False):
    """The precision to predict in: ``"bf16"``, ``"fp16"``, ``"fp32"`` or ``"int8"``.

    Parameters
    ----------
    device : torch.device
    precision : str
        Anything other than ``"auto"`` is resolved by
        :func:`galmorph.runtime.resolve_precision` (with its fallbacks).
    n_images : int, optional
        Images to predict, where known.
    int8_ready : bool
        The model's int8 form is at hand (in the disk cache).
    """
    from galmorph.runtime import cpu_supports_bf16, cpu_supports_int8, resolve_precision

    if str(precision).lower() == "auto" and device.type == "cpu" and not cpu_supports_bf16() \
            and cpu_supports_int8() and (int8_ready or (n_images or 0) >= INT8_AUTO_MIN_IMAGES):
        return "int8"
    return resolve_precision(device, precision, inference=True)


def load_for_inference(source=None, preprocessing=None, *, device="auto", precision="auto",
                       n_images=None):
    """Resolve ``source`` and make it ready to predict on ``device``.

    Parameters
    ----------
    source : None, path-like, Checkpoint or torch.nn.Module
        As :func:`galmorph.models.resolve.resolve_model` takes it.
    preprocessing : dict, optional
        Overrides the model's crop and size.
    device, precision : str
        ``"auto"`` by default; see :func:`choose_precision`.
    n_images : int, optional
        Images the job will predict, where known (for ``"auto"``).

    Returns
    -------
    resolved : galmorph.models.resolve.ResolvedModel
        Its ``model`` is a :class:`~galmorph.inference.quantize.QuantizedModel` for
        int8 (loaded straight from the disk cache where it is there: the float model
        is then never built, and ``checkpoint`` is None).
    precision : str
        What prediction runs in.
    device : torch.device
    """
    from galmorph.models.resolve import ResolvedModel, resolve_model
    from galmorph.runtime import cpu_supports_int8, resolve_device

    dev = resolve_device(device)
    path = _checkpoint_file(source)
    quantized = None
    if path is not None and not preprocessing and dev.type == "cpu" \
            and str(precision).lower() in ("auto", "int8") and cpu_supports_int8():
        from galmorph.inference.quantize import cached_int8

        quantized = cached_int8(path)
    prec = choose_precision(dev, precision, n_images=n_images,
                            int8_ready=quantized is not None)
    if prec == "int8" and quantized is not None and {"name", "preprocessing"} <= set(
            quantized.calibration_):
        info = quantized.calibration_
        return ResolvedModel(quantized, dict(info["preprocessing"]), info["name"], path), \
            prec, dev
    resolved = resolve_model(source, preprocessing)
    if prec == "int8":
        from galmorph.inference.quantize import quantize_model

        resolved.model = quantize_model(resolved.checkpoint or resolved.model,
                                        preprocessing=preprocessing, device=dev)
    return resolved, prec, dev


def _checkpoint_file(source):
    """The checkpoint file ``source`` names (``None``: the default model), else None."""
    if source is None or isinstance(source, (str, Path)) or hasattr(source, "__fspath__"):
        from galmorph.paths import resolve_model_path

        return Path(resolve_model_path(source))
    return None


def trust_meta(resolved):
    """The model's stored :mod:`galmorph.trust` calibration (a plain dict), or None: from
    its checkpoint, or from the int8 disk cache where the checkpoint was not loaded."""
    checkpoint = getattr(resolved, "checkpoint", None)
    if checkpoint is not None:
        return (checkpoint.meta or {}).get("trust")
    info = getattr(resolved.model, "calibration_", None) or {}
    return info.get("trust")
