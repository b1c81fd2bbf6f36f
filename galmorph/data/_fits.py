"""FITS images as the networks' colour input: the g, r, i planes and their Lupton composite.

Behind :func:`galmorph.data.images.load_image` for ``.fits``, ``.fit`` and their
gzipped forms; astropy is imported only when a FITS file is read.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

__all__ = ["gri_planes", "lupton_rgb", "asinh_rgb", "FITS_Q", "FITS_WHITE_PERCENTILE"]

#: Lupton et al. (2004) softening of the FITS colour composite.
FITS_Q = 8.0
#: Percentile of the composite's intensity that is mapped to full white.
FITS_WHITE_PERCENTILE = 99.9


def gri_planes(path):
    """The one (greyscale) or three (g, r, i, in that order) float64 image planes of a FITS file.

    Three HDUs whose ``FILTER`` (or ``BAND``) keywords name g, r and i are put in that
    order; otherwise the file's order is kept.
    """
    planes, bands = _fits_planes(path)
    if len(planes) not in (1, 3):
        raise DataError(f"FITS image {path} has {len(planes)} 2D image HDUs; expected 1 "
                        f"(greyscale) or 3 (g, r, i)")
    if len({p.shape for p in planes}) != 1:
        raise DataError(f"FITS image {path}: the bands have different shapes "
                        f"{[p.shape for p in planes]}")
    if len(planes) == 3 and sorted(bands) == ["g", "i", "r"]:
        planes = [planes[bands.index(b)] for b in ("g", "r", "i")]
    return planes


def _fits_planes(path):
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            planes, bands = [], []
            for hdu in hdul:
                if hdu.data is None or not getattr(hdu, "is_image", False):
                    continue
                data = np.asarray(hdu.data, dtype=np.float64)
                band = str(hdu.header.get("FILTER", hdu.header.get("BAND", ""))).strip().lower()
                if data.ndim == 3 and data.shape[0] == 3 and not planes:
                    return list(data), [band] * 3
                if data.ndim != 2:
                    raise DataError(f"FITS image {path}: HDU {hdul.index(hdu)} has shape "
                                    f"{data.shape}; expected 2D images or one (3, H, W) cube")
                planes.append(data)
                bands.append(band)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except Exception as err:
        raise DataError(f"cannot read FITS image {path}: {err}") from None
    return planes, bands


def lupton_rgb(red, green, blue, path):
    """uint8 (H, W, 3) asinh composite (Lupton et al. 2004) of three planes, each minus its
    median sky."""
    bands = []
    for band in (red, green, blue):
        finite = np.isfinite(band)
        if not finite.any():
            raise DataError(f"FITS image {path} has a band with no finite pixels")
        sky = np.median(band[finite])
        bands.append(np.where(finite, band - sky, 0.0))
    intensity = (bands[0] + bands[1] + bands[2]) / 3.0
    white = np.percentile(intensity, FITS_WHITE_PERCENTILE)
    if not white > 0:
        white = max(float(intensity.max()), 1e-12)
    # make_lupton_rgb maps I to asinh(Q I / stretch) / Q; 1 is white, reached at
    # I = stretch * sinh(Q) / Q, so this stretch puts the chosen percentile at white.
    stretch = white * FITS_Q / math.sinh(FITS_Q)
    return asinh_rgb(*bands, stretch=stretch, Q=FITS_Q)  # (H, W, 3) uint8


def asinh_rgb(red, green, blue, *, stretch, Q):
    """:func:`astropy.visualization.make_lupton_rgb` (``minimum=0``) without its 0/0 warnings.

    astropy scales each pixel by ``asinh(Q I / stretch) / (Q I)`` and then keeps 0 where
    the intensity ``I <= 0``, so a pixel with ``I = 0`` computes 0/0 and warns
    ("invalid value encountered in divide") although the NaN never reaches the result.
    An image with no signal at all (all black, or constant bands minus their sky) is
    black without computing anything; elsewhere the discarded division is silenced.
    """
    from astropy.visualization import make_lupton_rgb

    intensity = (np.asarray(red) + np.asarray(green) + np.asarray(blue)) / 3.0
    if not np.any(intensity > 0):  # zero variance: the result is all 0 (I <= 0 everywhere)
        return np.zeros(intensity.shape + (3,), np.uint8)
    with np.errstate(invalid="ignore", divide="ignore"):
        return make_lupton_rgb(red, green, blue, minimum=0.0, stretch=stretch, Q=Q)
