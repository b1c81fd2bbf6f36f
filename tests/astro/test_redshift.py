"""Tests for galmorph.astro.redshift: binned trends, bias flags, summaries and plots."""
import json
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from astropy.cosmology import Planck18
from astropy.table import Table

from PIL import Image

from galmorph import schema
from galmorph.astro.classifier import MorphologyClassifier
from galmorph.astro.redshift import (DiagnosticsWarning, absolute_magnitude,
                                     record_redshift_trends,
                                     redshift_bias_flags, redshift_trends,
                                     summarize_redshift_trends)
from galmorph.errors import DataError
from galmorph.models import build_model, save_checkpoint

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
    from galmorph.plots import plot_redshift_trends

    trends = redshift_trends(t, abs_mag_bins=2, seed=0)
    ax = plot_redshift_trends(trends)
    lines = [c for c in ax.containers]                 # one errorbar per answer and mag bin
    assert len(lines) == 3 * 2
    first = lines[0].lines[0].get_xydata()             # plotted values are the table's
    sel = trends["mag_low"] == sorted(set(trends["mag_low"]))[0]
    answer = trends.meta["answers"][0]
    np.testing.assert_allclose(first[:, 1], np.asarray(trends[answer][sel]), equal_nan=True)
    assert ax.get_xlabel() == "redshift z"
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


class _NoScipyCosmology:
    """Fails as astropy's cosmology did where scipy was not installed."""

    def distmod(self, z):
        raise ModuleNotFoundError("No module named 'scipy'")


def _predictions(n=40, seed=0):
    t = _sample(n=n, seed=seed)
    for name in schema.KAGGLE_COLUMNS:
        if name not in t.colnames:
            t[name] = np.full(n, 0.1)
    return t


def test_record_redshift_trends_writes_meta():
    t = _predictions()
    record_redshift_trends(t, t["z"])
    assert sum(t.meta["redshift_trends"]["n"]) == len(t)
    assert "diagnostics_error" not in t.meta
    json.dumps(t.meta["redshift_trends"])


def test_record_redshift_trends_records_a_failure_instead_of_raising():
    t = _predictions()
    with pytest.warns(DiagnosticsWarning, match="redshift_trends.*scipy.*predictions") as rec:
        record_redshift_trends(t, t["z"], cosmology=_NoScipyCosmology())
    assert len(rec) == 1
    assert "redshift_trends" not in t.meta
    assert "ModuleNotFoundError" in t.meta["diagnostics_error"]
    assert "scipy" in t.meta["diagnostics_error"]
    # A second failing step adds to the record and does not warn again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record_redshift_trends(t, np.full(len(t), np.nan))
    assert "finite redshift" in t.meta["diagnostics_error"]
    assert t.meta["diagnostics_error"].count("redshift_trends") == 2


def test_text_redshift_column_fails_the_summary_not_the_predictions(tmp_path):
    # A CSV with "n/a" for missing redshifts, plus petroMag_r: every row must come back
    # classified; the failed end-of-run summary is recorded in meta and warned about once.
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model, preprocessing={"crop": 224, "size": 32})
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"g{i}.png"))
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(paths[-1])
    table = Table({"file": paths, "z": ["0.05", "n/a", "0.07"],
                   "petroMag_r": [16.0, 16.5, 17.0]})
    clf = MorphologyClassifier(str(ckpt), device="cpu", progress=False)
    with pytest.warns(DiagnosticsWarning) as rec:
        out = clf.predict(table)
    assert len([w for w in rec if issubclass(w.category, DiagnosticsWarning)]) == 1
    assert len(out) == 3 and out["predict_ok"].all()
    assert np.isfinite(np.column_stack([out[c] for c in schema.KAGGLE_COLUMNS])).all()
    assert out["file"].tolist() == paths
    assert "redshift_trends" not in out.meta
    assert "'z'" in out.meta["diagnostics_error"] and "n/a" in out.meta["diagnostics_error"]
