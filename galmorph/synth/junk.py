"""Images the model was not made for, to check its out-of-distribution flag.

Each kind is one row of issue 26's table of junk: blank frames, noise, patterns, a
patch of empty sky blown up, and real galaxies at the wrong scale, off centre or
saturated. :func:`junk_image` makes one 424 x 424 RGB ``uint8`` image of a kind;
the ones that start from a real galaxy take its image.

    >>> import numpy as np
    >>> junk_image("grey", seed=0).shape
    (424, 424, 3)
"""
from __future__ import annotations

import numpy as np

__all__ = ["JUNK_KINDS", "NEEDS_GALAXY", "junk_image"]

SIZE = 424
#: Every kind, in the order of issue 26's table.
JUNK_KINDS = ("black", "grey", "white", "uniform_noise", "gaussian_noise", "stripes",
              "checkerboard", "empty_sky", "shrunk_4x", "shifted_120px", "saturated_8x")
#: The kinds made from a real galaxy's image.
NEEDS_GALAXY = ("empty_sky", "shrunk_4x", "shifted_120px", "saturated_8x")


def _resize(image, size):
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))


def _pattern(kind, rng):
    period = int(rng.integers(4, 25))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        on = ((xx * np.cos(angle) + yy * np.sin(angle)) // period) % 2
    else:
        on = ((xx // period) + (yy // period)) % 2
    low, high = sorted(rng.integers(0, 256, 2))
    return np.repeat(np.where(on, high, low).astype(np.uint8)[..., None], 3, 2)


def junk_image(kind, galaxy=None, *, seed=None):
    """One junk image.

    Parameters
    ----------
    kind : str
        One of :data:`JUNK_KINDS`.
    galaxy : numpy.ndarray, uint8, shape (424, 424, 3), optional
        A real galaxy image, for the kinds in :data:`NEEDS_GALAXY`.
    seed : int, optional
        For the random kinds (noise, pattern period and angle, sky corner, shift
        direction).

    Returns
    -------
    numpy.ndarray, uint8, shape (424, 424, 3)
    """
    rng = np.random.default_rng(seed)
    if kind in NEEDS_GALAXY:
        if galaxy is None or np.shape(galaxy) != (SIZE, SIZE, 3):
            raise ValueError(f"junk kind {kind!r} needs a real 424 x 424 x 3 galaxy image")
        galaxy = np.asarray(galaxy, dtype=np.uint8)
    if kind in ("black", "grey", "white"):
        return np.full((SIZE, SIZE, 3), {"black": 0, "grey": 128, "white": 255}[kind], np.uint8)
    if kind == "uniform_noise":
        return rng.integers(0, 256, (SIZE, SIZE, 3)).astype(np.uint8)
    if kind == "gaussian_noise":
        return np.clip(rng.normal(128, 40, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    if kind in ("stripes", "checkerboard"):
        return _pattern(kind, rng)
    if kind == "empty_sky":
        # A 48 px corner of the frame, far from the galaxy, blown up to the full size.
        y, x = rng.choice([0, SIZE - 48], 2)
        return _resize(galaxy[y:y + 48, x:x + 48], SIZE)
    if kind == "shrunk_4x":
        out = np.zeros_like(galaxy)
        small = _resize(galaxy, SIZE // 4)
        at = (SIZE - SIZE // 4) // 2
        out[at:at + SIZE // 4, at:at + SIZE // 4] = small
        return out
    if kind == "shifted_120px":
        angle = rng.uniform(0, 2 * np.pi)
        dy, dx = (int(round(120 * np.sin(angle))), int(round(120 * np.cos(angle))))
        padded = np.pad(galaxy, ((120, 120), (120, 120), (0, 0)), mode="reflect")
        return padded[120 - dy:120 - dy + SIZE, 120 - dx:120 - dx + SIZE].copy()
    if kind == "saturated_8x":
        return np.clip(galaxy.astype(np.int32) * 8, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown junk kind {kind!r}; one of {', '.join(JUNK_KINDS)}")
