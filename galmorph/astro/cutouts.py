"""SDSS colour cutouts by RA/Dec, in the Galaxy Zoo 2 conventions, through astroquery.

GZ2 showed each galaxy as a 424 x 424 pixel gri colour image at
0.02 x petroR90_r arcsec per pixel, so that the galaxy fills the frame whatever
its size (Willett et al. 2013, Sect. 2). `fetch_cutouts` makes such images from
two services, chosen by ``backend``:

``"hips2fits"`` (default)
    The CDS hips2fits service cuts the SDSS DR9 colour HiPS (``CDS/P/SDSS9/color``)
    onto a TAN WCS built from the pixel scale and returns a JPEG. One request per
    galaxy; the quickest.
``"sdss"``
    SkyServer CrossID finds the imaging field, ``SDSS.get_images`` downloads the
    g, r, i frames, `~astropy.nddata.Cutout2D` cuts around the galaxy, each band is
    resampled north-up onto the cutout grid and `~astropy.visualization.make_lupton_rgb`
    combines i, r, g into R, G, B (Lupton et al. 2004, the recipe behind the SDSS
    colour images). Four requests per galaxy (frames are ~12 MB each on the real SAS).

Images are cached on disk, faults are retried or reported per galaxy (see
`fetch_cutouts`); once a server cannot be reached at all (no network, a refused
connection), the rest of the run fails at once (`NetworkGuard`). The services'
addresses come from `conf` and ``astroquery.sdss.conf`` (``skyserver_baseurl``,
``sas_baseurl``). Failed requests are logged, with their full URL, at debug level on
the ``galmorph`` logger.

References
----------
Willett, K. W., et al. 2013, MNRAS, 435, 2835 (Galaxy Zoo 2).
Lupton, R., et al. 2004, PASP, 116, 133.
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galmorph.astro._cutout_backends import (BACKENDS, Conf, PermanentError, TransientError,
                                            UnreachableError, _clip, conf)
from galmorph.astro._cutout_cache import cutout_cache_path, read_cached, write_cached
from galmorph.errors import CutoutError

__all__ = ["Cutout", "NetworkGuard", "fetch_cutout", "fetch_cutouts", "pixel_scale_for",
           "cutout_cache_path", "conf", "Conf", "BACKENDS", "GZ2_SCALE_FACTOR",
           "DEFAULT_PIXEL_SCALE", "GZ2_SIZE", "MAX_ERROR_LENGTH"]

log = logging.getLogger(__name__)

GZ2_SIZE = 424                # pixels on a side of a GZ2 image
GZ2_SCALE_FACTOR = 0.02       # arcsec/pixel per arcsec of petroR90_r (Willett et al. 2013)
# Without petroR90_r: the native SDSS imaging scale. Nothing is resampled, and a galaxy
# appears as in GZ2 when its petroR90_r is 0.396 / 0.02 = 19.8 arcsec; smaller galaxies
# look smaller than the networks saw them in training, so pass petro_r90 when you have it.
DEFAULT_PIXEL_SCALE = 0.396   # arcsec/pixel
MAX_ERROR_LENGTH = 180        # characters of a Cutout.error: it lands in a table column


@dataclass
class Cutout:
    """One cutout, or the reason there is none.

    Attributes
    ----------
    image : `numpy.ndarray` or None
        ``uint8 (size, size, 3)`` RGB, north up and east left; None when it failed.
    error : str or None
        Why it failed (the position and the cause), or None.
    pixel_scale : float
        Arcsec per pixel.
    backend : str
        The service it came from ("hips2fits" or "sdss").
    cached : bool
        True when it was read from the disk cache (no request made).
    ra, dec : float
        The position, degrees (ICRS).
    """
    image: np.ndarray = None
    error: str = None
    pixel_scale: float = DEFAULT_PIXEL_SCALE
    backend: str = "hips2fits"
    cached: bool = False
    ra: float = float("nan")
    dec: float = float("nan")

    @property
    def ok(self):
        """True when the image is there."""
        return self.image is not None


class NetworkGuard:
    """The first server found unreachable in a run, shared by the `fetch_cutouts` calls of it.

    When a host name does not resolve (no network) or a connection is refused, every
    other position would fail the same way after the same wait, so they fail at once,
    with a short reason and no request. `fetch_cutouts` makes one per call unless given
    one; `~galmorph.astro.classifier.MorphologyClassifier.predict` shares one per run.

    Attributes
    ----------
    error : `~galmorph.astro._cutout_backends.UnreachableError` or None
        The first failure, None while all is well.
    row : int or None
        The row of the first failure.
    """

    def __init__(self):
        self.error = None
        self.row = None
        self._lock = threading.Lock()

    def trip(self, error, row):
        """Record ``error`` at ``row`` unless an earlier failure is recorded.

        Parameters
        ----------
        error : `~galmorph.astro._cutout_backends.UnreachableError`
            The failure; kept as ``error`` when it is the first.
        row : int
            The row of the position that failed; kept as ``row`` when it is the first.
        """
        with self._lock:
            if self.error is None:
                self.error, self.row = error, row

    @property
    def reason(self):
        """Why the remaining positions are not tried, or None."""
        if self.error is None:
            return None
        return f"{self.error.summary} (first failure at row {self.row}); not tried"


def pixel_scale_for(petro_r90):
    """GZ2 pixel scale (arcsec/pixel) for a petroR90_r (arcsec; None/NaN/<= 0: the default).

    Examples
    --------
    >>> pixel_scale_for(10.0)
    0.2
    >>> pixel_scale_for(None)
    0.396
    """
    if petro_r90 is None:
        return DEFAULT_PIXEL_SCALE
    r90 = _arcsec(petro_r90, "petro_r90")
    if not np.isfinite(r90) or r90 <= 0:
        return DEFAULT_PIXEL_SCALE
    return round(GZ2_SCALE_FACTOR * r90, 6)


def fetch_cutout(coord, *, backend="hips2fits", petro_r90=None, size=GZ2_SIZE, cache_dir=None,
                 retries=3, backoff=0.5, timeout=30):
    """Fetch one cutout and return its image; raise `~galmorph.errors.CutoutError` on failure.

    The parameters are those of `fetch_cutouts`, for a single position.

    Parameters
    ----------
    coord : `~astropy.coordinates.SkyCoord` or (ra, dec)
        One position; plain numbers are degrees (ICRS).
    backend : {"hips2fits", "sdss"}
        The service (see the module docstring; default "hips2fits").
    petro_r90 : float or `~astropy.units.Quantity`, optional
        SDSS petroR90_r of the galaxy (arcsec). The pixel scale is 0.02 x petroR90_r
        arcsec/pixel; None, NaN or <= 0 gives ``DEFAULT_PIXEL_SCALE`` (0.396 arcsec/pixel).
    size : int
        Pixels on a side (default 424, as in GZ2).
    cache_dir : path, optional
        Cache folder (default ``galmorph.paths.cache_dir("cutouts")``); ``False``
        turns the cache off.
    retries : int
        Further attempts after a transient fault (default 3).
    backoff : float
        First back-off delay, seconds (default 0.5).
    timeout : float
        Time limit of each request, seconds (default 30).

    Returns
    -------
    image : `numpy.ndarray`
        ``uint8 (size, size, 3)``.

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> image = fetch_cutout(SkyCoord(185.72, 15.82, unit="deg"), petro_r90=12.0)  # doctest: +SKIP
    """
    cutouts = fetch_cutouts(coord, backend=backend, petro_r90=petro_r90, size=size,
                            cache_dir=cache_dir, retries=retries, backoff=backoff,
                            timeout=timeout, progress=False)
    if len(cutouts) != 1:
        raise ValueError(f"fetch_cutout takes one position, got {len(cutouts)}; "
                         "use fetch_cutouts for several")
    (cutout,) = cutouts
    if cutout.error is not None:
        raise CutoutError(cutout.error)
    return cutout.image


def fetch_cutouts(coords, *, backend="hips2fits", petro_r90=None, size=GZ2_SIZE, cache_dir=None,
                  retries=3, backoff=0.5, timeout=30, progress=True, workers=1, guard=None,
                  rows=None):
    """Fetch GZ2-style colour cutouts of many positions.

    Parameters
    ----------
    coords : `~astropy.coordinates.SkyCoord` or sequence of (ra, dec)
        Positions; plain numbers are degrees (ICRS). A scalar gives one cutout.
    backend : {"hips2fits", "sdss"}
        The service (see the module docstring).
    petro_r90 : float, array or `~astropy.units.Quantity`, optional
        SDSS petroR90_r of each galaxy (arcsec, one value or one per position).
        The pixel scale is 0.02 x petroR90_r arcsec/pixel as in GZ2; where it is
        None, NaN or <= 0, ``DEFAULT_PIXEL_SCALE`` (0.396 arcsec/pixel, SDSS native).
    size : int
        Pixels on a side (424 in GZ2).
    cache_dir : path, optional
        Cache folder (default ``galmorph.paths.cache_dir("cutouts")``); ``False``
        turns the cache off. A cached cutout is returned without any request.
    retries : int
        Further attempts after a transient fault (HTTP 5xx/429, time-out, connection
        dropped mid-answer), waiting ``backoff * 2**k`` seconds before the k-th retry.
        HTTP 4xx, unreadable payloads and positions without SDSS imaging are not retried.
        Nor is a host name that does not resolve or a refused connection: after the
        first, the remaining positions fail at once, "not tried" (see `NetworkGuard`).
    backoff : float
        First back-off delay, seconds.
    timeout : float
        Time limit of each request, seconds.
    progress : bool
        Show a tqdm progress bar.
    workers : int
        Positions fetched at the same time (threads). 1 (the default) is gentlest on the
        services; a few (4-8) speed up large batches, which are I/O bound.
    guard : `NetworkGuard`, optional
        Shared by several calls that form one run, so that a server found unreachable
        in one call fails the next calls at once (default: a new one for this call).
    rows : sequence of int, optional
        Row number of each position, used in messages (default 0, 1, ...).

    Returns
    -------
    cutouts : list of `Cutout`
        One per position, in order. A failure never stops the batch: its Cutout
        has ``image=None`` and ``error`` naming the position and the cause in at
        most ``MAX_ERROR_LENGTH`` (180) characters.

    Raises
    ------
    ValueError
        For a bad argument (unknown backend, petro_r90 of the wrong length, ...).

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> coords = SkyCoord([185.72, 150.1], [15.82, 2.2], unit="deg")
    >>> cutouts = fetch_cutouts(coords, petro_r90=[12.0, 6.5])  # doctest: +SKIP
    >>> [c.image.shape for c in cutouts if c.ok]  # doctest: +SKIP
    [(424, 424, 3), (424, 424, 3)]
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown cutout backend {backend!r}; choose one of {sorted(BACKENDS)}")
    size = int(size)
    if size < 2:
        raise ValueError(f"size must be at least 2 pixels, got {size}")
    ra, dec = _radec(coords)
    scales = _scales(petro_r90, len(ra))
    if cache_dir is None:
        from galmorph.paths import cache_dir as default_cache_dir
        cache_dir = default_cache_dir("cutouts")
    elif cache_dir is not False:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    fetch = BACKENDS[backend]
    options = dict(retries=int(retries), backoff=float(backoff), timeout=float(timeout))
    if int(workers) < 1 or options["retries"] < 0 or not options["timeout"] > 0:
        raise ValueError(f"workers must be at least 1, retries at least 0 and timeout positive; "
                         f"got workers={workers}, retries={retries}, timeout={timeout}")
    guard = NetworkGuard() if guard is None else guard
    rows = range(len(ra)) if rows is None else list(rows)
    if len(rows) != len(ra):
        raise ValueError(f"rows has {len(rows)} values for {len(ra)} positions")
    from galmorph._util._progress import progress_bar

    def one(args):
        r, d, scale, row = args
        return _one(fetch, backend, float(r), float(d), scale, size, cache_dir, options,
                    guard, row)

    jobs = list(zip(ra, dec, scales, rows))
    with progress_bar(total=len(jobs), enabled=progress, desc=f"cutouts ({backend})",
                      unit="galaxy") as bar:
        if int(workers) == 1:
            return [_tick(bar, one(job)) for job in jobs]
        with ThreadPoolExecutor(max_workers=int(workers)) as pool:  # map keeps the order
            return [_tick(bar, cutout) for cutout in pool.map(one, jobs)]


def _tick(bar, cutout):
    bar.update(1)
    return cutout


def _one(fetch, backend, ra, dec, scale, size, cache_dir, options, guard, row):
    """One position: the cache, else the backend with retries; never raises for a fault."""
    cutout = Cutout(pixel_scale=scale, backend=backend, ra=ra, dec=dec)
    path = None
    if cache_dir is not False:
        path = cutout_cache_path(cache_dir, backend, ra, dec, scale, size)
        image = read_cached(path, size)
        if image is not None:
            cutout.image, cutout.cached = image, True
            return cutout
    where = f"RA={ra:.5f} Dec={dec:+.5f} deg"
    if guard.reason is not None:  # a server is unreachable: asking would only wait
        cutout.error = _clip(f"{backend} cutout at {where}: {guard.reason}", MAX_ERROR_LENGTH)
        return cutout
    try:
        cutout.image = _with_retries(fetch, (ra, dec, scale, size), **options)
    except UnreachableError as exc:
        guard.trip(exc, row)
        cutout.error = f"{backend} cutout at {where} failed: {exc}"
    except PermanentError as exc:
        cutout.error = f"{backend} cutout at {where} failed: {exc}"
    except TransientError as exc:
        cutout.error = (f"{backend} cutout at {where} failed after {options['retries'] + 1} "
                        f"attempts: {exc}; try again later")
    except Exception as exc:  # an answer astroquery could not digest: report, go on with the batch
        log.debug("%s cutout at %s failed", backend, where, exc_info=True)
        cutout.error = (f"{backend} cutout at {where} failed with an unexpected "
                        f"{type(exc).__name__}: {exc}")
    cutout.error = None if cutout.error is None else _clip(cutout.error, MAX_ERROR_LENGTH)
    if cutout.image is not None and path is not None:
        write_cached(path, cutout.image)
    return cutout


def _with_retries(fetch, args, *, retries, backoff, timeout):
    """Call ``fetch(*args, timeout)``; retry TransientError with exponential back-off."""
    for attempt in range(retries + 1):
        try:
            return fetch(*args, timeout)
        except TransientError:
            if attempt == retries:
                raise
            time.sleep(backoff * 2 ** attempt)


def _arcsec(value, name):
    from astropy import units as u
    if isinstance(value, u.Quantity):
        try:
            return value.to_value(u.arcsec)
        except u.UnitConversionError:
            raise ValueError(f"{name} must be an angle (e.g. arcsec), got unit {value.unit}") \
                from None
    return np.asarray(value, dtype=float) if np.ndim(value) else float(value)


def _scales(petro_r90, n):
    """Pixel scale (arcsec/pixel) of each of n positions."""
    if petro_r90 is None:
        return [DEFAULT_PIXEL_SCALE] * n
    r90 = np.atleast_1d(np.asarray(_arcsec(petro_r90, "petro_r90"), dtype=float))
    if r90.ndim != 1 or (r90.size != n and r90.size != 1):
        raise ValueError(f"petro_r90 has {r90.size} values for {n} positions; "
                         "give one value or one per position")
    r90 = np.broadcast_to(r90, (n,))
    return [pixel_scale_for(float(r)) for r in r90]


def _radec(coords):
    """(ra, dec) float arrays in degrees (ICRS) from a SkyCoord or (ra, dec) pairs."""
    from astropy.coordinates import SkyCoord
    if isinstance(coords, SkyCoord):
        icrs = coords.icrs
        return np.atleast_1d(icrs.ra.deg), np.atleast_1d(icrs.dec.deg)
    try:
        pairs = np.asarray(coords, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("coords must be a SkyCoord or (ra, dec) pairs in degrees, "
                         f"got {type(coords).__name__}") from None
    if pairs.size == 0:
        return np.zeros(0), np.zeros(0)
    pairs = pairs.reshape(1, -1) if pairs.ndim == 1 else pairs
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"coords must be (ra, dec) pairs in degrees, got shape {pairs.shape}")
    bad = ~np.isfinite(pairs).all(axis=1) | (np.abs(pairs[:, 1]) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"coords row {i} is not a valid (ra, dec) in degrees: {pairs[i].tolist()}")
    return pairs[:, 0] % 360.0, pairs[:, 1]
