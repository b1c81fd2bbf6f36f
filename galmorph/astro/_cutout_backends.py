"""The survey services behind `galmorph.astro.cutouts.fetch_cutouts`.

Each backend is a function ``(ra, dec, pixel_scale, size, timeout) -> uint8 (size, size, 3)``
(north up, east left, as GZ2 images) that raises `TransientError` for faults worth
retrying (HTTP 5xx/429, time-outs, connections dropped mid-answer), `UnreachableError`
when the server cannot be reached at all (its name does not resolve, or the connection
is refused: no other position will do better) and `PermanentError` for the other
faults (HTTP 4xx, a payload that is not an image, no SDSS imaging there).
Both go through the real astroquery clients, pointed at the servers in `conf`.

Messages name the service by its host and stay short (they end up in a table column);
the full URL of a failed request is logged at debug level on the ``galmorph`` logger.
"""
import http.client
import io
import logging
import re
import socket
import urllib.error
from urllib.parse import urlsplit

import numpy as np
from astropy import config as _config
from astropy import units as u

from galmorph._util._choices import CUTOUT_BACKENDS
from galmorph.errors import CutoutError

__all__ = ["conf", "Conf", "BACKENDS", "TransientError", "PermanentError", "UnreachableError",
           "target_wcs", "hips2fits_cutout", "sdss_cutout"]

log = logging.getLogger(__name__)
_DETAIL = 80  # characters of a server's own message kept in an error


# The section of galmorph.cfg these items live in, [astro.cutout_backends], is named after a
# module: kept as it was when this module was public, so users' config files keep working.
_SECTION = "galmorph.astro.cutout_backends"


class Conf(_config.ConfigNamespace):
    """Configuration of the cutout services (``conf.set_temp`` works on each item); in
    ``galmorph.cfg`` they are the section ``[astro.cutout_backends]``."""

    hips2fits_server = _config.ConfigItem(
        "", "URL of the hips2fits service; empty: astroquery.hips2fits.conf.server "
            "(astroquery only accepts its two CDS mirrors there, so other servers go here).",
        module=_SECTION)
    hips_survey = _config.ConfigItem(
        "CDS/P/SDSS9/color", "HiPS of the 'hips2fits' backend: the SDSS DR9 gri colour composite.",
        module=_SECTION)
    sdss_data_release = _config.ConfigItem(17, "SDSS data release of the 'sdss' backend.",
                                           module=_SECTION)
    sdss_search_radius = _config.ConfigItem(
        30.0, "Radius (arcsec) of the CrossID search that finds the imaging field of a position.",
        module=_SECTION)


conf = Conf()


class TransientError(CutoutError):
    """A fault that may go away: retry with back-off."""


class PermanentError(CutoutError):
    """A fault that will not go away by asking again."""


class UnreachableError(PermanentError):
    """The server cannot be reached: its name does not resolve or it refuses the connection.

    Asking again will not help, and neither will asking about another position, so
    `~galmorph.astro.cutouts.fetch_cutouts` fails the rest of the run at once.

    Attributes
    ----------
    host : str
        The host name (``host:port`` for a refused connection).
    kind : {"resolve", "refused"}
        What went wrong.
    """

    def __init__(self, host, kind):
        self.host, self.kind = host, kind
        if kind == "resolve":
            message = f"cannot resolve host {host!r} (no network, or a wrong server address)"
        else:
            message = f"connection refused by {host!r} (service not running, or a wrong address)"
        super().__init__(message)

    def __reduce__(self):
        return type(self), (self.host, self.kind)

    @property
    def summary(self):
        """The cause in a few words, for the positions not tried after this failure."""
        if self.kind == "resolve":
            return f"no network: cannot resolve host {self.host!r}"
        return f"service unreachable: connection refused by {self.host!r}"


def target_wcs(ra, dec, pixel_scale, size):
    """North-up, east-left TAN WCS of a ``size`` x ``size`` cutout centred on (ra, dec).

    Parameters
    ----------
    ra, dec : float
        Centre, degrees (ICRS).
    pixel_scale : float
        Arcsec per pixel.
    size : int
        Pixels on a side.
    """
    from astropy.wcs import WCS
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(size + 1) / 2.0, (size + 1) / 2.0]  # FITS pixels are 1-based
    wcs.wcs.cdelt = [-pixel_scale / 3600.0, pixel_scale / 3600.0]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.pixel_shape = (size, size)
    return wcs


def _host(url):
    """``host[:port]`` of a URL, to name a service in a message."""
    return urlsplit(str(url)).netloc or str(url)


def _clip(text, limit=_DETAIL):
    """``text`` on one line of at most ``limit`` characters (it may end up in a table cell)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _http_status(status, what, detail=""):
    """Raise the right error for a non-200 HTTP status."""
    detail = f" ({_clip(detail)})" if detail else ""
    if status >= 500 or status == 429:
        raise TransientError(f"{what} answered HTTP {status}{detail}")
    raise PermanentError(f"{what} answered HTTP {status}{detail}")


def _causes(exc):
    """``exc`` and everything behind it: ``__cause__``, ``__context__``, ``reason``, args."""
    stack, seen = [exc], set()
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]


def _unreachable(exc, url):
    """`UnreachableError` when a name look-up failed or the connection was refused, else None.

    Both come wrapped (requests -> urllib3 -> socket, or urllib's URLError); the causes
    are searched, not the messages.
    """
    parts = urlsplit(str(url))
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return UnreachableError(parts.hostname or str(url), "resolve")
        if isinstance(cause, ConnectionRefusedError):
            return UnreachableError(parts.netloc or str(url), "refused")
    return None


def _brief(exc, limit=60):
    """The innermost cause of ``exc``, short and without the URL (that is logged instead)."""
    inner = exc
    for _ in range(10):  # requests -> urllib3 -> socket is 3-4 deep
        nxt = next((c for c in (inner.__cause__, getattr(inner, "reason", None), *inner.args,
                                inner.__context__)
                    if isinstance(c, BaseException) and c is not inner), None)
        if nxt is None:
            break
        inner = nxt
    text = re.sub(r"^\w+\(host='[^']*', port=\d+\): ", "", str(inner))
    text = re.sub(r"\S+://\S+", "<url>", text)
    name = type(inner).__name__
    return _clip(text if text.startswith(name) else f"{name}: {text}" if text else name, limit)


def _log_failure(what, url, exc):
    """The full URL, once, for debugging (messages name only the host)."""
    log.debug("%s: request failed (%s); URL: %s", what, _brief(exc, 200), url)


def _requests_fault(exc, what, server, timeout):
    """Map a `requests` exception to Unreachable/Transient/Permanent (short messages)."""
    import requests
    url = getattr(getattr(exc, "request", None), "url", None) or server
    _log_failure(what, url, exc)
    unreachable = _unreachable(exc, url)
    if unreachable is not None:
        return unreachable
    import urllib3
    timeouts = (TimeoutError, urllib3.exceptions.TimeoutError)  # also when it cut the body
    if isinstance(exc, requests.exceptions.Timeout) or any(isinstance(c, timeouts)
                                                           for c in _causes(exc)):
        return TransientError(f"{what} did not answer: timed out after {timeout:g} s")
    if isinstance(exc, (requests.exceptions.ConnectionError,
                        requests.exceptions.ChunkedEncodingError)):
        return TransientError(f"{what} dropped the connection ({_brief(exc)})")
    return PermanentError(f"{what} request failed: {_brief(exc)}")


# -- hips2fits ----------------------------------------------------------------------------
def hips2fits_cutout(ra, dec, pixel_scale, size, timeout):
    """A colour JPEG from hips2fits on ``conf.hips_survey``: uint8 (size, size, 3)."""
    import requests
    from astroquery.hips2fits import conf as h2f_conf
    from astroquery.hips2fits import hips2fitsClass
    client = hips2fitsClass()
    client.server = conf.hips2fits_server or h2f_conf.server
    client.timeout = timeout
    what = f"hips2fits ({_host(client.server)})"
    try:
        # the async call returns the HTTP response, so that 503 and 404 can be told apart;
        # cuts 0-100 % keep the colour survey's own stretch (as in the GZ2 images)
        response = client.query_with_wcs_async(
            hips=conf.hips_survey, wcs=target_wcs(ra, dec, pixel_scale, size), format="jpg",
            min_cut=0.0, max_cut=100.0, stretch="linear", cmap="Greys_r")
    except requests.exceptions.RequestException as exc:
        raise _requests_fault(exc, what, client.server, timeout) from exc
    if response.status_code != 200:
        log.debug("%s: request %s answered HTTP %s", what, response.url, response.status_code)
        _http_status(response.status_code, what, _hips2fits_message(response))
    return _decode_image(response.content, size, what)


def _hips2fits_message(response):
    try:
        content = response.json()
        return ": ".join(str(content[k]) for k in ("title", "description") if k in content)
    except ValueError:
        return response.text[:200].strip()


def _decode_image(payload, size, what):
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(payload)) as image:
            array = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PermanentError(f"{what} sent a payload that is not an image ({len(payload)} "
                             f"bytes starting {payload[:16]!r})") from exc
    if array.shape != (size, size, 3):
        raise PermanentError(f"{what} sent an image of shape {array.shape}, "
                             f"expected ({size}, {size}, 3)")
    return np.ascontiguousarray(array, dtype=np.uint8)


# -- SDSS frames --------------------------------------------------------------------------
def sdss_cutout(ra, dec, pixel_scale, size, timeout):
    """gri SDSS frames -> Cutout2D -> north-up resampling -> Lupton RGB: uint8 (size, size, 3)."""
    from galmorph.data._fits import asinh_rgb
    field = _sdss_field(ra, dec, timeout)
    frames = _sdss_frames(field, timeout)  # [i, r, g] HDULists
    target = target_wcs(ra, dec, pixel_scale, size)
    channels = [_resample_frame(hdul, ra, dec, target, size, band)
                for hdul, band in zip(frames, "irg")]
    # Lupton et al. (2004), the recipe of the SDSS colour images: i, r, g -> R, G, B;
    # Q and stretch as in astropy's SDSS example (frames are in nanomaggies)
    rgb = asinh_rgb(*channels, Q=10, stretch=0.5)  # no 0/0 warnings where a field is black
    return np.ascontiguousarray(rgb[::-1], dtype=np.uint8)  # FITS row 0 is south


def _sdss_client():
    from astroquery.sdss import SDSSClass
    return SDSSClass()


def _sdss_field(ra, dec, timeout):
    """The SkyServer CrossID row of the imaging field nearest to (ra, dec)."""
    import requests
    from astropy.coordinates import SkyCoord
    from astropy.table import Table
    from astroquery.sdss import conf as sdss_conf
    client = _sdss_client()
    what = f"SDSS CrossID ({_host(sdss_conf.skyserver_baseurl)})"
    coord = SkyCoord(ra * u.deg, dec * u.deg)
    try:
        response = client.query_region_async(
            coord, radius=conf.sdss_search_radius * u.arcsec,
            photoobj_fields=["ra", "dec", "run", "rerun", "camcol", "field"],
            data_release=conf.sdss_data_release, timeout=timeout, cache=False)
    except requests.exceptions.RequestException as exc:
        raise _requests_fault(exc, what, sdss_conf.skyserver_baseurl, timeout) from exc
    if response.status_code != 200:
        log.debug("%s: request %s answered HTTP %s", what, response.url, response.status_code)
        _http_status(response.status_code, what)
    if "error_message" in response.text:
        raise PermanentError(f"{what} reported an error: {_clip(response.text)}")
    try:
        matches = Table.read(response.text, format="ascii.csv", comment="#")
    except Exception as exc:  # astropy raises several kinds for unreadable text
        raise PermanentError(f"{what} sent a payload that is not a CSV table: {_brief(exc)}") \
            from exc
    if len(matches) == 0:
        raise PermanentError("no SDSS imaging found: CrossID found no object within "
                             f"{conf.sdss_search_radius:g} arcsec (probably outside the SDSS "
                             "footprint)")
    missing = {"ra", "dec", "run", "rerun", "camcol", "field"} - set(matches.colnames)
    if missing:
        raise PermanentError(f"{what} sent a table without columns {sorted(missing)}")
    # the field of the nearest object is the one most likely to hold the whole cutout
    sep = SkyCoord(matches["ra"] * u.deg, matches["dec"] * u.deg).separation(coord)
    return matches[int(np.argmin(sep))]


def _sdss_frames(field, timeout):
    """Download the i, r and g frames of one field through ``SDSS.get_images``."""
    from astropy.table import Table
    from astroquery.sdss import conf as sdss_conf
    what = f"SDSS frame download ({_host(sdss_conf.sas_baseurl)})"
    matches = Table(rows=[[field[c] for c in ("run", "rerun", "camcol", "field")]],
                    names=("run", "rerun", "camcol", "field"))
    try:
        frames = _sdss_client().get_images(matches=matches, band="irg", timeout=timeout,
                                           cache=False, data_release=conf.sdss_data_release,
                                           show_progress=False)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the open connection
        _log_failure(what, exc.filename, exc)
        _http_status(exc.code, what)
    except (urllib.error.URLError, ConnectionError, TimeoutError,
            http.client.HTTPException) as exc:
        # urllib wraps look-up and connection faults in URLError(reason); a connection
        # dropped mid-download comes bare (ConnectionResetError, IncompleteRead)
        _log_failure(what, sdss_conf.sas_baseurl, exc)
        unreachable = _unreachable(exc, sdss_conf.sas_baseurl)
        if unreachable is not None:
            raise unreachable from exc
        # a URLError whose reason is text (a bad URL) will not improve, except astropy's
        # ContentTooShortError: a download cut short
        if (isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, OSError)
                and not isinstance(exc, urllib.error.ContentTooShortError)):
            raise PermanentError(f"{what} failed: {_clip(exc.reason)}") from exc
        if any(isinstance(c, (TimeoutError, socket.timeout)) for c in _causes(exc)):
            raise TransientError(f"{what} did not answer: timed out after {timeout:g} s") \
                from exc
        raise TransientError(f"{what} dropped the connection ({_brief(exc)})") from exc
    except Exception as exc:  # astropy.io.fits fails in many ways on junk (even AttributeError)
        _log_failure(what, sdss_conf.sas_baseurl, exc)
        raise PermanentError(f"{what} sent a payload that is not a FITS frame: "
                             f"{_brief(exc)}") from exc
    if not frames or len(frames) != 3:
        raise PermanentError(f"{what} returned {0 if not frames else len(frames)} frames, "
                             "expected the 3 bands i, r, g")
    return frames


def _resample_frame(hdul, ra, dec, target, size, band):
    """Cut around (ra, dec) with Cutout2D, then resample onto ``target``: float (size, size)."""
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D, NoOverlapError
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales
    data = np.asarray(hdul[0].data, dtype=np.float64)
    wcs = WCS(hdul[0].header)
    frame_scale = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600.0  # arcsec/px
    fov = size * abs(target.wcs.cdelt[0]) * 3600.0  # arcsec
    # sqrt(2) and a margin: the frame may be rotated with respect to north
    box = int(np.ceil(fov * 1.5 / frame_scale)) + 4
    try:
        cut = Cutout2D(data, SkyCoord(ra * u.deg, dec * u.deg), box, wcs=wcs, mode="partial",
                       fill_value=np.nan)
    except NoOverlapError as exc:
        raise PermanentError(f"the {band} frame does not cover the position") from exc
    yy, xx = np.mgrid[0:size, 0:size]
    world = target.pixel_to_world_values(xx, yy)
    x, y = cut.wcs.world_to_pixel_values(*world)
    out = _bilinear(cut.data, x, y)
    return np.nan_to_num(out, nan=0.0)  # outside the frame: black, as in GZ2 edge galaxies


def _bilinear(image, x, y):
    """Bilinear interpolation of ``image`` at pixel positions (x, y); NaN outside."""
    ny, nx = image.shape
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 < nx - 1) & (y0 < ny - 1)
    x0c, y0c = np.clip(x0, 0, max(nx - 2, 0)), np.clip(y0, 0, max(ny - 2, 0))
    fx, fy = x - x0c, y - y0c
    value = (image[y0c, x0c] * (1 - fx) * (1 - fy) + image[y0c, x0c + 1] * fx * (1 - fy)
             + image[y0c + 1, x0c] * (1 - fx) * fy + image[y0c + 1, x0c + 1] * fx * fy)
    return np.where(inside, value, np.nan)


BACKENDS = dict(zip(CUTOUT_BACKENDS, (hips2fits_cutout, sdss_cutout)))
