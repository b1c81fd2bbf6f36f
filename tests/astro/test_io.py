"""Catalogues in, result tables out (galmorph.astro.io)."""
import tempfile

import numpy as np
import pytest
from astropy.table import Table

from galmorph._util._atomic import FAULT_ENV
from galmorph._util._io import OutputError
from galmorph.astro.io import failed_rows, read_catalog, sky_position, write_result
from galmorph.errors import DataError


@pytest.fixture
def systmp(tmp_path, monkeypatch):
    """The system temporary folder (where rescued rows go), fresh for the test."""
    tmp = tmp_path / "systmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def _result():
    """Three classified rows, the middle one failed."""
    return Table({"objid": [1, 2, 3], "path": ["a.jpg", "b.jpg", "c.jpg"],
                  "ra": [150.0, 150.1, 150.2], "dec": [2.0, 2.1, 2.2],
                  "predict_ok": [True, False, True],
                  "predict_error": ["", "row 1: image b.jpg does not exist", ""]})


def test_read_catalog_reads_any_astropy_table_and_names_a_bad_file(tmp_path):
    _result().write(tmp_path / "t.ecsv")
    assert read_catalog(tmp_path / "t.ecsv")["objid"].tolist() == [1, 2, 3]
    (tmp_path / "t.dat").write_text("ra dec\n150.0 2.0\n150.1 2.1\n")  # no known extension
    assert read_catalog(str(tmp_path / "t.dat"))["dec"].tolist() == [2.0, 2.1]
    with pytest.raises(DataError, match=r"catalogue .*nope\.ecsv does not exist"):
        read_catalog(tmp_path / "nope.ecsv")
    (tmp_path / "bad.txt").write_text("a b\n1 2 3\n4\n")   # rows of unequal length
    with pytest.raises(DataError, match=r"(?s)cannot read catalogue .*bad\.txt: .*Give a table "
                                        r"astropy can read"):
        read_catalog(tmp_path / "bad.txt")


def test_sky_position_reads_degrees_and_sexagesimal():
    c = sky_position("150.1", "2.2")
    assert (c.ra.deg, c.dec.deg) == pytest.approx((150.1, 2.2))
    assert sky_position(150.1, -2.2).dec.deg == pytest.approx(-2.2)
    for ra, dec in [("10:00:24", "+02:12:00"), ("10h00m24s", "2d12m00s")]:
        c = sky_position(ra, dec)
        assert (c.ra.deg, c.dec.deg) == pytest.approx((150.1, 2.2))
    with pytest.raises(DataError, match=r"^cannot read ra 'x' dec '2' as a position \(.*\); "
                                        r"give degrees"):
        sky_position("x", "2")
    with pytest.raises(DataError, match=r"^cannot read --ra 'x' --dec '2'"):
        sky_position("x", "2", names=("--ra", "--dec"))


def test_write_result_writes_by_extension(tmp_path):
    t = _result()
    t.meta["model_name"] = "tiny"
    write_result(t, tmp_path / "r.ecsv")
    back = Table.read(tmp_path / "r.ecsv")
    assert back["objid"].tolist() == [1, 2, 3] and back.meta["model_name"] == "tiny"
    write_result(t, tmp_path / "r.csv")
    assert Table.read(tmp_path / "r.csv")["path"].tolist() == ["a.jpg", "b.jpg", "c.jpg"]


def test_write_result_saves_the_rows_beside_an_unknown_format(tmp_path):
    with pytest.raises(OutputError, match=r"^--out .*r\.xyz: cannot write it \(.*\); the 3 "
                                          r"classified rows were saved to .*r\.xyz\.ecsv "
                                          r"instead\. Use an extension astropy writes"):
        write_result(_result(), tmp_path / "r.xyz", flag="--out")
    assert Table.read(tmp_path / "r.xyz.ecsv")["objid"].tolist() == [1, 2, 3]


def test_write_result_saves_the_rows_in_the_temp_folder_when_the_disk_fails(
        tmp_path, systmp, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, f"ENOSPC:{tmp_path}/out/*")
    with pytest.raises(OutputError) as info:
        write_result(_result(), tmp_path / "out" / "r.ecsv")
    (saved,) = systmp.glob("galmorph-r-*.ecsv")
    assert str(info.value).startswith(f"{tmp_path / 'out' / 'r.ecsv'}: cannot write it (")
    assert f"the 3 classified rows were saved to {saved} instead" in str(info.value)
    assert Table.read(saved)["objid"].tolist() == [1, 2, 3]


def test_failed_rows_names_the_file_the_position_and_the_reason():
    assert failed_rows(_result()) == [{"row": 1, "file": "b.jpg", "ra": 150.1, "dec": 2.1,
                                       "reason": "image b.jpg does not exist"}]
    t = _result()
    t["img"] = ["x", "y", "z"]
    assert failed_rows(t, image_column="img")[0]["file"] == "y"
    del t["path"], t["img"], t["ra"], t["dec"]
    t["predict_ok"] = np.array([True, True, True])
    assert failed_rows(t) == []
    t["predict_ok"][0] = False
    t["predict_error"][0] = "no cutout"
    assert failed_rows(t) == [{"row": 0, "reason": "no cutout"}]
