"""Odd features, artifacts and field objects for the synthetic galaxies.

Helpers of :mod:`galmorph.synth._render`: star-forming knots along
spiral arms, dust lanes, the GZ2 "odd" features (gravitational-lens arcs,
mergers with tidal tails, disturbed and lopsided bodies, overlapping
foreground stars), the star/artifact scenes (saturated stars with diffraction
spikes and bleed trails, satellite trails, reflection ghosts) and faint
background neighbours. All draw into a ``float32 (3, H, W)`` canvas in linear
flux.
"""
from __future__ import annotations

import numpy as np

from galmorph.synth._profiles import (COLOURS, add_blob, add_gaussian_trail, grid,
                                          moffat_star, ring, rotate, safe_exp, sersic)

__all__ = ["knots_on_arms", "dust_lane", "odd_extras", "artifact_scene", "neighbours"]

# Reddening of a dust lane: blue (g) light is absorbed more than red (i).
_DUST = np.array([0.7, 0.85, 1.0], np.float32)


def _centre(canvas):
    return (canvas.shape[2] - 1) / 2.0, (canvas.shape[1] - 1) / 2.0


def _to_image(xd, yd, q, pa):
    """Disk-plane coordinates -> image offsets (inverse of rotate + projection)."""
    xr, yr = xd, yd * q
    c, s = np.cos(pa), np.sin(pa)
    return xr * c - yr * s, xr * s + yr * c


def knots_on_arms(canvas, rng, t, m, pitch, r0, phase):
    """Blue star-forming knots scattered along the arms of a spiral."""
    cx, cy = _centre(canvas)
    k = int(rng.integers(4, 12))
    radius = rng.uniform(r0, 3.0 * t.size, k)
    arm = rng.integers(0, m, k)
    theta = (phase + np.log(radius / r0) / np.tan(pitch) + 2 * np.pi * arm / m
             + rng.normal(0, 0.08, k))
    ox, oy = _to_image(radius * np.cos(theta), radius * np.sin(theta), t.q, t.pa)
    amps = 0.35 * t.brightness * np.exp(-radius / (2.5 * t.size))
    for i in range(k):
        add_blob(canvas, cx + ox[i], cy + oy[i], rng.uniform(1.2, 2.2), amps[i], COLOURS["hii"])


def dust_lane(canvas, xr, yr, tau, width, length, offset=0.0):
    """Absorb light along a lane parallel to the major axis (``xr``) with optical
    depth ``tau`` at its centre, more in blue than in red."""
    if tau < 0.05:
        return
    lane = safe_exp(-0.5 * ((yr - np.float32(offset)) / np.float32(width)) ** 2
                    - np.square(np.square(xr / np.float32(length))))
    canvas *= np.exp(-(np.float32(tau) * _DUST)[:, None, None] * lane[None])


def _curve(rng, x0, y0, start, angle, length, n=24, bend=None):
    """Points along a curved stream starting ``start`` px from ``(x0, y0)``."""
    s = np.linspace(0.0, 1.0, n)
    bend = rng.uniform(-1.2, 1.2) if bend is None else bend
    rad = start + s * length
    ang = angle + bend * s
    return x0 + rad * np.cos(ang), y0 + rad * np.sin(ang), s


def _tail(canvas, rng, x0, y0, start, angle, length, amp, colour):
    xs, ys, s = _curve(rng, x0, y0, start, angle, length)
    add_gaussian_trail(canvas, xs, ys, 2.5 + 4.0 * s, amp * (1 - 0.7 * s), colour)


def _lens_arc(canvas, t, rng, x, y):
    radius = float(np.clip(2.2 * t.size, 32.0, 80.0))
    r = np.sqrt(x * x + y * y)
    centre = rng.uniform(-np.pi, np.pi)
    dtheta = (np.arctan2(y, x) - np.float32(centre - np.pi)) % np.float32(2 * np.pi) - np.float32(np.pi)
    half = np.radians(rng.uniform(25, 55))
    arc = ring(r, radius, rng.uniform(1.4, 2.2)) * safe_exp(-0.5 * np.square(np.square(dtheta / np.float32(half))))
    canvas += (np.float32(rng.uniform(0.35, 0.6)) * COLOURS["young"])[:, None, None] * arc
    cx, cy = _centre(canvas)
    add_blob(canvas, cx - 0.55 * radius * np.cos(centre), cy - 0.55 * radius * np.sin(centre),
             1.8, 0.5, COLOURS["young"])


def _merger(canvas, t, rng, x, y):
    cx, cy = _centre(canvas)
    sep = float(np.clip(rng.uniform(1.8, 2.6) * t.size, 30.0, 80.0))
    phi = rng.uniform(0, 2 * np.pi)
    sx, sy = sep * np.cos(phi), sep * np.sin(phi)
    kind = "old" if rng.random() < 0.5 else "disk"
    comp = sersic(x - np.float32(sx), y - np.float32(sy), rng.uniform(0.6, 0.9) * t.size,
                  rng.uniform(1.0, 4.0), rng.uniform(0.5, 1.0), rng.uniform(0, np.pi))
    canvas += (np.float32(rng.uniform(0.12, 0.25) * t.brightness) * COLOURS[kind])[:, None, None] * comp
    amp = 0.12 * t.brightness
    spin = rng.choice([-1.0, 1.0])
    _tail(canvas, rng, cx, cy, 0.8 * t.size, phi + np.pi + rng.normal(0, 0.4),
          rng.uniform(2.0, 3.5) * t.size, amp, COLOURS["disk"])
    _tail(canvas, rng, cx + sx, cy + sy, 0.6 * t.size, phi + rng.normal(0, 0.4),
          rng.uniform(1.5, 3.0) * t.size, amp, COLOURS["disk"])
    s = np.linspace(0.0, 1.0, 8)
    bx, by = cx + s * sx + spin * 6 * np.sin(np.pi * s), cy + s * sy
    add_gaussian_trail(canvas, bx, by, np.full(8, 4.0), np.full(8, 0.6 * amp), COLOURS["disk"])


def _disturbed(canvas, t, rng, x, y):
    ang = rng.uniform(0, 2 * np.pi)
    off = 0.9 * t.size
    plume = sersic(x - np.float32(off * np.cos(ang)), y - np.float32(off * np.sin(ang)),
                   1.4 * t.size, 1.0, rng.uniform(0.4, 0.8), rng.uniform(0, np.pi))
    canvas += (np.float32(0.12 * t.brightness) * COLOURS["disk"])[:, None, None] * plume
    cx, cy = _centre(canvas)
    _tail(canvas, rng, cx, cy, 1.2 * t.size, ang + rng.normal(0, 0.5),
          rng.uniform(1.5, 2.5) * t.size, 0.1 * t.brightness, COLOURS["disk"])


def _other(canvas, t, rng, x, y):
    cx, cy = _centre(canvas)
    ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.7, 1.5) * t.size
    moffat_star(canvas, cx + dist * np.cos(ang), cy + dist * np.sin(ang),
                10 ** rng.uniform(1.5, 2.3), alpha=1.8, spikes=0.02)


def odd_extras(canvas, t, rng, x, y):
    """Draw the odd feature of ``t`` that its main body does not already show."""
    f = t.odd_feature
    if f == "lens or arc":
        _lens_arc(canvas, t, rng, x, y)
    elif f == "merger":
        _merger(canvas, t, rng, x, y)
    elif f == "disturbed":
        _disturbed(canvas, t, rng, x, y)
    elif f == "other":
        _other(canvas, t, rng, x, y)
    elif f == "dust lane" and t.kind == "smooth":
        xr, yr = rotate(x, y, t.pa + rng.normal(0, 0.1))
        dust_lane(canvas, xr, yr, rng.uniform(1.5, 2.5), width=max(1.8, 0.12 * t.size),
                  length=1.6 * t.size)


def artifact_scene(canvas, t, rng):
    """A star or an imaging artifact at the centre of the full canvas."""
    cx, cy = _centre(canvas)
    kind = t.params["artifact"]
    if kind in ("star", "bleed"):
        amp = 10 ** (rng.uniform(2.3, 3.2) if kind == "star" else rng.uniform(3.2, 3.8))
        moffat_star(canvas, cx, cy, amp, alpha=rng.uniform(2.2, 3.2), spikes=0.05)
        if kind == "bleed":
            half, w = int(rng.uniform(60, 170)), int(rng.integers(1, 3))
            lo, hi = max(int(cy) - half, 0), min(int(cy) + half, canvas.shape[1])
            taper = np.linspace(-1, 1, hi - lo, dtype=np.float32)
            col = np.float32(20.0) * (1 - taper ** 8)
            canvas[:, lo:hi, int(cx) - w:int(cx) + w + 1] += col[None, :, None]
    elif kind == "trail":
        moffat_star(canvas, cx, cy, 10 ** rng.uniform(0.5, 1.3), alpha=1.8)
        x, y = grid(canvas.shape[1])
        ang = rng.uniform(0, np.pi)
        along, across = rotate(x, y, ang)
        base = rng.uniform(-20, 20)
        gap = rng.uniform(3.0, 6.0)
        for ch, k in enumerate(rng.permutation(3)):
            d = across - np.float32(base + (k - 1) * gap)
            canvas[ch] += np.float32(rng.uniform(2.0, 5.0)) * safe_exp(-0.5 * (d / np.float32(1.2)) ** 2)
    else:   # reflection ghost: a large out-of-focus ring of one colour
        moffat_star(canvas, cx, cy, 10 ** rng.uniform(0.5, 1.3), alpha=1.8)
        x, y = grid(canvas.shape[1], rng.normal(0, 8), rng.normal(0, 8))
        r = np.sqrt(x * x + y * y)
        rad = rng.uniform(35, 80)
        shape = ring(r, rad, 0.25 * rad) + 0.5 * (r < rad)
        colour = np.array([[0.3, 1.0, 0.4], [1.0, 0.35, 0.8], [0.4, 0.5, 1.0]][rng.integers(3)],
                          np.float32)
        canvas += (np.float32(rng.uniform(0.1, 0.25)) * colour)[:, None, None] * shape


def _small_galaxy(canvas, rng, x0, y0):
    re = rng.uniform(1.5, 4.5)
    rad = int(8 * re)
    h, w = canvas.shape[1:]
    xi, yi = int(x0), int(y0)
    xl, xh, yl, yh = max(xi - rad, 0), min(xi + rad, w), max(yi - rad, 0), min(yi + rad, h)
    xs = (np.arange(xl, xh, dtype=np.float32) - np.float32(x0))[None, :]
    ys = (np.arange(yl, yh, dtype=np.float32) - np.float32(y0))[:, None]
    img = sersic(xs, ys, re, rng.uniform(1.0, 4.0), rng.uniform(0.3, 1.0), rng.uniform(0, np.pi))
    colour = COLOURS["old" if rng.random() < 0.5 else "disk"]
    canvas[:, yl:yh, xl:xh] += (np.float32(rng.uniform(0.08, 0.3)) * colour)[:, None, None] * img


def neighbours(canvas, rng, t):
    """A few faint stars and small galaxies away from the centre."""
    cx, cy = _centre(canvas)
    for _ in range(int(rng.integers(2, 8))):
        while True:
            x0, y0 = rng.uniform(4, canvas.shape[2] - 4, 2)
            if np.hypot(x0 - cx, y0 - cy) > 85:
                break
        if rng.random() < 0.65:
            amp = 10 ** rng.uniform(-0.3, 1.5)
            colour = (COLOURS["star"] * np.exp(rng.normal(0, 0.2, 3))).astype(np.float32)
            moffat_star(canvas, x0, y0, amp, alpha=rng.uniform(1.4, 2.0),
                        spikes=0.02 if amp > 20 else 0.0, colour=colour)
        else:
            _small_galaxy(canvas, rng, x0, y0)
