"""Tests of galmorph.astro._classify_inputs: what parse_input makes of positions and redshifts."""
import numpy as np
import pytest
import torch
from astropy.table import Table

from galmorph.astro.classifier import MorphologyClassifier
from galmorph.astro._classify_inputs import parse_input
from galmorph.models import build_model, save_checkpoint

RA = [10.0, 400.0, -5.0, 359.5, 360.0, 0.0]


def _rows(table, **kw):
    return list(parse_input(table, **kw).rows)


def test_ra_outside_0_360_is_a_row_error_naming_row_and_value():
    rows = _rows(Table({"ra": RA, "dec": [1.0] * len(RA)}))
    assert [r.kind for r in rows] == ["coord", "error", "error", "coord", "coord", "coord"]
    assert "row 1" in rows[1].value and "ra=400" in rows[1].value
    assert "outside [0, 360]" in rows[1].value and "wrap_ra=True" in rows[1].value
    assert "row 2" in rows[2].value and "ra=-5" in rows[2].value
    assert [r.value for r in rows if r.kind == "coord"] == [(10.0, 1.0), (359.5, 1.0),
                                                            (0.0, 1.0), (0.0, 1.0)]


def test_wrap_ra_true_wraps_explicitly():
    rows = _rows(Table({"ra": RA, "dec": [1.0] * len(RA)}), wrap_ra=True)
    assert all(r.kind == "coord" for r in rows)
    assert [r.value[0] for r in rows] == [10.0, 40.0, 355.0, 359.5, 0.0, 0.0]


def test_dec_and_nan_errors_are_unchanged():
    rows = _rows(Table({"ra": [10.0, np.nan, 10.0], "dec": [95.0, 0.0, -90.0]}), wrap_ra=True)
    assert [r.kind for r in rows] == ["error", "error", "coord"]
    assert "dec=95" in rows[0].value and "not finite" in rows[1].value


def test_classifier_passes_wrap_ra_through(tmp_path):
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model, preprocessing={"crop": 224, "size": 32})
    clf = MorphologyClassifier(str(ckpt), device="cpu", progress=False)
    with pytest.warns(UserWarning, match="1 of 1 rows"):
        out = clf.predict(Table({"ra": [400.0], "dec": [1.0]}))
    assert not out["predict_ok"][0] and "ra=400" in out["predict_error"][0]
    parsed = parse_input(Table({"ra": [400.0], "dec": [1.0]}), wrap_ra=True)
    assert next(parsed.rows).value == (40.0, 1.0)


def test_redshift_column_that_is_not_numbers_does_not_stop_parsing():
    # A CSV with "n/a" for missing redshifts reads as a text column; the rows must still
    # parse (the redshift only feeds the optional diagnostics, which report the problem).
    table = Table({"ra": [10.0, 20.0], "dec": [1.0, 2.0], "z": ["0.05", "n/a"]})
    parsed = parse_input(table)
    assert [r.kind for r in parsed.rows] == ["coord", "coord"]
    assert list(parsed.z) == ["0.05", "n/a"]
    numeric = parse_input(Table({"ra": [10.0], "dec": [1.0], "redshift": [0.05]}))
    assert numeric.z.dtype == np.float64 and numeric.z[0] == 0.05


def test_petro_r90_is_read_for_image_path_tables_too():
    # predict documents that image files' sep_arcsec needs a petroR90_r column.
    from astropy import units as u
    table = Table({"file": ["a.jpg", "b.jpg"], "petroR90_r": [0.1, 0.05] * u.arcmin})
    assert [r.petro for r in parse_input(table).rows] == pytest.approx([6.0, 3.0])
    assert np.isnan(next(parse_input(Table({"file": ["a.jpg"]})).rows).petro)


def test_greyscale_pil_image_is_converted_by_the_stated_rule_not_silently():
    from PIL import Image

    from galmorph.data.images import ImageConversionWarning
    grey = Image.fromarray(np.arange(100 * 100, dtype=np.uint8).reshape(100, 100), "L")
    with pytest.warns(ImageConversionWarning, match="greyscale converted to RGB"):
        row = next(parse_input(grey).rows)
    assert row.kind == "image" and row.value.shape == (100, 100, 3)
    assert (row.value[..., 0] == np.asarray(grey)).all()
