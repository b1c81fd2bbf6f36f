"""A local fake of the SDSS services that galmorph talks to, for tests.

``FakeSDSS`` is an HTTP server on 127.0.0.1 that answers the requests the REAL
astroquery client code sends (nothing in astroquery is patched):

- ``GET /hips2fits``: the CDS hips2fits service (``astroquery.hips2fits``). It
  reads the ``wcs`` parameter (a FITS header as JSON) and returns a real JPEG
  (or FITS) with a synthetic galaxy painted at every known galaxy that falls
  in the field, or at the requested centre when no galaxies were given.
- ``GET /dr{N}/en/tools/search/x_results.aspx``: SkyServer SQL (``SDSS.query_sql``),
  answered with ``sql_table`` as CSV in the SkyServer layout (``#Table1`` line,
  header, rows, ``null`` for masked cells); the ``fDocColumns`` look-ups that
  astroquery makes for field names get the field lists bundled with astroquery.
- ``POST /dr{N}/en/tools/search/X_Results.aspx``: SkyServer CrossID
  (``SDSS.query_region(..., radius=...)``): one row per uploaded position inside
  the footprint, pointing at a fake imaging field.
- ``GET /sas/dr{N}/.../frame-{band}-{run}-{camcol}-{field}.fits.bz2``: SDSS frames
  (``SDSS.get_images``): bzip2-compressed FITS images in nanomaggies with a TAN
  WCS at 0.396 arcsec/pixel and the galaxy blob at the position.

Faults are injected per position and service: HTTP errors, slow responses
(for client timeouts), connections dropped mid-answer, bad payloads and positions
outside the footprint. Every request is logged in ``server.log``.

For "no network" tests, ``UNRESOLVABLE_URL`` is a host under the reserved
``.invalid`` TLD (RFC 6761: it never resolves), ``closed_port()`` a port on
127.0.0.1 that refuses connections, and ``watch_sockets()`` records the host names
looked up and the addresses connected to (the calls go through unchanged).

Use it as a context manager::

    with FakeSDSS() as sdss, sdss.configure():
        cutouts = fetch_cutouts(coords, cache_dir=tmp_path)
    assert sdss.requests("hips2fits")

or through the ``fake_sdss`` pytest fixture defined below: import it into a test
module with ``from sdss_server import fake_sdss`` (pyproject.toml puts tests/ on
``sys.path``), or into tests/conftest.py to offer it to every test. The fixture
also refuses any socket connection that is not to 127.0.0.1. Its attributes
(``sql_table``, ``galaxies``, ``galaxy_sigma``, ``footprint``) are read at request
time, so a test may set them on the running server.
"""
import bz2
import contextlib
import email.parser
import io
import json
import re
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from PIL import Image

__all__ = ["FakeSDSS", "Request", "Fault", "fake_sdss", "SERVICES", "UNRESOLVABLE_URL",
           "closed_port", "watch_sockets", "SocketLog"]

SERVICES = ("hips2fits", "sql", "fields", "crossid", "frames")
SDSS_PIXEL_SCALE = 0.396  # arcsec / pixel, SDSS imaging
BAND_FLUX = {"u": 0.5, "g": 1.0, "r": 2.0, "i": 3.0, "z": 3.5}  # peak, nanomaggies: a red galaxy
_FRAME_RE = re.compile(r"frame-(?P<band>[ugriz])-(?P<run>\d{6})-(?P<camcol>\d)-(?P<field>\d{4})"
                       r"\.fits\.bz2$")
_POS_TOL = 1e-4  # deg: how close a request must be to a fault's position
UNRESOLVABLE_HOST = "galmorph-test.invalid"  # .invalid never resolves (RFC 6761)
UNRESOLVABLE_URL = f"http://{UNRESOLVABLE_HOST}"


def closed_port():
    """A port on 127.0.0.1 where nothing listens (bound, then closed): it refuses connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SocketLog:
    """What `watch_sockets` saw: host names looked up, (host, port) connected to."""
    lookups: list
    connects: list

    def lookups_of(self, host):
        return [h for h in self.lookups if h == host]

    def connects_to(self, port):
        return [a for a in self.connects if a[1] == port]


@contextlib.contextmanager
def watch_sockets():
    """Record every ``socket.getaddrinfo`` host and ``socket.connect`` address meanwhile.

    The real functions still run (this only counts, so that a test can tell how
    many times a client tried); both requests/urllib3 and urllib go through them.
    """
    seen = SocketLog([], [])
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        seen.lookups.append(host.decode() if isinstance(host, bytes) else host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        seen.connects.append(address)
        return real_connect(sock, address)

    socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
    try:
        yield seen
    finally:
        socket.getaddrinfo, socket.socket.connect = real_getaddrinfo, real_connect


@dataclass
class Request:
    """One request the server received."""
    service: str          # one of SERVICES, or "unknown"
    method: str
    path: str
    params: dict          # query-string / form parameters, one value each
    host: str             # the client address (always 127.0.0.1 here)
    ra: float = None      # the position the request is about, where it has one
    dec: float = None
    status: int = 200


@dataclass
class Fault:
    """A fault to inject: "status", "delay", "drop", "bad_payload" or "no_coverage"."""
    kind: str
    ra: float = None
    dec: float = None
    service: str = None   # None: every service
    status: int = 503
    delay: float = 0.0
    times: int = None     # None: always; else the number of requests it affects
    hits: int = 0

    def matches(self, service, ra, dec):
        if self.times is not None and self.hits >= self.times:
            return False
        if self.service is not None and self.service != service:
            return False
        if self.ra is None:
            return True
        if ra is None:
            return False
        dra = (ra - self.ra + 180.0) % 360.0 - 180.0
        return abs(dra) < _POS_TOL and abs(dec - self.dec) < _POS_TOL


@dataclass
class _Field:
    run: int
    camcol: int
    field: int
    ra: float             # the position the field was made for (galaxy), deg
    dec: float


class FakeSDSS:
    """Fake hips2fits + SkyServer + SAS server on 127.0.0.1 (see the module docstring).

    Parameters
    ----------
    galaxies : list of (ra, dec) in degrees, optional
        Where galaxies are painted. ``None``: a galaxy at every requested centre.
    galaxy_sigma : float
        Gaussian sigma of the synthetic galaxies, arcsec.
    frame_shape : (ny, nx)
        Pixel size of the fake SDSS frames (real ones are 1489 x 2048).
    frame_offset : (dx, dy)
        Offset in pixels of the galaxy from the frame centre, so that cutting
        at the wrong place shows.
    sql_table : `~astropy.table.Table`, optional
        What every SQL query returns (masked cells are sent as ``null``).
    footprint : callable (ra, dec) -> bool, optional
        Which positions have SDSS imaging (default: all).
    """

    def __init__(self, *, galaxies=None, galaxy_sigma=2.0, frame_shape=(300, 400),
                 frame_offset=(37, -21), sql_table=None, footprint=None):
        self.galaxies = None if galaxies is None else [tuple(map(float, g)) for g in galaxies]
        self.galaxy_sigma = float(galaxy_sigma)
        self.frame_shape = tuple(frame_shape)
        self.frame_offset = tuple(frame_offset)
        self.sql_table = sql_table
        self.footprint = footprint
        self.log = []
        self.errors = []  # tracebacks of exceptions inside the fake itself
        self.faults = []
        self.in_flight = 0       # requests being answered now
        self.max_in_flight = 0   # the most at once (set it to 0 before what you measure)
        self._fields = {}
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # -- life cycle ---------------------------------------------------------------------
    def start(self):
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hips2fits_url(self):
        return self.url + "/hips2fits"

    @property
    def skyserver_url(self):
        return self.url

    @property
    def sas_url(self):
        return self.url + "/sas"

    @contextlib.contextmanager
    def configure(self):
        """Point astroquery (SDSS) and galmorph (hips2fits) at this server, temporarily."""
        from astroquery.sdss import conf as sdss_conf

        from galmorph.astro.cutouts import conf as cutout_conf
        with sdss_conf.set_temp("skyserver_baseurl", self.skyserver_url), \
                sdss_conf.set_temp("sas_baseurl", self.sas_url), \
                cutout_conf.set_temp("hips2fits_server", self.hips2fits_url):
            yield self

    # -- fault injection ----------------------------------------------------------------
    def fail(self, ra=None, dec=None, *, status=503, times=None, service=None):
        """Answer HTTP ``status`` for requests about (ra, dec) (all when None)."""
        return self._add(Fault("status", ra, dec, service, status=status, times=times))

    def slow(self, ra=None, dec=None, *, delay=1.0, times=None, service=None):
        """Wait ``delay`` seconds before answering (to trigger client timeouts)."""
        return self._add(Fault("delay", ra, dec, service, delay=delay, times=times))

    def drop(self, ra=None, dec=None, *, times=None, service=None):
        """Answer 200, send part of the body, then close the connection (a cut download)."""
        return self._add(Fault("drop", ra, dec, service, times=times))

    def bad_payload(self, ra=None, dec=None, *, times=None, service=None):
        """Answer 200 with a body that is not what the client expects."""
        return self._add(Fault("bad_payload", ra, dec, service, times=times))

    def no_coverage(self, ra, dec):
        """Make (ra, dec) fall outside the SDSS footprint (CrossID finds nothing)."""
        return self._add(Fault("no_coverage", ra, dec, "crossid"))

    def _add(self, fault):
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, service, ra, dec):
        with self._lock:
            for fault in self.faults:
                if fault.matches(service, ra, dec):
                    fault.hits += 1
                    return fault
        return None

    # -- the request log ----------------------------------------------------------------
    def requests(self, service=None):
        """The logged requests, optionally of one service only."""
        with self._lock:
            return [r for r in self.log if service is None or r.service == service]

    def clear_log(self):
        with self._lock:
            self.log.clear()

    def _record(self, request):
        with self._lock:
            self.log.append(request)

    # -- content ------------------------------------------------------------------------
    def _galaxies_near(self, ra, dec):
        return [(ra, dec)] if self.galaxies is None else self.galaxies

    def paint(self, wcs, shape, fluxes=(1.0,), centre=None):
        """Render the galaxies through ``wcs``: float array (len(fluxes), ny, nx).

        Each galaxy is a Gaussian of sigma ``galaxy_sigma`` (1.5 x wider east-west)
        with a fainter companion 2 sigma east and 3 sigma north of it, so that a
        cutout with the wrong scale, orientation or flip shows it.
        """
        yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
        ra, dec = wcs.pixel_to_world_values(xx, yy)
        ra0, dec0 = centre if centre is not None else wcs.wcs.crval
        s = self.galaxy_sigma
        image = np.zeros(shape)
        for gra, gdec in self._galaxies_near(ra0, dec0):
            east = ((ra - gra + 180.0) % 360.0 - 180.0) * np.cos(np.deg2rad(gdec)) * 3600.0
            north = (dec - gdec) * 3600.0  # arcsec
            image += np.exp(-0.5 * ((east / (1.5 * s)) ** 2 + (north / s) ** 2))
            image += 0.6 * np.exp(-0.5 * ((east - 2 * s) ** 2 + (north - 3 * s) ** 2) / (0.5 * s) ** 2)
        return np.stack([f * image for f in fluxes])

    def register_field(self, ra, dec):
        """The fake imaging field holding (ra, dec) (created on first use)."""
        with self._lock:
            key = (round(ra, 6), round(dec, 6))
            if key not in self._fields:
                number = 100 + len(self._fields)
                self._fields[key] = _Field(run=1000 + number, camcol=1 + number % 6, field=number,
                                           ra=ra, dec=dec)
            return self._fields[key]

    def field_by_number(self, number):
        with self._lock:
            for fld in self._fields.values():
                if fld.field == number:
                    return fld
        return None

    def frame_wcs(self, fld, band):
        """TAN WCS of a fake frame: the galaxy at ``frame_offset`` pixels from the centre."""
        ny, nx = self.frame_shape
        dx, dy = self.frame_offset
        shift = "ugriz".index(band)  # bands are offset on the sky, as in real frames
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [fld.ra, fld.dec]
        w.wcs.crpix = [(nx + 1) / 2 + dx + shift, (ny + 1) / 2 + dy - shift]
        s = SDSS_PIXEL_SCALE / 3600.0
        # SDSS frames are not north-up: rotate by 30 degrees so that a cutout must resample
        theta = np.deg2rad(30.0)
        w.wcs.cd = s * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        w.pixel_shape = (nx, ny)
        return w


def _first(params):
    return {k: v[0] for k, v in params.items()}


class _Handler(BaseHTTPRequestHandler):
    fake = None  # the FakeSDSS, set on the subclass
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self._dispatch("GET", _first(parse_qs(urlsplit(self.path).query)))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            params = _parse_multipart(ctype, body)
        else:
            params = _first(parse_qs(body.decode("latin-1")))
        self._dispatch("POST", params)

    # -- routing ------------------------------------------------------------------------
    def _dispatch(self, method, params):
        path = urlsplit(self.path).path
        service, ra, dec = self._classify(method, path, params)
        request = Request(service, method, path, params, self.client_address[0], ra, dec)
        self.fake._record(request)
        fault = self.fake._take_fault(service, ra, dec)
        with self.fake._lock:
            self.fake.in_flight += 1
            self.fake.max_in_flight = max(self.fake.max_in_flight, self.fake.in_flight)
        try:
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "status":
                request.status = fault.status
                return self._error(service, fault.status)
            if fault is not None and fault.kind == "drop":
                return self._drop()
            bad = fault is not None and fault.kind == "bad_payload"
            handler = getattr(self, f"_serve_{service}", None)
            if handler is None:
                request.status = 404
                return self._send(404, b"not found", "text/plain")
            handler(params, request, bad, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and went away
        except Exception:  # a bug in the fake: answer 500 and keep it for the test to see
            self.fake.errors.append(traceback.format_exc())
            request.status = 500
            self._send(500, b"FakeSDSS internal error", "text/plain")
        finally:
            with self.fake._lock:
                self.fake.in_flight -= 1

    def _classify(self, method, path, params):
        low = path.lower()
        if low.endswith("/hips2fits"):
            ra, dec = _wcs_centre(params)
            return "hips2fits", ra, dec
        if low.endswith("/x_results.aspx") and method == "POST":
            ra, dec = _upload_position(params.get("upload", ""))
            return "crossid", ra, dec
        if low.endswith("/x_results.aspx"):
            cmd = params.get("cmd", "")
            return ("fields" if "fdoccolumns" in cmd.lower() else "sql"), None, None
        match = _FRAME_RE.search(path)
        if match:
            fld = self.fake.field_by_number(int(match["field"]))
            return "frames", (fld.ra if fld else None), (fld.dec if fld else None)
        return "unknown", None, None

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self):
        """Promise 100 kB, send 100 bytes, hang up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\0" * 100)
        self.wfile.flush()
        self.close_connection = True

    def _error(self, service, status):
        if service == "hips2fits":  # hips2fits answers errors as JSON
            body = json.dumps({"title": f"Error {status}",
                               "description": "injected by FakeSDSS"}).encode()
            return self._send(status, body, "application/json")
        body = f"<html><body><h1>{status}</h1>injected by FakeSDSS</body></html>".encode()
        return self._send(status, body, "text/html")

    # -- services -----------------------------------------------------------------------
    def _serve_hips2fits(self, params, request, bad, fault):
        if bad:
            return self._send(200, b"this is not an image", "image/jpeg")
        header = json.loads(params["wcs"])
        wcs = WCS(header)
        shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        # colour JPEG of the SDSS9 colour HiPS: a red-ish galaxy on a dark sky
        rgb = self.fake.paint(wcs, shape, fluxes=(1.0, 0.8, 0.6))
        rgb = np.clip(8 + 230 * rgb, 0, 255).astype(np.uint8)
        fmt = params.get("format", "jpg")
        if fmt == "fits":
            hdu = fits.PrimaryHDU(rgb[0].astype(np.float32), header=wcs.to_header())
            buf = io.BytesIO()
            hdu.writeto(buf)
            return self._send(200, buf.getvalue(), "application/fits")
        # FITS row 0 is the bottom (south); an image's first row is the top (north)
        image = Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0)[::-1]))
        buf = io.BytesIO()
        image.save(buf, format="PNG" if fmt == "png" else "JPEG", quality=95)
        self._send(200, buf.getvalue(), "image/png" if fmt == "png" else "image/jpeg")

    def _serve_fields(self, params, request, bad, fault):
        import astroquery.sdss
        table = re.search(r"fDocColumns\('(\w+)'\)", params["cmd"], re.I).group(1)
        name = "SpecObjAll" if "spec" in table.lower() else "PhotoObjAll"
        data = Path(astroquery.sdss.__file__).parent / "data" / f"{name}_dr12.json"
        self._send(200, data.read_bytes(), "application/json")

    def _serve_sql(self, params, request, bad, fault):
        if bad:
            return self._send(200, b"<html>Server Error in '/' Application.</html>", "text/html")
        table = self.fake.sql_table if self.fake.sql_table is not None else Table(names=["objID"])
        self._send(200, _skyserver_csv(table).encode(), "text/plain")

    def _serve_crossid(self, params, request, bad, fault):
        if bad:
            return self._send(200, b"<html>error_message: bad upload</html>", "text/html")
        columns = _select_columns(params.get("uquery", ""))
        rows = []
        for ra, dec in _upload_positions(params.get("upload", "")):
            uncovered = (fault is not None and fault.kind == "no_coverage") or \
                (self.fake.footprint is not None and not self.fake.footprint(ra, dec))
            if uncovered:
                continue
            fld = self.fake.register_field(ra, dec)
            values = {"ra": ra, "dec": dec, "objid": 1237650000000000000 + fld.field,
                      "run": fld.run, "rerun": 301, "camcol": fld.camcol, "field": fld.field}
            rows.append([values.get(c.lower(), 0) for c in columns])
        table = Table(rows=rows or None, names=columns) if rows else Table(names=columns)
        self._send(200, _skyserver_csv(table).encode(), "text/plain")

    def _serve_frames(self, params, request, bad, fault):
        match = _FRAME_RE.search(urlsplit(self.path).path)
        fld = self.fake.field_by_number(int(match["field"]))
        if fld is None:
            return self._send(404, b"no such frame", "text/html")
        if bad:
            return self._send(200, b"BZh91AY&SY this is not a frame", "application/x-bzip2")
        band = match["band"]
        wcs = self.fake.frame_wcs(fld, band)
        image = self.fake.paint(wcs, self.fake.frame_shape, fluxes=(BAND_FLUX[band],),
                                centre=(fld.ra, fld.dec))[0]
        rng = np.random.default_rng(fld.field)
        image = image + rng.normal(0.0, 0.005, image.shape)  # sky noise, nanomaggies
        header = wcs.to_header()
        header["FILTER"] = band
        header["BUNIT"] = "nanomaggy"
        buf = io.BytesIO()
        fits.PrimaryHDU(image.astype(np.float32), header=header).writeto(buf)
        self._send(200, bz2.compress(buf.getvalue()), "application/x-bzip2")


def _parse_multipart(ctype, body):
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    params = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        params[name] = part.get_payload(decode=True).decode("utf-8", "replace")
    return params


def _upload_positions(text):
    """(ra, dec) pairs of a CrossID upload ("ra dec" header, one position a line)."""
    positions = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            positions.append((float(parts[-2]), float(parts[-1])))
    return positions


def _upload_position(text):
    positions = _upload_positions(text)
    return positions[0] if positions else (None, None)


def _wcs_centre(params):
    try:
        header = json.loads(params["wcs"])
        return float(header["CRVAL1"]), float(header["CRVAL2"])
    except (KeyError, ValueError):
        return None, None


def _select_columns(sql):
    """Output column names of a SELECT (alias or the name after the table prefix)."""
    match = re.search(r"select\s+(?:distinct\s+)?(?:top\s+\d+\s+)?(.*?)\s+from\s", sql, re.I | re.S)
    if not match:
        return ["ra", "dec"]
    names = []
    for item in match.group(1).split(","):
        item = item.strip()
        alias = re.search(r"\bas\s+(\w+)$", item, re.I)
        names.append(alias.group(1) if alias else item.split(".")[-1])
    return names


def _skyserver_csv(table):
    """CSV in the layout SkyServer returns: a ``#Table1`` line, header, rows; NULL as null."""
    lines = ["#Table1", ",".join(table.colnames)]
    for row in table:
        cells = []
        for name in table.colnames:
            value = row[name]
            masked = np.ma.is_masked(value) or (isinstance(value, float) and np.isnan(value))
            cells.append("null" if masked else str(value))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


@pytest.fixture
def fake_sdss(monkeypatch):
    """A running `FakeSDSS`, astroquery and galmorph pointed at it, the internet refused.

    Any socket connection to a host other than 127.0.0.1 raises, so a test that
    would reach the real SDSS fails loudly instead of quietly going online.
    """
    real_connect = socket.socket.connect

    def loopback_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in (
                "127.0.0.1", "::1", "localhost"):
            raise OSError(f"test tried to reach {address[0]}: only 127.0.0.1 is allowed")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    with FakeSDSS() as server, server.configure():
        yield server
    assert not server.errors, "FakeSDSS itself failed:\n" + "\n".join(server.errors)
