"""Light profiles and small drawing helpers for the synthetic galaxies.

All functions work on ``float32`` arrays in linear flux units and are
vectorised over a pixel grid; nothing here loops over pixels in Python.
Coordinates are in pixels, relative to a component's centre; angles in
radians, measured counter-clockwise from the +x axis.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["sersic_bn", "grid", "rotate", "sersic", "exponential", "spiral_modulation",
           "ring", "add_blob", "add_gaussian_trail", "moffat_star", "gaussian_blur",
           "COLOURS", "safe_exp", "fpow"]

#: Display colours (R, G, B weights ~ SDSS i, r, g) of stellar populations.
COLOURS = {
    "old": np.array([1.30, 1.00, 0.70], np.float32),     # ellipticals, bulges, bars
    "disk": np.array([1.05, 1.00, 0.95], np.float32),    # smooth disk light
    "young": np.array([0.80, 0.95, 1.25], np.float32),   # spiral arms, rings
    "hii": np.array([0.75, 0.92, 1.30], np.float32),     # star-forming knots
    "star": np.array([1.0, 1.0, 1.0], np.float32),
}


def sersic_bn(n):
    """``b_n`` such that ``r_e`` encloses half the light of a Sersic profile.

    Asymptotic expansion of Ciotti & Bertin (1999, A&A 352, 447), accurate
    to better than 1e-4 for n > 0.36.
    """
    n = float(n)
    return (2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n ** 2)
            + 131 / (1148175 * n ** 3) - 2194697 / (30690717750 * n ** 4))


def safe_exp(arg):
    """``exp(arg)`` with ``arg`` clamped at -50: float32 results that underflow into
    denormals make every later operation on them many times slower."""
    return np.exp(np.maximum(arg, np.float32(-50.0)))


def fpow(base, exponent):
    """``base ** exponent`` for ``base >= 0`` as ``exp(exponent * log(base))``.

    NumPy's float32 ``power`` with a non-trivial exponent is scalar code and
    some 50x slower than its vectorised ``exp`` and ``log``.
    """
    with np.errstate(divide="ignore"):   # log(0) = -inf -> 0 ** p = 0 for p > 0
        return np.exp(np.float32(exponent) * np.log(base))


@lru_cache(maxsize=8)
def _axis(size):
    a = np.arange(size, dtype=np.float32) - (size - 1) / 2.0
    a.flags.writeable = False
    return a


def grid(size, dx=0.0, dy=0.0):
    """Pixel coordinates ``(x, y)``, each ``(size, size)``, relative to ``(dx, dy)``
    from the centre of a ``size`` x ``size`` box."""
    a = _axis(size)
    return (a[None, :] - np.float32(dx)), (a[:, None] - np.float32(dy))


def rotate(x, y, angle):
    """Coordinates along (``xr``) and across (``yr``) a major axis at ``angle``."""
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return x * c + y * s, y * c - x * s


def sersic(x, y, re, n, q=1.0, pa=0.0, c=2.0, soft=1.2):
    """Sersic surface brightness, 1 at ``r = re`` (``exp(-b_n((r/re)^(1/n) - 1))``).

    ``c`` > 2 gives boxy isophotes (generalised ellipse), ``soft`` (px)
    rounds the cusp as a seeing disk would.
    """
    xr, yr = rotate(x, y, pa)
    if c == 2.0:
        r2 = xr * xr + (yr / np.float32(q)) ** 2
    else:
        r2 = fpow(fpow(np.abs(xr), c) + fpow(np.abs(yr / np.float32(q)), c), 2.0 / c)
    r = np.sqrt(r2 + np.float32(soft * soft)) / np.float32(re)
    bn = np.float32(sersic_bn(n))
    return safe_exp(-bn * (fpow(r, 1.0 / n) - 1)).astype(np.float32, copy=False)


def exponential(r, h):
    """Exponential disk ``exp(-r / h)`` at radii ``r`` in the disk plane."""
    return safe_exp(-r / np.float32(h))


def spiral_modulation(theta, r, m, pitch, r0, phase=0.0, sharpness=3.0):
    """Logarithmic-spiral arm pattern in [0, 1] at disk-plane polar coordinates.

    Arms follow ``theta = phase + ln(r / r0) / tan(pitch)`` (pitch angle in
    radians: ~10 deg tight, ~20 deg medium, ~35 deg loose); ``m`` arms are
    spread evenly in angle; ``sharpness`` narrows them.
    """
    lnr = np.log(np.maximum(r, 0.5) / np.float32(r0))
    psi = np.float32(m) * (theta - lnr / np.float32(np.tan(pitch)) - np.float32(phase))
    # The floor keeps products of this with faint disk light out of the denormals.
    return fpow(0.5 * (1.0 + np.cos(psi)) + np.float32(1e-6), sharpness)


def ring(r, radius, width):
    """Gaussian ring of unit peak at disk-plane radius ``radius`` (px)."""
    return safe_exp(-0.5 * ((r - np.float32(radius)) / np.float32(width)) ** 2)


def add_blob(canvas, x0, y0, sigma, amp, colour):
    """Add a round Gaussian of peak ``amp`` centred at pixel ``(x0, y0)`` into
    ``canvas`` ``(3, H, W)``, touching only a small window around it."""
    h, w = canvas.shape[1:]
    rad = int(np.ceil(3.5 * sigma)) + 1
    xi, yi = int(round(x0)), int(round(y0))
    x_lo, x_hi = max(xi - rad, 0), min(xi + rad + 1, w)
    y_lo, y_hi = max(yi - rad, 0), min(yi + rad + 1, h)
    if x_lo >= x_hi or y_lo >= y_hi:
        return
    xs = np.arange(x_lo, x_hi, dtype=np.float32) - np.float32(x0)
    ys = np.arange(y_lo, y_hi, dtype=np.float32) - np.float32(y0)
    gx = safe_exp(-0.5 * (xs / np.float32(sigma)) ** 2)
    gy = safe_exp(-0.5 * (ys / np.float32(sigma)) ** 2)
    canvas[:, y_lo:y_hi, x_lo:x_hi] += (np.float32(amp) * colour)[:, None, None] * np.outer(gy, gx)


def add_gaussian_trail(canvas, xs, ys, sigmas, amps, colour):
    """A stream (tidal tail, arc) as a chain of overlapping Gaussian blobs."""
    for x0, y0, s, a in zip(xs, ys, sigmas, amps):
        add_blob(canvas, x0, y0, s, a, colour)


def moffat_star(canvas, x0, y0, amp, alpha=1.8, beta=3.0, spikes=0.0, colour=None):
    """A point source with a Moffat PSF (and optional diffraction spikes along the
    CCD axes, as in SDSS images) added into ``canvas`` ``(3, H, W)``."""
    colour = COLOURS["star"] if colour is None else colour
    h, w = canvas.shape[1:]
    rad = int(min(max(12, 9 * alpha * (1 + np.log10(max(amp, 1.0)))), 90))
    xi, yi = int(round(x0)), int(round(y0))
    x_lo, x_hi = max(xi - rad, 0), min(xi + rad + 1, w)
    y_lo, y_hi = max(yi - rad, 0), min(yi + rad + 1, h)
    if x_lo >= x_hi or y_lo >= y_hi:
        return
    xs = (np.arange(x_lo, x_hi, dtype=np.float32) - np.float32(x0))[None, :]
    ys = (np.arange(y_lo, y_hi, dtype=np.float32) - np.float32(y0))[:, None]
    img = np.float32(amp) * fpow(1 + (xs * xs + ys * ys) / np.float32(alpha * alpha), -beta)
    if spikes > 0:
        ax, ay = np.abs(xs), np.abs(ys)
        img = img + np.float32(spikes * amp) * (
            safe_exp(-ay / np.float32(0.7)) * fpow(1 + ax / np.float32(3.0), -1.6)
            + safe_exp(-ax / np.float32(0.7)) * fpow(1 + ay / np.float32(3.0), -1.6))
    canvas[:, y_lo:y_hi, x_lo:x_hi] += colour[:, None, None] * img.astype(np.float32)


@lru_cache(maxsize=16)
def _kernel(sigma):
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def gaussian_blur(img, sigma):
    """Separable Gaussian blur (the seeing) of ``img`` ``(C, H, W)``, edges clamped.

    ``sigma`` in pixels, rounded to 0.1 px so that kernels are reused.
    """
    k = _kernel(round(float(sigma), 1))
    r = len(k) // 2
    for axis in (1, 2):
        n = img.shape[axis]
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        p = np.pad(img, pad, mode="edge")

        def shifted(i):
            sl = [slice(None)] * 3
            sl[axis] = slice(i, i + n)
            return p[tuple(sl)]

        out = shifted(r) * k[r]
        tmp = np.empty_like(out)
        for i in range(r):   # symmetric kernel: one multiply per pair of taps
            np.add(shifted(i), shifted(2 * r - i), out=tmp)
            tmp *= k[i]
            out += tmp
        img = out
    return img
