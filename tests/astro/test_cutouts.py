"""Tests of galmorph.astro.cutouts against the local fake SDSS (tests/sdss_server.py).

The real astroquery clients (hips2fits, SDSS CrossID, SDSS.get_images) run; only
their server addresses point at 127.0.0.1.
"""
import json
import logging
import time

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astroquery.sdss import conf as sdss_conf
from PIL import Image
from sdss_server import UNRESOLVABLE_URL, closed_port, watch_sockets

from galmorph.astro.cutouts import (DEFAULT_PIXEL_SCALE, MAX_ERROR_LENGTH, Cutout, NetworkGuard,
                                    conf, cutout_cache_path, fetch_cutout, fetch_cutouts,
                                    pixel_scale_for)
from galmorph.errors import CutoutError

SIZE = 48  # small cutouts: nothing here depends on 424
FAST = dict(size=SIZE, retries=3, backoff=0.01, timeout=5, progress=False)


def quadrants(image):
    """Background-subtracted light in the (upper-left, upper-right, lower-left, lower-right) quarters."""
    light = image.astype(float).sum(axis=-1)
    light -= light.min()
    h, w = light.shape[0] // 2, light.shape[1] // 2
    return light[:h, :w].sum(), light[:h, w:].sum(), light[h:, :w].sum(), light[h:, w:].sum()


def assert_north_up_east_left(image):
    # the fake galaxy's companion lies north-east of it: upper left in a north-up, east-left image
    ul, ur, ll, lr = quadrants(image)
    assert ul > 1.01 * max(ur, ll, lr), (ul, ur, ll, lr)


def assert_all_local(server):
    assert server.requests(), "no request reached the fake server"
    assert {r.host for r in server.requests()} == {"127.0.0.1"}


# -- hips2fits -------------------------------------------------------------------------------
def test_hips2fits_cutout_image_and_request(fake_sdss, tmp_path):
    coord = SkyCoord(150.25 * u.deg, 2.5 * u.deg)
    (cutout,) = fetch_cutouts(coord, petro_r90=20.0, cache_dir=tmp_path, **FAST)
    assert isinstance(cutout, Cutout)
    assert cutout.error is None and cutout.ok
    assert cutout.image.dtype == np.uint8 and cutout.image.shape == (SIZE, SIZE, 3)
    assert cutout.pixel_scale == pytest.approx(0.4)  # 0.02 x petroR90_r
    assert (cutout.backend, cutout.cached) == ("hips2fits", False)
    assert (cutout.ra, cutout.dec) == pytest.approx((150.25, 2.5))
    assert_north_up_east_left(cutout.image)
    # the request astroquery sent: the SDSS colour HiPS, a JPEG, the WCS built from the scale
    (request,) = fake_sdss.requests("hips2fits")
    assert request.params["hips"] == "CDS/P/SDSS9/color"
    assert request.params["format"] == "jpg"
    header = json.loads(request.params["wcs"])
    assert (header["NAXIS1"], header["NAXIS2"]) == (SIZE, SIZE)
    assert (header["CRVAL1"], header["CRVAL2"]) == pytest.approx((150.25, 2.5))
    assert header["CDELT1"] == pytest.approx(-0.4 / 3600) and header["CDELT2"] == pytest.approx(0.4 / 3600)
    assert header["CTYPE1"] == "RA---TAN" and header["CTYPE2"] == "DEC--TAN"
    assert_all_local(fake_sdss)


def test_pixel_scale_follows_petro_r90(fake_sdss, tmp_path):
    coords = SkyCoord([10.0, 10.0, 10.0, 20.0], [1.0, 1.0, 1.0, -5.0], unit="deg")
    r90 = [10.0, 20.0, np.nan, 0.5 * 60] * u.arcsec
    cutouts = fetch_cutouts(coords, petro_r90=r90, cache_dir=tmp_path, **FAST)
    assert [c.pixel_scale for c in cutouts] == pytest.approx([0.2, 0.4, DEFAULT_PIXEL_SCALE, 0.6])
    # the galaxy covers ~4x more pixels at half the pixel scale
    bright = [np.count_nonzero(c.image.sum(-1) > 300) for c in cutouts[:2]]
    assert 3.0 < bright[0] / bright[1] < 5.0, bright
    scales = [abs(json.loads(r.params["wcs"])["CDELT2"]) * 3600 for r in fake_sdss.requests()]
    assert scales == pytest.approx([0.2, 0.4, DEFAULT_PIXEL_SCALE, 0.6])


def test_pixel_scale_for():
    assert pixel_scale_for(10.0) == pytest.approx(0.2)
    assert pixel_scale_for(0.5 * u.arcmin) == pytest.approx(0.6)
    assert pixel_scale_for(None) == DEFAULT_PIXEL_SCALE == 0.396
    assert pixel_scale_for(float("nan")) == DEFAULT_PIXEL_SCALE
    assert pixel_scale_for(-1.0) == DEFAULT_PIXEL_SCALE
    with pytest.raises(ValueError, match="petro_r90 must be an angle.*mag"):
        pixel_scale_for(3.0 * u.mag)


def test_positions_as_pairs_and_default_size(fake_sdss, tmp_path):
    cutouts = fetch_cutouts([(150.0, 2.0), (210.5, -1.25)], cache_dir=tmp_path, progress=False)
    assert [c.image.shape for c in cutouts] == [(424, 424, 3)] * 2  # the GZ2 size by default
    assert [(c.ra, c.dec) for c in cutouts] == [(150.0, 2.0), (210.5, -1.25)]
    assert all(c.pixel_scale == DEFAULT_PIXEL_SCALE for c in cutouts)


# -- cache -----------------------------------------------------------------------------------
def test_second_call_is_served_from_cache(fake_sdss, tmp_path):
    coords = SkyCoord([150.0, 151.0], [2.0, 2.5], unit="deg")
    first = fetch_cutouts(coords, petro_r90=[8.0, 12.0], cache_dir=tmp_path, **FAST)
    assert len(fake_sdss.requests()) == 2
    fake_sdss.clear_log()
    second = fetch_cutouts(coords, petro_r90=[8.0, 12.0], cache_dir=tmp_path, **FAST)
    assert fake_sdss.requests() == []  # no request at all
    assert [c.cached for c in second] == [True, True]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.image, b.image)  # PNG cache: lossless
        assert a.pixel_scale == b.pixel_scale
    # another scale or size is another cutout
    fetch_cutouts(coords[:1], petro_r90=9.0, cache_dir=tmp_path, **FAST)
    fetch_cutouts(coords[:1], petro_r90=8.0, cache_dir=tmp_path, **dict(FAST, size=SIZE + 2))
    assert len(fake_sdss.requests()) == 2


def test_default_cache_dir_and_cache_off(fake_sdss, tmp_path, monkeypatch):
    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path / "home"))
    coord = SkyCoord(150.0, 2.0, unit="deg")
    fetch_cutouts(coord, petro_r90=10.0, **FAST)
    expected = cutout_cache_path(tmp_path / "home" / "cutouts", "hips2fits", 150.0, 2.0, 0.2, SIZE)
    assert expected.is_file()
    fetch_cutouts(coord, petro_r90=10.0, cache_dir=False, **FAST)
    fetch_cutouts(coord, petro_r90=10.0, cache_dir=False, **FAST)
    assert len(fake_sdss.requests()) == 3


def test_cache_key_includes_the_survey(fake_sdss, tmp_path):
    from galmorph.astro.cutouts import conf
    coord = SkyCoord(150.0, 2.0, unit="deg")
    fetch_cutouts(coord, cache_dir=tmp_path, **FAST)
    with conf.set_temp("hips_survey", "CDS/P/DSS2/color"):
        (other,) = fetch_cutouts(coord, cache_dir=tmp_path, **FAST)
    assert not other.cached
    assert [r.params["hips"] for r in fake_sdss.requests()] == ["CDS/P/SDSS9/color",
                                                                "CDS/P/DSS2/color"]
    assert len(list(tmp_path.glob("hips2fits_CDS-P-*.png"))) == 2


def test_damaged_cache_file_is_fetched_again(fake_sdss, tmp_path):
    coord = SkyCoord(150.0, 2.0, unit="deg")
    path = cutout_cache_path(tmp_path, "hips2fits", 150.0, 2.0, DEFAULT_PIXEL_SCALE, SIZE)
    path.write_bytes(b"\x89PNG truncated")
    (cutout,) = fetch_cutouts(coord, cache_dir=tmp_path, **FAST)
    assert cutout.ok and not cutout.cached
    assert len(fake_sdss.requests()) == 1
    with Image.open(path) as image:  # overwritten with a good one
        assert image.size == (SIZE, SIZE)


# -- faults ----------------------------------------------------------------------------------
def test_transient_503_is_retried_with_backoff(fake_sdss, tmp_path):
    fake_sdss.fail(150.0, 2.0, status=503, times=2)
    start = time.monotonic()
    cutouts = fetch_cutouts(SkyCoord([150.0, 151.0], [2.0, 2.0], unit="deg"), cache_dir=tmp_path,
                            **dict(FAST, backoff=0.05))
    elapsed = time.monotonic() - start
    assert [c.error for c in cutouts] == [None, None]
    assert [r.status for r in fake_sdss.requests() if r.ra == 150.0] == [503, 503, 200]
    assert len(fake_sdss.requests()) == 4
    assert elapsed >= 0.05 + 0.1  # backoff, then twice the backoff


def test_persistent_5xx_gives_up_after_retries(fake_sdss, tmp_path):
    fake_sdss.fail(150.0, 2.0, status=500)
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), cache_dir=tmp_path,
                              **dict(FAST, retries=2))
    assert cutout.image is None
    assert "RA=150.00000 Dec=+2.00000" in cutout.error
    assert "HTTP 500" in cutout.error and "after 3 attempts" in cutout.error
    assert len(fake_sdss.requests()) == 3
    assert not list(tmp_path.iterdir())  # nothing cached for a failure


def test_404_is_not_retried_and_batch_goes_on(fake_sdss, tmp_path):
    fake_sdss.fail(151.0, 2.0, status=404)
    coords = SkyCoord([150.0, 151.0, 152.0], [2.0, 2.0, 2.0], unit="deg")
    cutouts = fetch_cutouts(coords, cache_dir=tmp_path, **FAST)
    assert [c.ok for c in cutouts] == [True, False, True]
    error = cutouts[1].error
    assert "hips2fits" in error and "RA=151.00000 Dec=+2.00000" in error
    assert "HTTP 404" in error and "injected by FakeSDSS" in error  # hips2fits' JSON message
    assert [r.ra for r in fake_sdss.requests()] == [150.0, 151.0, 152.0]


def test_timeout_is_retried_then_reported(fake_sdss, tmp_path):
    fake_sdss.slow(150.0, 2.0, delay=0.6)
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), cache_dir=tmp_path,
                              **dict(FAST, retries=1, timeout=0.15))
    assert cutout.image is None
    assert "did not answer" in cutout.error and "timed out" in cutout.error.lower()
    assert "after 2 attempts" in cutout.error
    assert len(fake_sdss.requests()) == 2


def test_bad_payload_is_not_retried(fake_sdss, tmp_path):
    fake_sdss.bad_payload(150.0, 2.0)
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), cache_dir=tmp_path, **FAST)
    assert cutout.image is None
    assert "not an image" in cutout.error and "RA=150.00000" in cutout.error
    assert len(fake_sdss.requests()) == 1


@pytest.mark.parametrize("backend, service", [("hips2fits", "hips2fits"), ("sdss", "frames")])
def test_connection_dropped_mid_download_is_retried(fake_sdss, tmp_path, backend, service):
    fake_sdss.drop(150.0, 2.0, times=1, service=service)  # 200, 100 of 100,000 bytes, hang up
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), backend=backend,
                              cache_dir=tmp_path, **FAST)
    assert cutout.ok, cutout.error
    first = "hips2fits" if backend == "hips2fits" else "crossid"
    assert len(fake_sdss.requests(first)) == 2  # the whole fetch was tried again
    fake_sdss.drop(151.0, 2.0, service=service)  # every time: gives up after the retries
    (cutout,) = fetch_cutouts(SkyCoord(151.0, 2.0, unit="deg"), backend=backend,
                              cache_dir=tmp_path, **dict(FAST, retries=1))
    assert "dropped the connection" in cutout.error and "after 2 attempts" in cutout.error
    assert len(cutout.error) <= MAX_ERROR_LENGTH


# -- no network: a host that does not resolve, a refused connection -------------------------
UNRESOLVABLE = UNRESOLVABLE_URL.split("//")[1]


def _point(service, base):
    """Point one service ("hips2fits", "crossid" or "frames") at ``base``, temporarily."""
    if service == "hips2fits":
        return conf.set_temp("hips2fits_server", base + "/hips2fits")
    if service == "crossid":
        return sdss_conf.set_temp("skyserver_baseurl", base)
    return sdss_conf.set_temp("sas_baseurl", base + "/sas")


@pytest.mark.parametrize("backend, service", [("hips2fits", "hips2fits"), ("sdss", "crossid"),
                                              ("sdss", "frames")])
def test_unresolvable_host_fails_the_batch_fast(fake_sdss, tmp_path, caplog, backend, service):
    options = dict(FAST, backend=backend, backoff=0.2)
    coords = SkyCoord(np.linspace(150.0, 151.0, 20), np.full(20, 2.0), unit="deg")
    caplog.set_level(logging.DEBUG, logger="galmorph")
    with _point(service, UNRESOLVABLE_URL):
        fetch_cutouts(SkyCoord(160.0, 2.0, unit="deg"), cache_dir=False, **options)
        caplog.clear()
        with watch_sockets() as seen:
            cutouts = fetch_cutouts(coords, cache_dir=tmp_path, **options)
    # looked up once for the 20 positions (it was 20 x 4 look-ups, 3.5 s each on a real DNS):
    # counted, not timed, so that a busy machine cannot fail it
    assert seen.lookups_of(UNRESOLVABLE) == [UNRESOLVABLE]
    errors = [c.error for c in cutouts]
    assert not any(c.ok for c in cutouts) and all(errors)
    assert "RA=150.00000" in errors[0] and "failed" in errors[0]
    assert f"cannot resolve host '{UNRESOLVABLE}' (no network" in errors[0]
    for error in errors[1:]:
        assert error.endswith(f"no network: cannot resolve host '{UNRESOLVABLE}' "
                              "(first failure at row 0); not tried")
    assert max(len(e) for e in errors) < 200
    assert not any("%7B" in e or "http://" in e for e in errors)  # no URL, no encoded WCS
    # the full URL is logged once, at debug level
    logged = [r for r in caplog.records if f"URL: http://{UNRESOLVABLE}/" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.DEBUG
    assert logged[0].name.startswith("galmorph.")
    if service == "hips2fits":
        assert "wcs=%7B" in logged[0].getMessage()


@pytest.mark.parametrize("backend, service", [("hips2fits", "hips2fits"), ("sdss", "frames")])
def test_refused_connection_is_not_retried(fake_sdss, tmp_path, backend, service):
    port = closed_port()
    coords = SkyCoord([150.0, 151.0, 152.0], [2.0, 2.0, 2.0], unit="deg")
    with _point(service, f"http://127.0.0.1:{port}"), watch_sockets() as seen:
        cutouts = fetch_cutouts(coords, backend=backend, cache_dir=tmp_path,
                                **dict(FAST, backoff=2.0))
    assert seen.connects_to(port) == [("127.0.0.1", port)]  # one try, then no more
    assert [c.ok for c in cutouts] == [False] * 3
    assert f"failed: connection refused by '127.0.0.1:{port}'" in cutouts[0].error
    assert "after" not in cutouts[0].error  # not "failed after N attempts"
    for c in cutouts[1:]:
        assert "connection refused" in c.error and "(first failure at row 0); not tried" in c.error
    assert max(len(c.error) for c in cutouts) < 200


def test_a_shared_guard_spans_calls_and_the_cache_still_answers(fake_sdss, tmp_path):
    coords = SkyCoord([150.0, 151.0, 152.0, 153.0], [2.0] * 4, unit="deg")
    (cached,) = fetch_cutouts(coords[3], cache_dir=tmp_path, **FAST)  # while the network is up
    guard = NetworkGuard()
    with _point("hips2fits", UNRESOLVABLE_URL), watch_sockets() as seen:
        first = fetch_cutouts(coords[:2], cache_dir=tmp_path, guard=guard, rows=[10, 11], **FAST)
        second = fetch_cutouts(coords[2:], cache_dir=tmp_path, guard=guard, rows=[12, 13],
                               **FAST)
        with pytest.raises(CutoutError, match=f"cannot resolve host '{UNRESOLVABLE}'"):
            fetch_cutout(coords[0], cache_dir=tmp_path, size=SIZE)  # a new run asks again
    assert seen.lookups_of(UNRESOLVABLE) == [UNRESOLVABLE] * 2  # the first call, fetch_cutout
    assert guard.row == 10 and guard.error.kind == "resolve"
    assert "first failure at row 10" in first[1].error and "not tried" in second[0].error
    assert second[1].ok and second[1].cached  # offline, the cache still answers
    np.testing.assert_array_equal(second[1].image, cached.image)


def test_fetch_cutout_single(fake_sdss, tmp_path):
    image = fetch_cutout(SkyCoord(150.0, 2.0, unit="deg"), petro_r90=10.0, cache_dir=tmp_path,
                         size=SIZE)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    fake_sdss.fail(160.0, 3.0, status=404)
    with pytest.raises(CutoutError, match=r"RA=160.00000 Dec=\+3.00000.*HTTP 404"):
        fetch_cutout((160.0, 3.0), cache_dir=tmp_path, size=SIZE)


def test_parallel_workers_keep_the_order(fake_sdss, tmp_path):
    ras = [150.0, 150.5, 151.0, 151.5, 152.0]
    fake_sdss.fail(151.0, 2.0, status=503, times=1)
    fake_sdss.fail(151.5, 2.0, status=404)
    cutouts = fetch_cutouts(SkyCoord(ras, [2.0] * 5, unit="deg"), cache_dir=tmp_path,
                            workers=3, **FAST)
    assert [c.ra for c in cutouts] == ras
    assert [c.ok for c in cutouts] == [True, True, True, False, True]
    assert "HTTP 404" in cutouts[3].error
    assert len(fake_sdss.requests()) == 6  # one retry of the 503
    with pytest.raises(ValueError, match="workers must be at least 1"):
        fetch_cutouts(SkyCoord(ras, [2.0] * 5, unit="deg"), cache_dir=tmp_path, workers=0)


def test_no_positions(tmp_path):
    assert fetch_cutouts([], cache_dir=tmp_path, progress=False) == []
    assert fetch_cutouts(SkyCoord([], [], unit="deg"), cache_dir=tmp_path) == []


def test_progress_bar(fake_sdss, tmp_path, capsys):
    fetch_cutouts(SkyCoord([150.0, 151.0], [2.0, 2.0], unit="deg"), cache_dir=tmp_path,
                  **dict(FAST, progress=True))
    assert "cutouts (hips2fits)" in capsys.readouterr().err


# -- the "sdss" backend (CrossID + frames + Cutout2D + Lupton RGB) -----------------------------
def test_sdss_backend_image_and_requests(fake_sdss, tmp_path):
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), backend="sdss", petro_r90=15.0,
                              cache_dir=tmp_path, **FAST)
    assert cutout.error is None
    assert cutout.image.shape == (SIZE, SIZE, 3) and cutout.image.dtype == np.uint8
    assert cutout.backend == "sdss" and cutout.pixel_scale == pytest.approx(0.3)
    # the fake frames are rotated by 30 deg and offset: north-up resampling puts the galaxy
    # in the centre with its north-east companion upper left
    assert_north_up_east_left(cutout.image)
    light = cutout.image.astype(float).sum(-1)
    yy, xx = np.indices(light.shape)
    centroid = (light * yy).sum() / light.sum(), (light * xx).sum() / light.sum()
    assert centroid == pytest.approx((SIZE / 2 - 0.5, SIZE / 2 - 0.5), abs=4)
    centre = cutout.image[SIZE // 2 - 2:SIZE // 2 + 2, SIZE // 2 - 2:SIZE // 2 + 2].reshape(-1, 3)
    red, _, blue = centre.mean(axis=0)
    assert red > blue + 30  # i > r > g fluxes: i -> R, g -> B as in SDSS colour images
    services = [r.service for r in fake_sdss.requests() if r.service != "fields"]
    assert services == ["crossid", "frames", "frames", "frames"]
    crossid = fake_sdss.requests("crossid")[0]
    assert crossid.params["upload"].split()[-2:] == ["150.0", "2.0"]
    bands = sorted(r.path.split("/frame-")[1][0] for r in fake_sdss.requests("frames"))
    assert bands == ["g", "i", "r"]
    assert all(r.path.startswith("/sas/dr17/eboss/photoObj/frames/301/")
               for r in fake_sdss.requests("frames"))
    assert_all_local(fake_sdss)


def test_sdss_backend_outside_footprint(fake_sdss, tmp_path):
    fake_sdss.no_coverage(300.0, -60.0)
    (cutout,) = fetch_cutouts(SkyCoord(300.0, -60.0, unit="deg"), backend="sdss",
                              cache_dir=tmp_path, **FAST)
    assert cutout.image is None
    assert "RA=300.00000 Dec=-60.00000" in cutout.error
    assert "no SDSS imaging found" in cutout.error
    assert "outside the SDSS footprint" in cutout.error
    assert len(fake_sdss.requests("crossid")) == 1 and not fake_sdss.requests("frames")


def test_sdss_backend_retries_frames_and_caches(fake_sdss, tmp_path):
    fake_sdss.fail(150.0, 2.0, status=503, times=2, service="frames")
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), backend="sdss",
                              cache_dir=tmp_path, **FAST)
    assert cutout.error is None
    assert [r.status for r in fake_sdss.requests("frames")][:2] == [503, 503]
    assert len(fake_sdss.requests("crossid")) == 3  # the whole fetch is retried
    fake_sdss.clear_log()
    (again,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), backend="sdss",
                             cache_dir=tmp_path, **FAST)
    assert again.cached and fake_sdss.requests() == []
    np.testing.assert_array_equal(again.image, cutout.image)


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
@pytest.mark.parametrize("fault, message, attempts", [
    ("404", "HTTP 404", 1),
    ("bad", "not a FITS frame", 1),
])
def test_sdss_backend_permanent_frame_faults(fake_sdss, tmp_path, fault, message, attempts):
    if fault == "404":
        fake_sdss.fail(150.0, 2.0, status=404, service="frames")
    else:
        fake_sdss.bad_payload(150.0, 2.0, service="frames")
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), backend="sdss",
                              cache_dir=tmp_path, **FAST)
    assert cutout.image is None
    assert message in cutout.error and "RA=150.00000" in cutout.error
    assert len(fake_sdss.requests("crossid")) == attempts


def test_sdss_crossid_error_page(fake_sdss, tmp_path):
    fake_sdss.bad_payload(150.0, 2.0, service="crossid")
    (cutout,) = fetch_cutouts(SkyCoord(150.0, 2.0, unit="deg"), backend="sdss",
                              cache_dir=tmp_path, **FAST)
    assert "reported an error" in cutout.error and "bad upload" in cutout.error


def test_fixture_refuses_the_internet(fake_sdss):
    import socket
    with pytest.raises(OSError, match="only 127.0.0.1 is allowed"):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)  # TEST-NET-1, never routed


# -- bad arguments ---------------------------------------------------------------------------
def test_bad_arguments(tmp_path):
    coord = SkyCoord(150.0, 2.0, unit="deg")
    with pytest.raises(ValueError, match="unknown cutout backend 'legacy'.*hips2fits.*sdss"):
        fetch_cutouts(coord, backend="legacy", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="petro_r90 has 3 values for 2 positions"):
        fetch_cutouts(SkyCoord([1, 2], [3, 4], unit="deg"), petro_r90=[1, 2, 3], cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"coords row 1 is not a valid \(ra, dec\).*95"):
        fetch_cutouts([(1.0, 2.0), (3.0, 95.0)], cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"coords must be \(ra, dec\) pairs.*shape \(2, 3\)"):
        fetch_cutouts(np.zeros((2, 3)), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="size must be at least 2"):
        fetch_cutouts(coord, size=0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="retries at least 0.*retries=-1"):
        fetch_cutouts(coord, retries=-1, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="timeout positive.*timeout=0"):
        fetch_cutouts(coord, timeout=0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="rows has 1 values for 2 positions"):
        fetch_cutouts(SkyCoord([1, 2], [3, 4], unit="deg"), rows=[5], cache_dir=tmp_path)
