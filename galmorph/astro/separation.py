"""Nearest projected neighbour of the central galaxy, and its separation.

A companion in the cutout raises the Galaxy Zoo merger vote whether or not the
two galaxies interact (an angular-separation bias). This module finds, in each
cutout, the detected source nearest to the central galaxy and expresses the
separation in pixels, in units of the galaxy's Petrosian radius
``petroR90_r`` (the GZ2 scale: the Kaggle and GZ2 JPEGs, and cutouts fetched
with ``petroR90_r``, have 0.02 petroR90_r per pixel), in arcsec where the
pixel scale is known and in proper kpc where the redshift is known too.

Detection
---------
The image is averaged over its colour channels, smoothed with a Gaussian of
``smooth`` pixels sigma, and thresholded at ``nsigma`` times the sigma-clipped
noise above the sigma-clipped background. Connected regions of at least
``npixels`` pixels are sources: ``photutils.segmentation.detect_sources``
where photutils is installed (``pip install galmorph[photutils]``), else the
documented fallback ``scipy.ndimage.label`` on the same thresholded mask (the
two give the same segmentation). The central source is then deblended as
SExtractor does: the threshold is raised in exponential steps towards its peak
and, where it falls apart into two or more significant parts, those parts
become separate sources. This is done here rather than with photutils'
``deblend_sources`` because that needs scikit-image, which galmorph does not
require, and so that both paths agree.

The central galaxy is the source covering the image centre (or, when the
centre lies on background, the source nearest to it); the separation is
between flux-weighted centroids of the smoothed image.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from astropy.table import Table

# The GZ2 cutout scale, 0.02 petroR90_r per pixel (Willett et al. 2013, Sect. 2.2).
from galmorph.astro.cutouts import GZ2_SCALE_FACTOR
from galmorph.errors import DataError

__all__ = ["GZ2_SCALE_FACTOR", "Neighbour", "find_nearest_neighbour", "projected_separation",
           "safe_projected_separation", "measure_separations"]



@dataclass
class Neighbour:
    """The nearest neighbour found in one image (pixel units).

    ``sep_px`` is ``inf`` when no other source was detected; ``flux_ratio`` is
    the neighbour's summed flux over the central galaxy's; ``n_sources``
    counts the central galaxy and the neighbours bright enough to count.
    """

    sep_px: float
    central_x: float
    central_y: float
    neighbour_x: float = np.nan
    neighbour_y: float = np.nan
    flux_ratio: float = np.nan
    n_sources: int = 0
    method: str = ""


def _luminance(image):
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].mean(axis=-1)
    elif arr.ndim == 3 and arr.shape[0] == 3:
        arr = arr.mean(axis=0)
    if arr.ndim != 2:
        raise DataError(f"expected an image of shape (H, W), (H, W, 3) or (3, H, W), "
                        f"got {np.shape(image)}")
    return arr.astype(np.float64)


def _threshold(smoothed, nsigma):
    from astropy.stats import sigma_clipped_stats

    _, median, std = sigma_clipped_stats(smoothed, sigma=3.0, maxiters=5)
    # A flat (noise-free) background gives std 0; keep a floor of 1 grey level.
    return median + nsigma * max(float(std), 1.0 / max(nsigma, 1e-6))


def _segment(smoothed, thresh, npixels, method):
    if method in ("auto", "photutils"):
        try:
            from photutils.segmentation import detect_sources
        except ImportError:
            if method == "photutils":
                raise ImportError("method='photutils' needs photutils: "
                                  "pip install 'galmorph[photutils]'") from None
        else:
            # Positional n_pixels: photutils 2.x renamed the keyword (npixels -> n_pixels).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # NoDetectionsWarning: an empty image is an answer
                segm = detect_sources(smoothed, thresh, npixels)
            labels = np.zeros(smoothed.shape, int) if segm is None else np.asarray(segm.data)
            return labels, "photutils"
    from scipy import ndimage

    labels, _ = ndimage.label(smoothed > thresh, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())
    small = sizes < npixels
    small[0] = False
    labels[small[labels]] = 0
    return labels, "scipy"


def _split(smoothed, region, thresh, npixels, n_levels=24, contrast=0.05):
    """Multi-threshold deblending of one source (as SExtractor does).

    Raises the threshold in ``n_levels`` exponential steps from the detection
    level to the source's peak; at the first level where the source falls
    apart into two or more parts, each with at least ``npixels`` pixels and
    ``contrast`` of the source's flux, those parts are returned as labels.
    """
    from scipy import ndimage

    values = smoothed[region]
    peak, total = float(values.max()), float(values.sum())
    base = max(thresh, 1e-3)
    if peak <= base:
        return None
    for lev in base * (peak / base) ** (np.arange(1, n_levels) / n_levels):
        sub, n = ndimage.label(region & (smoothed > lev), structure=np.ones((3, 3)))
        if n < 2:
            continue
        idx = np.arange(1, n + 1)
        keep = ((ndimage.sum(np.ones_like(smoothed), sub, idx) >= npixels)
                & (ndimage.sum(smoothed, sub, idx) >= contrast * total))
        if keep.sum() >= 2:
            sub[~np.concatenate([[False], keep])[sub]] = 0
            return sub
    return None


def find_nearest_neighbour(image, *, nsigma=3.0, npixels=20, smooth=1.5, deblend=True,
                           min_flux_ratio=0.05, method="auto"):
    """Detect sources in one image and find the nearest neighbour of the central one.

    Parameters
    ----------
    image : array, shape (H, W, 3), (3, H, W) or (H, W)
        The cutout, the galaxy at the centre (as GZ2 cutouts are).
    nsigma : float
        Detection threshold above the background in units of the noise.
    npixels : int
        Minimum source area in pixels.
    smooth : float
        Gaussian smoothing sigma in pixels before detection (0: none).
    deblend : bool
        Split a central source made of touching galaxies (multi-threshold).
    min_flux_ratio : float
        Ignore sources with less than this fraction of the central galaxy's
        flux (default 0.05, 3.3 mag fainter): the faint background galaxies
        that fill every deep cutout, and clumps of the galaxy itself in the
        deblending, which uses the same contrast.
    method : {"auto", "photutils", "scipy"}
        ``"auto"`` uses photutils when installed, else ``scipy.ndimage``.

    Returns
    -------
    Neighbour
    """
    from scipy import ndimage

    lum = _luminance(image)
    smoothed = ndimage.gaussian_filter(lum, smooth) if smooth else lum
    thresh = _threshold(smoothed, nsigma)
    labels, used = _segment(smoothed, thresh, npixels, method)
    h, w = lum.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    c_label = _central_label(labels, cx, cy)
    if c_label == 0:
        return Neighbour(np.inf, cx, cy, n_sources=0, method=used)
    if deblend:
        parts = _split(smoothed, labels == c_label, thresh, npixels, contrast=min_flux_ratio)
        if parts is not None:
            # The central source fell apart: its parts replace it as separate sources.
            labels = np.where(labels == c_label, 0, labels)
            labels[parts > 0] = parts[parts > 0] + labels.max()
            c_label = _central_label(labels, cx, cy)
    ids = np.unique(labels[labels > 0])
    flux = np.clip(smoothed, 0, None)
    ys, xs = np.indices(lum.shape)
    total = np.asarray(ndimage.sum(flux, labels, ids)) + 1e-12
    mx = np.asarray(ndimage.sum(flux * xs, labels, ids)) / total
    my = np.asarray(ndimage.sum(flux * ys, labels, ids)) / total
    c = int(np.flatnonzero(ids == c_label)[0])
    bright = total >= min_flux_ratio * total[c]  # (S,) the central one included
    n_sources = int(bright.sum())
    if n_sources == 1:
        return Neighbour(np.inf, float(mx[c]), float(my[c]), n_sources=1, method=used)
    d = np.where(bright, np.hypot(mx - mx[c], my - my[c]), np.inf)
    d[c] = np.inf
    j = int(np.argmin(d))
    return Neighbour(float(d[j]), float(mx[c]), float(my[c]), float(mx[j]), float(my[j]),
                     float(total[j] / total[c]), n_sources, used)


def _central_label(labels, cx, cy):
    """Label of the source covering the centre, else of the one nearest to it (0: none)."""
    label = labels[int(round(cy)), int(round(cx))]
    if label > 0:
        return int(label)
    ys, xs = np.nonzero(labels)
    if ys.size == 0:
        return 0
    k = int(np.argmin(np.hypot(xs - cx, ys - cy)))
    return int(labels[ys[k], xs[k]])


def projected_separation(sep_px, *, pixel_scale=None, petro_r90=None, z=None, cosmology=None,
                         gz2_scale=True):
    """Express separations in pixels, petroR90_r, arcsec and proper kpc.

    Parameters
    ----------
    sep_px : float or array
        Separations in pixels (``inf`` = no neighbour, NaN = not measured).
    pixel_scale : float or array, optional
        Pixel scale in arcsec/pixel.
    petro_r90 : float or array, optional
        ``petroR90_r`` in arcsec.
    z : float or array, optional
        Redshift, for the separation in kpc.
    cosmology : astropy.cosmology.Cosmology, optional
        Default :data:`astropy.cosmology.Planck18`.
    gz2_scale : bool
        The images are at the GZ2 scale (0.02 petroR90_r/pixel). Then
        ``sep_r90 = 0.02 sep_px`` and, given ``petro_r90``, the pixel scale
        follows as ``0.02 petro_r90``.

    Returns
    -------
    dict of numpy arrays
        ``sep_px``, ``sep_r90`` (petroR90_r units), ``sep_arcsec``, ``sep_kpc``
        (proper kpc); NaN where the scale needed is unknown.
    """
    sep_px = np.asarray(sep_px, dtype=np.float64)
    nan = np.full(sep_px.shape, np.nan)

    def arr(v):
        return nan.copy() if v is None else np.broadcast_to(
            np.asarray(v, dtype=np.float64), sep_px.shape).copy()

    scale, r90, zz = arr(pixel_scale), arr(petro_r90), arr(z)
    if gz2_scale:
        scale = np.where(np.isfinite(scale), scale, GZ2_SCALE_FACTOR * r90)
        sep_r90 = GZ2_SCALE_FACTOR * sep_px
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            sep_r90 = sep_px * scale / r90
    sep_arcsec = sep_px * scale
    sep_kpc = nan.copy()
    good = np.isfinite(zz) & (zz > 0)
    if good.any():
        if cosmology is None:
            from astropy.cosmology import Planck18 as cosmology
        kpc_per_arcsec = cosmology.kpc_proper_per_arcmin(zz[good]).value / 60.0
        sep_kpc[good] = sep_arcsec[good] * kpc_per_arcsec
    return {"sep_px": sep_px, "sep_r90": sep_r90, "sep_arcsec": sep_arcsec, "sep_kpc": sep_kpc}


def safe_projected_separation(sep_px, **kwargs):
    """:func:`projected_separation` that keeps the measured columns when a step fails.

    For the classifier, which must not lose its predictions to a diagnostic:
    where the kpc step fails (a cosmology that cannot compute distances, a
    redshift that is not a number) ``sep_kpc`` is NaN; where even the
    angular step fails, every column but ``sep_px`` is.

    Returns
    -------
    dict
        The columns of :func:`projected_separation` and ``diagnostics_error``:
        ``""``, or what failed and why (any ``Exception``).
    """
    try:
        return {**projected_separation(sep_px, **kwargs), "diagnostics_error": ""}
    except Exception as err:  # noqa: BLE001 -- see the docstring
        why = f"{type(err).__name__}: {err}"
    kwargs.pop("cosmology", None)
    try:
        out = projected_separation(sep_px, **{**kwargs, "z": None})
        return {**out, "diagnostics_error": f"sep_kpc not computed: {why}"}
    except Exception:  # noqa: BLE001
        sep = np.asarray(sep_px, dtype=np.float64)
        nan = np.full(sep.shape, np.nan)
        return {"sep_px": sep, "sep_r90": nan, "sep_arcsec": nan.copy(), "sep_kpc": nan.copy(),
                "diagnostics_error": f"sep_r90, sep_arcsec and sep_kpc not computed: {why}"}


def measure_separations(images, *, pixel_scale=None, petro_r90=None, z=None, cosmology=None,
                        gz2_scale=True, **detect):
    """Nearest-neighbour separations for a sequence of cutouts.

    Parameters
    ----------
    images : iterable of arrays or image paths
        Full-resolution cutouts (e.g. 424x424 GZ2 JPEGs), galaxy at the centre.
        ``None`` entries (failed cutouts) give NaN rows.
    pixel_scale, petro_r90, z, cosmology, gz2_scale
        See :func:`projected_separation` (scalars or one value per image).
    **detect
        Passed to :func:`find_nearest_neighbour` (``nsigma``, ``npixels``, ...).

    Returns
    -------
    astropy.table.Table
        ``sep_px``, ``sep_r90``, ``sep_arcsec``, ``sep_kpc``, ``n_sources``,
        ``flux_ratio``, ``neighbour_x``, ``neighbour_y``; separations are
        ``inf`` where no neighbour was detected.

    Examples
    --------
    >>> t = measure_separations(["galaxy.jpg"], petro_r90=[5.2], z=[0.05])  # doctest: +SKIP
    """
    rows = []
    for image in images:
        if image is None:
            rows.append(Neighbour(np.nan, np.nan, np.nan))
            continue
        if not hasattr(image, "shape"):
            from galmorph.data.images import load_image
            image = load_image(image)
        rows.append(find_nearest_neighbour(image, **detect))
    sep = projected_separation([r.sep_px for r in rows], pixel_scale=pixel_scale,
                               petro_r90=petro_r90, z=z, cosmology=cosmology,
                               gz2_scale=gz2_scale)
    out = Table(sep)
    for name in ("n_sources", "flux_ratio", "neighbour_x", "neighbour_y"):
        out[name] = [asdict(r)[name] for r in rows]
    out["sep_r90"].description = "separation to the nearest neighbour in units of petroR90_r"
    out["sep_arcsec"].unit, out["sep_kpc"].unit = "arcsec", "kpc"
    return out
