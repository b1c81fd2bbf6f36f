"""The one batched inference loop of galmorph.

:func:`predict_arrays` turns already-preprocessed ``uint8`` images into the 37
weighted vote fractions. :func:`galmorph.inference.evaluation.evaluate`,
:func:`galmorph.inference.files.predict_files` and
:class:`galmorph.astro.classifier.MorphologyClassifier` all call it, so that
device choice, mixed precision and test-time augmentation (TTA) behave the
same everywhere.

Images are streamed: only one batch at a time is converted to ``float``, so a
memory-mapped cache of any size can be passed directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galmorph.errors import ModelShapeError
from galmorph.inference._arrays import check_image_array
from galmorph.models.resolve import network_of
from galmorph.schema import N_ANSWERS

__all__ = ["predict_arrays", "Details", "RowSelection"]


class RowSelection:
    """Rows ``index`` of a (memory-mapped) image array, read only when a batch asks.

    :func:`predict_arrays` takes it like an array, so a validation split of a
    cache is predicted without copying it into memory first.

    Parameters
    ----------
    images : array-like, shape (N, 3, H, W)
    index : sequence of int
        The rows, in the order wanted.
    """

    def __init__(self, images, index):
        self.images, self.index = images, np.asarray(index, dtype=np.int64)
        self.shape = (len(self.index),) + tuple(images.shape[1:])
        self.dtype = images.dtype

    def __len__(self):
        return len(self.index)

    def __getitem__(self, item):
        return self.images[self.index[item]]


def _views(x, tta):
    if tta is None:
        return [x]
    from galmorph.augment import tta_views

    return tta_views(x, tta)


def _check_shape(y):
    if y.ndim != 2 or y.shape[1] != N_ANSWERS:
        raise ModelShapeError(f"model returned shape {tuple(y.shape)}; expected "
                              f"(B, {N_ANSWERS})")


def _forward(model, x, tta, autocast_ctx):
    """Model output for one float batch, averaged over the TTA views."""
    import torch

    views = _views(x, tta)
    total = None
    for view in views:
        with autocast_ctx():
            y = model(view)                                     # (B, 37)
        y = y.float()
        total = y if total is None else total + y
    y = total / len(views)
    _check_shape(y)
    return torch.clamp(y, 0.0, 1.0)


def _forward_details(model, x, tta, autocast_ctx):
    """``(mean (B, 37), spread sources (B, K, 37), features (B, F))`` for one batch.

    The K rows are the members of an ensemble (each averaged over the TTA views), or,
    for a single network with TTA, its outputs on each view: what galmorph.trust
    turns into intervals. Features are averaged over the views.
    """
    import torch

    outs, feats = [], None
    for view in _views(x, tta):
        with autocast_ctx():
            members, features = model.forward_details(view)    # (M, B, 37), (B, F)
        outs.append(members.float())
        features = features.float()
        feats = features if feats is None else feats + features
    feats = feats / len(outs)
    if outs[0].shape[0] == 1 and len(outs) > 1:
        spread = torch.cat(outs, 0)                             # (views, B, 37)
    else:
        spread = torch.stack(outs).mean(0)                      # (M, B, 37)
    spread = torch.clamp(spread, 0.0, 1.0).transpose(0, 1)      # (B, K, 37)
    mean = spread.mean(1)
    _check_shape(mean)
    return mean, spread, feats


@dataclass
class Details:
    """What :func:`predict_arrays` returns with ``details=True``.

    Attributes
    ----------
    mean : numpy.ndarray, float32, shape (N, 37)
        The fractions (as ``predict_arrays`` returns them without details).
    spread : numpy.ndarray, float32, shape (N, K, 37)
        The K outputs that ``mean`` averages: an ensemble's members, a single
        network's TTA views, or the one output (K = 1).
    features : numpy.ndarray, float32, shape (N, F)
        Pooled features (an ensemble's members' side by side).
    """

    mean: np.ndarray
    spread: np.ndarray
    features: np.ndarray


def predict_arrays(model, images, *, batch_size=256, tta=None, device="auto",
                   precision="auto", progress=False, details=False):
    """Predict the 37 GZ2 weighted vote fractions for preprocessed images.

    Parameters
    ----------
    model : torch.nn.Module or Checkpoint
        A galmorph model (or a loaded checkpoint, whose ``.model`` is used).
        It is put in eval mode and moved to ``device``.
    images : numpy.ndarray or numpy.memmap, uint8, shape (N, 3, H, W)
        Cropped and resized images, as the checkpoint's ``preprocessing``
        says (e.g. ``crop_and_resize(path, crop=224, size=80)`` stacked, or
        ``PreparedData.images``). Only one batch at a time is read and
        converted to float, so memory maps of any size are fine.
    batch_size : int
        Images per forward pass (default 256).
    tta : None, "d8" or int
        Test-time augmentation: ``None`` (default) predicts the image as
        given; ``"d8"`` averages the outputs over the 8 flips and
        90-degree rotations; an int ``N`` over ``N`` evenly spaced rotations.
    device : str or torch.device
        ``"auto"`` (default; CUDA if available, else CPU), ``"cpu"``, ``"cuda"``...
    precision : str
        ``"auto"`` (default; bf16 autocast where the hardware supports it),
        ``"bf16"``, ``"fp16"``, ``"fp32"`` or ``"int8"`` (CPU only: the model is
        quantized once per process, see :mod:`galmorph.inference.quantize`; a
        ``QuantizedModel`` always runs in int8).
    progress : bool
        Show a tqdm progress bar over batches (default False).
    details : bool
        Also return the members' outputs and the pooled features, from the same
        forward pass (a :class:`Details`). A model without ``forward_details`` (a
        foreign module) gives its output as the one spread row and no features.

    Returns
    -------
    numpy.ndarray, float32, shape (N, 37), or Details
        Weighted vote fractions in Kaggle column order
        (:data:`galmorph.schema.KAGGLE_COLUMNS`), clipped to [0, 1].

    Raises
    ------
    galmorph.errors.DataError
        If ``images`` is not ``uint8`` of shape ``(N, 3, H, W)``.

    Examples
    --------
    >>> from galmorph.models import build_model
    >>> import numpy as np
    >>> model = build_model("cnn")                          # doctest: +SKIP
    >>> x = np.zeros((4, 3, 80, 80), dtype=np.uint8)
    >>> predict_arrays(model, x, tta="d8").shape            # doctest: +SKIP
    (4, 37)
    """
    import torch

    from galmorph.runtime import (autocast, channels_last_helps, maybe_channels_last, resolve_device,
                                  resolve_precision)

    from galmorph.augment import check_tta

    check_image_array(images)
    tta = check_tta(tta)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    dev = resolve_device(device)
    prec = resolve_precision(dev, precision, inference=True)
    if prec == "int8" or getattr(model, "is_quantized", False):
        from galmorph.inference.quantize import quantize_model

        # int8 backbone, calibrated once per model and process (inference/quantize.py).
        model, prec = quantize_model(model, device=dev), "int8"
    else:
        # channels_last where oneDNN / tensor cores want NHWC (runtime.channels_last_helps).
        # A loaded Checkpoint or the bare nn.Module; not a path: the images are already cut.
        model, _ = maybe_channels_last(network_of(model).eval().to(dev), device=dev,
                                       precision=prec)
    channels_last = channels_last_helps(dev, prec)
    wrap = details and not hasattr(model, "forward_details")
    details = details and not wrap

    n = len(images)
    out = np.empty((n, N_ANSWERS), dtype=np.float32)
    spread = features = None
    starts = range(0, n, batch_size)
    if progress:
        from galmorph._util._progress import progress_bar

        starts = progress_bar(starts, total=(n + batch_size - 1) // batch_size, unit="batch",
                              desc="predict")
    with torch.inference_mode():
        for start in starts:
            stop = min(start + batch_size, n)
            # Read just this batch from the (possibly read-only memory-mapped) array;
            # the copy is a writable uint8 block, a quarter of the float batch.
            chunk = np.array(images[start:stop], dtype=np.uint8, order="C")
            x = torch.from_numpy(chunk).to(dev).float().div_(255.0)   # (B, 3, H, W)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if not details:
                y = _forward(model, x, tta, lambda: autocast(dev, prec))   # (B, 37)
                out[start:stop] = y.cpu().numpy()
                continue
            y, k, f = _forward_details(model, x, tta, lambda: autocast(dev, prec))
            if spread is None:
                spread = np.empty((n,) + tuple(k.shape[1:]), dtype=np.float32)  # (N, K, 37)
                features = np.empty((n, f.shape[1]), dtype=np.float32)           # (N, F)
            out[start:stop], spread[start:stop] = y.cpu().numpy(), k.cpu().numpy()
            features[start:stop] = f.cpu().numpy()
    if wrap:  # no members or features to give: the output is its own spread
        return Details(out, out[:, None], np.zeros((n, 0), np.float32))
    if details:
        if spread is None:  # no images
            spread, features = np.empty((0, 1, N_ANSWERS), np.float32), np.empty((0, 0), np.float32)
        return Details(out, spread, features)
    return out
