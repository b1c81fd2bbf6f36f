"""Batch augmentation and test-time-augmentation views as whole-batch tensor ops.

Galaxy morphology does not depend on the orientation of the galaxy on the
sky nor on its handedness as seen in a mirror (except the spiral winding
sense, which Galaxy Zoo 2 does not ask about), so the networks are trained
on randomly rotated and flipped images (Dieleman et al. 2015, Sect. 5.1) and
can average their predictions over rotated views at test time.

Everything here works on a whole batch at once: one ``affine_grid`` plus one
``grid_sample`` call warps every image of a batch by its own rotation, with
the flips folded into the same affine matrix. There is no per-sample Python
loop and no PIL, so the augmentation costs a small fraction of a training
step and runs on whatever device the batch is on.

Padding
-------
A rotation by a non-multiple of 90 degrees leaves the corners of the output
outside the input image. They are filled with **zeros** rather than by
reflection: the cached images are crops of SDSS cutouts whose sky background
is black (a few counts out of 255), so zeros look like more sky, whereas
reflection padding mirrors off-centre neighbours into the corners and
invents companions -- exactly what the merger ("Class8.6") and "odd
feature" answers respond to.

References
----------
Dieleman S., Willett K. W., Dambre J., 2015, MNRAS 450, 1441.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

__all__ = ["augment_batch", "random_params", "rotate_flip", "tta_views", "check_tta", "D8_VIEWS"]

#: The d8 views as ``(k, flip)``: ``torch.rot90`` by ``k`` quarter turns, then
#: a left-right flip when ``flip`` is true. View 0 is the identity.
D8_VIEWS = tuple((k, flip) for flip in (False, True) for k in range(4))


def rotate_flip(x, angles, flip_x=None, flip_y=None, *, padding_mode="zeros"):
    """Rotate and flip every image of a batch by its own parameters.

    Parameters
    ----------
    x : torch.Tensor
        Float images, shape ``(B, C, H, W)``.
    angles : torch.Tensor or float
        Rotation angle per image in **degrees**, counter-clockwise as the
        image is displayed (row 0 at the top), shape ``(B,)`` or a scalar.
        An angle of 90 gives ``torch.rot90(x, 1, dims=(-2, -1))`` up to
        interpolation round-off.
    flip_x, flip_y : torch.Tensor of bool, optional
        Mirror left-right (``flip_x``) or top-bottom (``flip_y``) before the
        rotation, shape ``(B,)``. ``None`` means no flip.
    padding_mode : {"zeros", "reflection", "border"}
        How the corners uncovered by the rotation are filled (see the module
        docstring for why the default is zeros).

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``x``.

    Notes
    -----
    With ``align_corners=False`` pixel centres of a square image map onto
    pixel centres under flips and quarter turns, so those are exact apart
    from floating-point round-off in the sampling grid.
    """
    if x.dim() != 4:
        raise ValueError(f"rotate_flip expects a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    b = x.shape[0]
    # The affine matrix is built in float32 (or float64) whatever the image dtype.
    mdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    theta_dev = x.device
    angles = torch.as_tensor(angles, dtype=mdtype, device=theta_dev).expand(b)
    rad = torch.deg2rad(angles)                                  # (B,)
    cos, sin = torch.cos(rad), torch.sin(rad)
    sx = _sign(flip_x, b, mdtype, theta_dev)                     # (B,) +-1
    sy = _sign(flip_y, b, mdtype, theta_dev)
    # grid_sample reads the input at theta @ (x_out, y_out, 1), so "flip, then rotate"
    # (out = rot(flip(x))) is theta = diag(sx, sy) @ R.
    zero = torch.zeros_like(cos)
    theta = torch.stack([
        torch.stack([sx * cos, -sx * sin, zero], dim=-1),
        torch.stack([sy * sin, sy * cos, zero], dim=-1),
    ], dim=1)                                                    # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode=padding_mode,
                         align_corners=False)


def _sign(flip, b, dtype, device):
    if flip is None:
        return torch.ones(b, dtype=dtype, device=device)
    flip = torch.as_tensor(flip, device=device).to(torch.bool).expand(b)
    return 1.0 - 2.0 * flip.to(dtype)


def augment_batch(x, generator=None, *, padding_mode="zeros"):
    """Randomly rotate and flip every image of a batch (training augmentation).

    Each image gets its own rotation angle drawn uniformly from ``[0, 360)``
    degrees and independent left-right and top-bottom flips with
    probability 0.5 each, applied in one ``affine_grid`` + ``grid_sample``.

    Parameters
    ----------
    x : torch.Tensor
        Float images in ``[0, 1]``, shape ``(B, 3, H, W)``, on any device.
    generator : torch.Generator, optional
        Source of randomness (a CPU generator; the few random numbers are
        moved to ``x.device``). ``None`` uses a freshly seeded generator, never
        torch's global random state.
    padding_mode : str
        Passed to :func:`rotate_flip`; ``"zeros"`` by default.

    Returns
    -------
    torch.Tensor
        The augmented batch, same shape, dtype and device as ``x``.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> augment_batch(torch.rand(8, 3, 80, 80), g).shape
    torch.Size([8, 3, 80, 80])
    """
    angles, flip_x, flip_y = random_params(x.shape[0], generator)
    return rotate_flip(x, angles.to(x.device), flip_x.to(x.device), flip_y.to(x.device),
                       padding_mode=padding_mode)


def random_params(b, generator=None):
    """The random parameters :func:`augment_batch` draws for a batch of ``b`` images.

    Split out so that distributed training can draw the parameters of the
    whole global batch on every rank and apply each rank's share, giving the
    same augmentation as a single process.

    Parameters
    ----------
    b : int
        Number of images.
    generator : torch.Generator, optional
        Source of randomness; the parameters are drawn on its device. ``None``
        uses a freshly seeded CPU generator, never torch's global random state.

    Returns
    -------
    angles : torch.Tensor
        ``float64 (b,)`` degrees, uniform in ``[0, 360)``.
    flip_x, flip_y : torch.Tensor
        ``bool (b,)``, each true with probability 0.5.
    """
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    gdev = generator.device
    angles = torch.rand(b, generator=generator, device=gdev, dtype=torch.float64) * 360.0
    flips = torch.rand(b, 2, generator=generator, device=gdev) < 0.5    # (b, 2)
    return angles, flips[:, 0], flips[:, 1]


def check_tta(tta):
    """Validate a ``tta`` argument and return it normalised (``None``, ``"d8"`` or an int).

    Accepts ``None``, ``"none"``, ``"d8"``, an integer ``N >= 1`` or a string
    holding one (as the command line passes it). Raises ``ValueError`` otherwise.
    """
    if tta is None:
        return None
    if isinstance(tta, str):
        low = tta.strip().lower()
        if low in ("", "none", "off"):
            return None
        if low == "d8":
            return "d8"
        if low.isdigit():
            tta = int(low)
    if isinstance(tta, numbers.Integral) and not isinstance(tta, bool) and int(tta) >= 1:
        return int(tta)
    raise ValueError(f"tta must be None, 'd8' or a number of rotations N >= 1, got {tta!r}")


def tta_views(x, tta):
    """The test-time-augmentation views of a batch.

    Parameters
    ----------
    x : torch.Tensor
        Float images, shape ``(B, 3, H, W)``.
    tta : None, "d8" or int
        ``None``: just ``[x]``. ``"d8"``: the 8 symmetries of the square (4
        quarter turns, each with and without a left-right flip), exact via
        ``torch.rot90`` / ``torch.flip``, in the order of :data:`D8_VIEWS`.
        ``N``: ``N`` rotations evenly spaced by ``360 / N`` degrees (angles
        that are multiples of 90 degrees use the exact ``rot90``; the others
        bilinear interpolation with zero padding).

    Returns
    -------
    list of torch.Tensor
        The views, each shaped like ``x``; the first is ``x`` itself.

    Examples
    --------
    >>> import torch
    >>> len(tta_views(torch.rand(2, 3, 16, 16), "d8"))
    8
    """
    tta = check_tta(tta)
    if tta is None:
        return [x]
    if tta == "d8":
        views = []
        for k, flip in D8_VIEWS:
            v = torch.rot90(x, k, dims=(-2, -1)) if k else x
            views.append(torch.flip(v, dims=(-1,)) if flip else v)
        return views
    views = []
    for i in range(tta):
        angle = 360.0 * i / tta
        if math.isclose(angle % 90.0, 0.0, abs_tol=1e-9) and x.shape[-1] == x.shape[-2]:
            k = int(round(angle / 90.0)) % 4
            views.append(torch.rot90(x, k, dims=(-2, -1)) if k else x)
        else:
            views.append(rotate_flip(x, angle))
    return views
