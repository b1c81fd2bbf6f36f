"""Rendering synthetic galaxies as SDSS-like 424 x 424 colour cutouts.

A galaxy is built from physically motivated components in linear flux
(Sersic bulges and ellipticals, exponential disks seen at an inclination,
logarithmic spiral arms modulating the disk, Ferrers bars, rings, dust lanes
that absorb blue light more than red), blurred by the seeing, placed with a
few faint neighbours on a noisy sky and shown with the asinh colour stretch of
the SDSS colour JPEGs (Lupton et al. 2004, PASP 116, 133), which keeps the
colours of bright regions while showing faint ones.

The three channels are (R, G, B) ~ (i, r, g); colours are those of
:data:`galmorph.synth._profiles.COLOURS`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from galmorph.synth import _features as feat
from galmorph.synth._profiles import (COLOURS, add_blob, exponential, gaussian_blur, grid,
                                          fpow, ring, rotate, safe_exp, sersic,
                                          spiral_modulation)

__all__ = ["render", "IMAGE_SIZE", "stretch"]

#: Side of the cutouts in pixels, as in the Kaggle and GZ2 images.
IMAGE_SIZE = 424
_BOX = 320                       # the main galaxy is drawn in this central box
_OFF = (IMAGE_SIZE - _BOX) // 2
_SKY_SIGMA = 0.028               # sky noise per channel, in flux units
_SOFT = 0.045                    # asinh softening: linear below ~2.5 sky sigma
_SATURATE = 6.0                  # flux shown as full white


def _jitter(colour, rng, amount=0.08):
    return (colour * np.exp(rng.normal(0.0, amount, 3))).astype(np.float32)


def _add(canvas, image, colour):
    canvas += colour[:, None, None] * image


# ---------------------------------------------------------------------------
# Main bodies
# ---------------------------------------------------------------------------

def _smooth(canvas, t, rng, x, y):
    ie = 0.22 * t.brightness
    _add(canvas, ie * sersic(x, y, 1.15 * t.size, t.params["n"], t.q, t.pa),
         _jitter(COLOURS["old"], rng, 0.05))


_PITCH = ((10.0, 14.0), (19.0, 25.0), (32.0, 42.0))   # degrees: tight, medium, loose
_BULGE = ((0.0, 0.3, 1.0), (0.55, 0.22, 2.0), (1.1, 0.34, 2.5), (1.4, 0.6, 3.5))  # Ie/I0, re/h, n


def _disk(canvas, t, rng, x, y):
    p, h = t.params, t.size
    i0 = 0.55 * t.brightness
    xr, yr = rotate(x, y, t.pa)
    yd = yr / np.float32(t.q)
    r = np.sqrt(xr * xr + yd * yd)
    theta = np.arctan2(yd, xr)
    disk = exponential(r, h) * np.float32(i0)
    bar_len = 1.3 * h
    if p["bulge"] == 3:
        disk *= np.float32(0.6)
    if p["spiral"]:
        m = (1, 2, 3, 4, int(rng.integers(5, 7)), int(rng.integers(2, 4)))[p["arms"]]
        pitch = np.radians(rng.uniform(*_PITCH[p["winding"]]))
        r0 = bar_len if p["bar"] else 0.6 * h
        phase = p["bar_angle"] if p["bar"] else rng.uniform(0, 2 * np.pi)
        # Few arms are broad, many arms narrow, so that neighbouring arms stay apart.
        sharp = 1.6 if m <= 2 else 2.2
        mod = spiral_modulation(theta, r, m, pitch, r0, phase, sharpness=sharp)
        amp = 0.8
        if p["arms"] == 5:          # "can't tell": fragmented, flocculent arms
            mod = mod * spiral_modulation(theta, r, 7, pitch, r0, rng.uniform(0, 6), 1.5)
            amp = 0.6
        # Arms grow out of the bulge/bar region and fade beyond ~3 scale lengths.
        inner = (1 - safe_exp(-(r / np.float32(0.8 * r0)) ** 2)) * safe_exp(
            -np.square(np.square(r / np.float32(3.2 * h))))
        # Clumpy, patchy arms rather than perfect ribbons (star formation, dust).
        arms = disk * (amp * mod * inner) * _texture(rng, 0.5)
        _add(canvas, disk * np.float32(1 - amp) + arms * np.float32(0.35),
             _jitter(COLOURS["disk"], rng))
        _add(canvas, arms * np.float32(2.4), _jitter(COLOURS["young"], rng))
        feat.knots_on_arms(canvas, rng, t, m, pitch, r0, phase)
    else:
        _add(canvas, disk, _jitter(COLOURS["disk"], rng))
    if p["bar"]:
        bx, by = rotate(xr, yd, p["bar_angle"])
        ferrers = fpow(np.maximum(1 - (bx / np.float32(bar_len)) ** 2
                                  - (by / np.float32(0.27 * bar_len)) ** 2, 0), 1.2)
        _add(canvas, ferrers * np.float32(1.1 * i0), _jitter(COLOURS["old"], rng))
    if t.odd_feature == "ring":
        radius = bar_len * 1.05 if p["bar"] else rng.uniform(1.6, 2.2) * h
        _add(canvas, ring(r, radius, 0.11 * radius) * np.float32(1.5 * i0 * np.exp(-1.2)),
             _jitter(COLOURS["young"], rng))
    ie, re_h, n = _BULGE[p["bulge"]]
    if ie > 0:
        _add(canvas, np.float32(ie * i0) * sersic(x, y, re_h * h, n, min(1.0, t.q + 0.25), t.pa),
             _jitter(COLOURS["old"], rng, 0.05))


def _edgeon(canvas, t, rng, x, y):
    p = t.params
    h = 1.35 * t.size
    i0 = 0.9 * t.brightness
    xr, yr = rotate(x, y, t.pa)
    disk = exponential(np.sqrt(xr * xr + (yr / np.float32(p["thickness"])) ** 2), h)
    blue = p["bulge_shape"] == 2
    _add(canvas, disk * np.float32(i0), _jitter(COLOURS["young" if blue else "disk"], rng))
    if p["bulge_shape"] == 0:
        bulge = sersic(x, y, 0.42 * h, 2.5, 0.85, t.pa)
    elif p["bulge_shape"] == 1:
        bulge = sersic(x, y, 0.42 * h, 1.0, 0.6, t.pa, c=4.0)
    else:
        bulge = None
    if bulge is not None:
        _add(canvas, bulge * np.float32(0.55 * i0), _jitter(COLOURS["old"], rng, 0.05))
    if t.odd_feature == "dust lane":   # a thick, obvious lane across the whole disk
        feat.dust_lane(canvas, xr, yr, rng.uniform(3.0, 4.5),
                       width=max(2.5, 0.45 * p["thickness"] * h), length=2.5 * h,
                       offset=0.2 * p["thickness"] * h)
    else:
        feat.dust_lane(canvas, xr, yr, rng.uniform(0.0, 0.4),
                       width=max(1.5, 0.3 * p["thickness"] * h), length=2.5 * h)


def _irregular(canvas, t, rng, x, y):
    h = 1.2 * t.size
    i0 = 0.45 * t.brightness
    dx, dy = rng.normal(0, 0.25 * h, 2)
    xr, yr = rotate(x - np.float32(dx), y - np.float32(dy), t.pa)
    body = exponential(np.sqrt(xr * xr + (yr / np.float32(t.q)) ** 2), h) * _texture(rng, 0.35)
    _add(canvas, body * np.float32(i0), _jitter(COLOURS["young"], rng))
    c = (_BOX - 1) / 2
    for _ in range(t.params["n_clumps"]):
        cx, cy = rng.normal(0, 1.1 * h, 2)
        add_blob(canvas, c + cx, c + cy, rng.uniform(1.5, 0.18 * h), rng.uniform(0.3, 1.2) *
                 t.brightness, _jitter(COLOURS["hii"], rng, 0.1))


_BODIES = {"smooth": _smooth, "disk": _disk, "edgeon": _edgeon, "irregular": _irregular}


# ---------------------------------------------------------------------------
# Scene
# ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _noise_bank():
    # Fixed-seed sky noise, shared by all galaxies and processes, so per-galaxy
    # randomness only picks a window (cheap and independent of worker state).
    bank = np.random.default_rng(20140101).standard_normal((3, 1024, 1024), np.float32)
    bank = gaussian_blur(bank, 0.6)        # SDSS JPEG noise is grainy, not white
    bank /= bank.std()
    bank.flags.writeable = False
    return bank


@lru_cache(maxsize=1)
def _texture_bank():
    # Smooth random field (~4 px grains) with zero mean and unit variance.
    bank = np.random.default_rng(20140102).standard_normal((1, 640, 640), np.float32)
    bank = gaussian_blur(bank, 3.0)[0]
    bank /= bank.std()
    bank.flags.writeable = False
    return bank


def _texture(rng, strength):
    """A ``(_BOX, _BOX)`` multiplicative texture ``max(1 + strength * field, 0)``."""
    bank = _texture_bank()
    ox, oy = rng.integers(0, bank.shape[0] - _BOX, 2)
    return np.maximum(np.float32(1.0) + np.float32(strength) * bank[oy:oy + _BOX, ox:ox + _BOX],
                      np.float32(0.0))


def stretch(canvas):
    """Linear flux ``(3, H, W)`` -> ``uint8 (H, W, 3)`` with the Lupton asinh stretch.

    All channels are scaled by the same factor ``asinh(I/s) / I`` of the mean
    intensity ``I``, which keeps colours while compressing bright regions.
    """
    total = np.maximum(canvas.mean(axis=0), np.float32(1e-6))  # (H, W)
    scale = np.arcsinh(total / np.float32(_SOFT)) / (total * np.float32(np.arcsinh(_SATURATE / _SOFT)))
    rgb = canvas * (scale * np.float32(255.0))
    np.clip(rgb, 0.0, 255.0, out=rgb)
    rgb += np.float32(0.5)
    return np.ascontiguousarray(rgb.astype(np.uint8).transpose(1, 2, 0))  # (H, W, 3)


def render(truth, rng):
    """Render one synthetic galaxy.

    Parameters
    ----------
    truth : galmorph.synth.truth.Truth
    rng : numpy.random.Generator
        The galaxy's own generator.

    Returns
    -------
    numpy.ndarray
        ``uint8 (424, 424, 3)`` RGB image, the galaxy at the centre.
    """
    canvas = np.zeros((3, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    box = np.zeros((3, _BOX, _BOX), np.float32)
    dx, dy = rng.normal(0.0, 1.0, 2)       # cutouts are centred to a pixel or so
    x, y = grid(_BOX, dx, dy)
    if truth.kind != "star":
        _BODIES[truth.kind](box, truth, rng, x, y)
        feat.odd_extras(box, truth, rng, x, y)
        box = gaussian_blur(box, rng.uniform(1.0, 2.0))   # seeing
        canvas[:, _OFF:_OFF + _BOX, _OFF:_OFF + _BOX] = box
    else:
        feat.artifact_scene(canvas, truth, rng)   # spans the whole cutout
    feat.neighbours(canvas, rng, truth)
    bank = _noise_bank()
    ox, oy = rng.integers(0, bank.shape[2] - IMAGE_SIZE, 2)
    canvas += np.float32(_SKY_SIGMA) * bank[:, oy:oy + IMAGE_SIZE, ox:ox + IMAGE_SIZE]
    return stretch(canvas)
