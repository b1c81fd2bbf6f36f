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


def test_relative_paths_are_looked_up_in_each_image_dir_in_turn(tmp_path):
    beside, cwd = tmp_path / "survey", tmp_path / "work"
    (beside / "g50").mkdir(parents=True)
    (cwd / "g50").mkdir(parents=True)
    (beside / "g50" / "1.jpg").write_bytes(b"x")
    (cwd / "g50" / "2.jpg").write_bytes(b"x")
    table = Table({"path": ["g50/1.jpg", "g50/2.jpg", "g50/3.jpg", str(cwd / "g50" / "2.jpg")]})
    rows = _rows(table, image_dir=[beside, cwd])
    assert [r.kind for r in rows] == ["path", "path", "error", "path"]
    assert rows[0].value == beside / "g50" / "1.jpg"      # the first folder wins
    assert rows[1].value == cwd / "g50" / "2.jpg"         # else the next
    assert rows[3].value == cwd / "g50" / "2.jpg"         # absolute paths stay as they are
    message = rows[2].value
    assert message.startswith("row 2 ('path'): image g50/3.jpg does not exist")
    assert str(beside / "g50" / "3.jpg") in message and str(cwd / "g50" / "3.jpg") in message
    assert "--image-dir DIR" in message
    # One folder: joined as before, without looking (the reader reports a missing file).
    assert _rows(table, image_dir=beside)[2].value == beside / "g50" / "3.jpg"


def test_an_empty_path_falls_back_to_the_rows_coordinates():
    from galmorph.astro._classify_inputs import CUTOUT_FALLBACK_NOTE

    table = Table({"path": ["a.jpg", "", "  ", "", "b.jpg"],
                   "ra": [10.0, 150.1, 400.0, 151.0, 12.0], "dec": [1.0, 2.2, 2.0, 95.0, 1.0]})
    table["path"] = table["path"].astype(object)
    table["path"][3] = None
    rows = _rows(table)
    assert [r.kind for r in rows] == ["path", "coord", "error", "error", "path"]
    assert rows[1].value == (150.1, 2.2) and rows[1].note == CUTOUT_FALLBACK_NOTE
    assert rows[0].note == rows[4].note == ""
    assert rows[2].value.startswith("row 2 ('path'): no image path given, and ra=400")
    assert "dec=95" in rows[3].value
    # Without coordinates the row still fails, and says there were none to use.
    rows = _rows(Table({"path": ["a.jpg", ""]}))
    assert rows[1].kind == "error"
    assert rows[1].value == ("row 1 ('path'): no image path given (and no ra/dec columns to "
                             "fetch a cutout by)")
