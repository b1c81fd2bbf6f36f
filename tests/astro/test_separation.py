"""Tests for galmorph.astro.separation: neighbour detection and projected separations."""
import numpy as np
import pytest
import torch
from astropy.cosmology import FlatLambdaCDM, Planck18
from astropy.table import Table
from PIL import Image

from galmorph.astro.classifier import MorphologyClassifier
from galmorph.astro.redshift import DiagnosticsWarning
from galmorph.astro.separation import (GZ2_SCALE_FACTOR, find_nearest_neighbour, measure_separations,
                                       projected_separation, safe_projected_separation)
from galmorph.errors import DataError
from galmorph.models import build_model, save_checkpoint

SIZE = 424
CENTRE = (SIZE - 1) / 2.0


def _blobs(blobs, seed=0, noise=3.0, background=6.0):
    """uint8 (424, 424, 3) image with Gaussian blobs (dx, dy, sigma, peak) around the centre."""
    y, x = np.indices((SIZE, SIZE), dtype=float)
    img = np.full((SIZE, SIZE), background)
    for dx, dy, sigma, peak in blobs:
        img += peak * np.exp(-((x - CENTRE - dx) ** 2 + (y - CENTRE - dy) ** 2) / (2 * sigma ** 2))
    img += np.random.default_rng(seed).normal(0, noise, img.shape)
    rgb = np.stack([img * 0.9, img, img * 1.1], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["auto", "scipy"])
@pytest.mark.parametrize("dist,angle", [(40.0, 0.0), (75.0, 2.0), (150.0, -1.0)])
def test_two_blobs_at_known_distance(method, dist, angle):
    dx, dy = dist * np.cos(angle), dist * np.sin(angle)
    image = _blobs([(0, 0, 10, 200), (dx, dy, 5, 120)])
    nb = find_nearest_neighbour(image, method=method)
    assert nb.sep_px == pytest.approx(dist, abs=1.0)
    assert nb.neighbour_x == pytest.approx(CENTRE + dx, abs=1.0)
    assert nb.neighbour_y == pytest.approx(CENTRE + dy, abs=1.0)
    assert nb.central_x == pytest.approx(CENTRE, abs=1.0)
    assert 0 < nb.flux_ratio < 1  # the neighbour is the fainter one
    assert nb.method == ("scipy" if method == "scipy" else "photutils")


def test_nearest_of_several_neighbours():
    image = _blobs([(0, 0, 10, 200), (120, 0, 5, 150), (0, -60, 4, 100), (-150, 90, 6, 150)])
    assert find_nearest_neighbour(image).sep_px == pytest.approx(60.0, abs=1.0)


def test_touching_pair_is_deblended():
    # Two equal galaxies whose isophotes merge at the detection threshold.
    image = _blobs([(-14, 0, 7, 180), (14, 0, 7, 180)], noise=2.0)
    nb = find_nearest_neighbour(image)
    assert nb.sep_px == pytest.approx(28.0, abs=2.5)
    assert np.isinf(find_nearest_neighbour(image, deblend=False).sep_px)


def test_isolated_galaxy_and_empty_image_have_no_neighbour():
    single = find_nearest_neighbour(_blobs([(0, 0, 10, 200)]))
    assert np.isinf(single.sep_px) and single.n_sources == 1
    empty = find_nearest_neighbour(_blobs([]))
    assert np.isinf(empty.sep_px) and empty.n_sources == 0


def test_central_galaxy_is_the_one_at_the_centre_even_if_fainter():
    image = _blobs([(0, 0, 6, 90), (50, 0, 12, 220)])
    nb = find_nearest_neighbour(image)
    assert nb.central_x == pytest.approx(CENTRE, abs=1.0)
    assert nb.flux_ratio > 1


def test_bad_image_shape_is_named():
    with pytest.raises(DataError, match=r"\(5, 5, 5, 5\)"):
        find_nearest_neighbour(np.zeros((5, 5, 5, 5)))


def test_projected_separation_units():
    z = 0.05
    out = projected_separation([50.0, np.inf, np.nan], petro_r90=10.0, z=z)
    # GZ2 scale: 0.02 petroR90/px -> 50 px = 1 petroR90 = 10 arcsec at 0.2 arcsec/px.
    assert out["sep_r90"][0] == pytest.approx(50 * GZ2_SCALE_FACTOR)
    assert out["sep_arcsec"][0] == pytest.approx(10.0)
    kpc = 10.0 * Planck18.kpc_proper_per_arcmin(z).value / 60
    assert out["sep_kpc"][0] == pytest.approx(kpc)
    assert np.isinf(out["sep_kpc"][1]) and np.isnan(out["sep_kpc"][2])
    other = FlatLambdaCDM(H0=50, Om0=0.3)
    assert projected_separation(50.0, petro_r90=10.0, z=z, cosmology=other)["sep_kpc"] > kpc


def test_projected_separation_with_a_fixed_pixel_scale():
    out = projected_separation([100.0], pixel_scale=0.396, petro_r90=[7.92], gz2_scale=False)
    assert out["sep_arcsec"][0] == pytest.approx(39.6)
    assert out["sep_r90"][0] == pytest.approx(5.0)
    unknown = projected_separation([100.0], gz2_scale=False)
    assert np.isnan(unknown["sep_r90"][0]) and np.isnan(unknown["sep_arcsec"][0])


def test_measure_separations_on_jpeg_files(tmp_path):
    paths = []
    for i, d in enumerate([60.0, 100.0]):
        p = tmp_path / f"pair{i}.jpg"
        Image.fromarray(_blobs([(0, 0, 10, 200), (0, d, 5, 150)], seed=i)).save(p, quality=95)
        paths.append(p)
    t = measure_separations(paths + [None], petro_r90=[5.0, 5.0, 5.0], z=[0.03, 0.03, 0.03])
    assert t["sep_px"][:2] == pytest.approx([60.0, 100.0], abs=1.5)
    assert t["sep_r90"][:2] == pytest.approx([1.2, 2.0], abs=0.03)
    assert t["sep_arcsec"][:2] == pytest.approx([6.0, 10.0], abs=0.15)
    assert np.isnan(t["sep_px"][2]) and t["sep_arcsec"].unit == "arcsec"


def test_faint_background_sources_are_ignored():
    # A neighbour with ~1% of the central flux is a background object, not a companion.
    image = _blobs([(0, 0, 10, 200), (40, 0, 3, 20), (0, 120, 6, 150)])
    nb = find_nearest_neighbour(image)
    assert nb.sep_px == pytest.approx(120.0, abs=1.0) and nb.n_sources == 2
    assert find_nearest_neighbour(image, min_flux_ratio=0.001).sep_px == pytest.approx(40.0,
                                                                                      abs=1.5)


class _NoScipyCosmology:
    """Fails as astropy's cosmology did where scipy was not installed."""

    def kpc_proper_per_arcmin(self, z):
        raise ModuleNotFoundError("No module named 'scipy'")


def test_safe_projected_separation_keeps_what_it_can():
    good = safe_projected_separation([50.0], petro_r90=10.0, z=0.05)
    assert good["diagnostics_error"] == ""
    assert good["sep_kpc"][0] == pytest.approx(projected_separation(50.0, petro_r90=10.0,
                                                                    z=0.05)["sep_kpc"])
    bad = safe_projected_separation([50.0, np.inf], petro_r90=10.0, z=0.05,
                                    cosmology=_NoScipyCosmology())
    assert "sep_kpc" in bad["diagnostics_error"] and "scipy" in bad["diagnostics_error"]
    assert bad["sep_arcsec"][0] == pytest.approx(10.0) and np.isinf(bad["sep_r90"][1])
    assert np.isnan(bad["sep_kpc"]).all()


def test_failing_cosmology_keeps_every_prediction_and_separation(tmp_path):
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model, preprocessing={"crop": 224, "size": 32})
    paths = []
    for i, d in enumerate([60.0, 100.0, 80.0]):
        paths.append(str(tmp_path / f"pair{i}.png"))
        Image.fromarray(_blobs([(0, 0, 10, 200), (0, d, 5, 150)], seed=i)).save(paths[-1])
    table = Table({"file": paths, "z": [0.03, 0.04, 0.05], "petroR90_r": [5.0, 5.0, 5.0]})
    clf = MorphologyClassifier(str(ckpt), device="cpu", progress=False, chunk_size=1)
    with pytest.warns(DiagnosticsWarning, match="separations") as rec:
        out = clf.predict(table, separations=True, cosmology=_NoScipyCosmology())
    # Three chunks fail the same way: one warning, one record.
    assert len([w for w in rec if issubclass(w.category, DiagnosticsWarning)]) == 1
    assert len(out) == 3 and out["predict_ok"].all() and np.isfinite(out["Class1.1"]).all()
    assert out["sep_px"] == pytest.approx([60.0, 100.0, 80.0], abs=1.5)
    assert np.isfinite(out["sep_arcsec"]).all() and np.isnan(out["sep_kpc"]).all()
    assert "scipy" in out.meta["diagnostics_error"]
    assert out.meta["diagnostics_error"].count("separations") == 1
    assert sum(out.meta["redshift_trends"]["n"]) == 3  # Planck18 there: it still works
