"""Tests for galmorph.astro.redshift: binned trends, bias flags, summaries and plots."""
import json

import matplotlib
import numpy as np
import pytest
from astropy.cosmology import Planck18
from astropy.table import Table

from galmorph.astro.redshift import (absolute_magnitude, plot_redshift_trends,
                                     redshift_bias_flags, redshift_trends,
                                     summarize_redshift_trends)
from galmorph.errors import DataError

matplotlib.use("Agg")

SLOPE = -3.0  # injected d(Class1.2)/dz


def _sample(n=4000, trend=True, seed=0, z_name="z"):
    """A flux-limited-like sample: features fall with z, high-z galaxies are luminous."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.01, 0.15, n)
    features = np.clip((0.75 + SLOPE * z if trend else 0.5) + rng.normal(0, 0.08, n), 0, 1)
    smooth = np.clip(1 - features - 0.02, 0, 1)
    absmag = (-20.0 - 25.0 * (z - 0.01) if trend else -21.0) + rng.normal(0, 0.3, n)
    mag = absmag + Planck18.distmod(z).value
    return Table({z_name: z, "Class1.1": smooth, "Class1.2": features,
                  "Class8.6": rng.uniform(0, 0.1, n), "petroMag_r": mag, "absmag_true": absmag})


def test_recovers_injected_trend():
    t = _sample()
    trends = redshift_trends(t, bins=np.linspace(0.01, 0.15, 8), seed=0)
    assert trends["n"].sum() == len(t)
    expected = 0.75 + SLOPE * trends["z_mean"]
    assert np.all(np.abs(trends["Class1.2"] - expected) < 4 * trends["Class1.2_err"] + 0.01)
    assert np.all(trends["Class1.2_err"] > 0) and np.all(trends["Class1.2_err"] < 0.01)
    # Absolute magnitudes (no K-correction) recover the injected luminosities per bin.
    for row in trends:
        sel = (t["z"] >= row["z_low"]) & (t["z"] <= row["z_high"])
        assert row["abs_mag_mean"] == pytest.approx(t["absmag_true"][sel].mean(), abs=0.05)
    flags = redshift_bias_flags(trends)
    assert flags["features_decline"] is True
    assert flags["features_slope"] == pytest.approx(SLOPE, abs=0.3)
    assert flags["smooth_rises"] and flags["high_z_brighter"]
    assert flags["high_z_bright_ellipticals"] is True
    assert any("bright ellipticals" in m for m in flags["messages"])


def test_no_trend_raises_no_flag():
    trends = redshift_trends(_sample(trend=False, seed=3), seed=0)
    flags = redshift_bias_flags(trends)
    assert flags["features_decline"] is False
    assert flags["high_z_brighter"] is False and flags["high_z_bright_ellipticals"] is False


def test_split_by_absolute_magnitude_and_redshift_alias():
    t = _sample(z_name="redshift")
    trends = redshift_trends(t, bins=4, abs_mag_bins=[-24, -21.5, -19],
                             answers=("smooth", "features or disk"))
    assert len(trends) == 2 * 4
    assert set(trends["mag_low"]) == {-24.0, -21.5}
    assert trends.meta["z_column"] == "redshift"
    assert "Class1.1" in trends.colnames and "Class1.1_err" in trends.colnames
    bright = trends[trends["mag_low"] == -24.0]
    assert np.all(bright["abs_mag_mean"][bright["n"] > 0] < -21.5)


def test_absolute_magnitude_is_distance_modulus_without_k_correction():
    m = absolute_magnitude([17.0, 17.0, 17.0], [0.05, 0.0, np.nan])
    assert m[0] == pytest.approx(17.0 - Planck18.distmod(0.05).value)
    assert np.isnan(m[1]) and np.isnan(m[2])


def test_summary_is_json_and_plot_writes_png(tmp_path):
    t = _sample(n=600)
    t["Class1.2"][0] = np.nan  # a failed prediction is left out, not fatal
    summary = summarize_redshift_trends(t, seed=1)
    text = json.dumps(summary)
    assert sum(summary["n"]) == len(t) - 1
    assert summary["flags"]["features_decline"] is True
    assert "Class8.6" in json.loads(text)["means"]
    ax = plot_redshift_trends(redshift_trends(t, abs_mag_bins=2, seed=0))
    out = tmp_path / "trends.png"
    ax.figure.savefig(out)
    assert out.stat().st_size > 5000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(ax.get_legend().get_texts()) == 3 * 2


def test_bad_inputs_are_named():
    t = _sample(n=50)
    with pytest.raises(DataError, match="no redshift column 'zz'"):
        redshift_trends(t, z_column="zz")
    t.remove_column("petroMag_r")
    with pytest.raises(DataError, match="mag_column"):
        redshift_trends(t, abs_mag_bins=2)
    t["z"] = np.nan
    with pytest.raises(DataError, match="finite redshift"):
        redshift_trends(t)
    with pytest.raises(DataError, match="Class1.1"):
        redshift_bias_flags(Table({"z_mean": [0.1], "n": [3]}))
