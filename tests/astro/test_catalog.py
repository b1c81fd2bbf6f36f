"""Tests of galmorph.astro.catalog: the GZ2 cuts on tables, the SQL, and the SkyServer query
run by the real astroquery client against the local fake SDSS (tests/sdss_server.py)."""
import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable, Table

from galmorph.astro.catalog import (SDSSQueryError, gz2_sample_sql, gz2_selection,
                                    query_gz2_sample)
from galmorph.errors import DataError


def sample():
    """Eight rows, each probing one edge of the GZ2 cuts."""
    return Table({
        "objID": np.arange(1, 9),
        #              ok    faint  r=17.0 ext.saves small  r90=3  z high  no z
        "petroMag_r": [16.0, 17.2, 17.1, 17.05, 15.0, 16.0, 16.0, 16.5],
        "extinction_r": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
        "petroR90_r": [5.0, 5.0, 5.0, 5.0, 2.5, 3.0, 5.0, 5.0],
        "z": MaskedColumn([0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.3, 0.0],
                          mask=[0, 0, 0, 0, 0, 0, 0, 1]),
    })


# -- gz2_selection -----------------------------------------------------------------------------
def test_gz2_cuts_and_report():
    selected, report = gz2_selection(sample())
    # r = 17.1 - 0.1 = 17.0 is not brighter than 17; 17.05 - 0.1 = 16.95 is
    assert list(selected["objID"]) == [1, 4, 8]
    assert list(report["cut"]) == ["r_mag", "petroR90_r", "redshift"]
    assert list(report["removed"]) == [2, 2, 1]
    assert list(report["remaining"]) == [6, 4, 3]
    assert report.loc["redshift"]["note"] == "1 row(s) without redshift kept"
    assert "petroMag_r - extinction_r < 17 mag" in report.loc["r_mag"]["condition"]
    assert report.meta["input_rows"] == 8
    assert selected.colnames == sample().colnames


def test_nan_z_is_kept_and_nan_magnitude_removed():
    t = sample()
    t["z"] = np.array(t["z"].filled(np.nan))  # NaN instead of a mask
    t["petroMag_r"][0] = np.nan
    selected, report = gz2_selection(t)
    assert list(selected["objID"]) == [4, 8]
    assert report.loc["r_mag"]["note"] == "1 row(s) with NaN/masked magnitude removed"


def test_each_cut_can_be_disabled_and_moved():
    _, report = gz2_selection(sample(), r_mag_limit=None, r90_min=None, z_min=None, z_max=None)
    assert len(report) == 0
    selected, report = gz2_selection(sample(), r_mag_limit=17.5, r90_min=2.0, z_max=None)
    assert list(selected["objID"]) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert list(report["cut"]) == ["r_mag", "petroR90_r", "redshift"]
    assert "0.0005 < z (rows without z kept)" == report.loc["redshift"]["condition"]
    selected, _ = gz2_selection(sample(), z_min=0.06)
    assert list(selected["objID"]) == [8]  # only the galaxy without z survives z > 0.06
    # without the z cut the table needs no z column
    t = sample()
    del t["z"]
    selected, _ = gz2_selection(t, z_min=None, z_max=None)
    assert list(selected["objID"]) == [1, 4, 7, 8]


def test_renamed_and_quantity_columns():
    t = sample()
    q = QTable({"id": t["objID"], "r_petro": t["petroMag_r"] * u.mag,
                "A_r": t["extinction_r"] * u.mag,
                "r90": (t["petroR90_r"] / 60.0) * u.arcmin,  # converted to arcsec
                "redshift": t["z"]})
    selected, report = gz2_selection(q, columns={"petroMag_r": "r_petro", "extinction_r": "A_r",
                                                 "petroR90_r": "r90", "z": "redshift"})
    assert list(selected["id"]) == [1, 4, 8]
    assert isinstance(selected, QTable)
    assert report.loc["r_mag"]["condition"] == "r_petro - A_r < 17 mag"
    # magnitudes already corrected for extinction
    selected, report = gz2_selection(sample(), columns={"extinction_r": None})
    assert list(selected["objID"]) == [1, 8]
    assert report.loc["r_mag"]["condition"] == "petroMag_r < 17 mag"


def test_accepts_a_dataframe():
    df = sample().to_pandas()
    selected, _ = gz2_selection(df)
    assert list(selected["objID"]) == [1, 4, 8]


def test_missing_column_error_names_it():
    t = sample()
    del t["petroR90_r"]
    with pytest.raises(DataError, match=r"no column\(s\) \['petroR90_r'\].*columns=\{"):
        gz2_selection(t)
    with pytest.raises(DataError, match=r"no column\(s\) \['rp'\]"):
        gz2_selection(sample(), columns={"petroMag_r": "rp"})


def test_bad_columns_and_units():
    t = sample()
    t["petroR90_r"] = t["petroR90_r"] * u.mag
    with pytest.raises(DataError, match="column 'petroR90_r' has unit mag, expected arcsec"):
        gz2_selection(t)
    t = sample()
    t["z"] = ["a"] * len(t)
    with pytest.raises(DataError, match="column 'z' is not numeric"):
        gz2_selection(t)
    with pytest.raises(ValueError, match="unknown SDSS column 'r_mag'.*petroMag_r"):
        gz2_selection(sample(), columns={"r_mag": "x"})
    with pytest.raises(ValueError, match="only extinction_r may be None"):
        gz2_selection(sample(), columns={"z": None})


# -- SQL ---------------------------------------------------------------------------------------
def test_sql_cone_and_cuts():
    sql = gz2_sample_sql(region=(SkyCoord(185.0, 15.5, unit="deg"), 0.5 * u.deg), limit=50)
    assert sql.startswith("SELECT TOP 50 p.objID, p.ra, p.dec, p.petroMag_r, p.extinction_r, "
                          "p.petroR90_r, s.z, s.specObjID\nFROM PhotoObj AS p")
    assert "JOIN dbo.fGetNearbyObjEq(185.00000000, 15.50000000, 30.000000) AS n" in sql
    assert "LEFT OUTER JOIN SpecObj AS s ON s.bestObjID = p.objID" in sql
    assert "p.type = 3" in sql
    assert "p.petroMag_r - p.extinction_r < 17.0" in sql
    assert "p.petroR90_r > 3.0" in sql
    assert "(s.z IS NULL OR (s.z > 0.0005 AND s.z < 0.25))" in sql
    assert "--" not in sql  # astroquery strips SQL comments with the rest of the line


def test_sql_box_wrap_and_disabled_cuts():
    sql = gz2_sample_sql(region=(350.0, 10.0, -1.0, 1.0), limit=None, r_mag_limit=None,
                         z_min=None)
    assert sql.startswith("SELECT p.objID")
    assert "(p.ra >= 350.0 OR p.ra <= 10.0)" in sql and "p.dec BETWEEN -1.0 AND 1.0" in sql
    assert "petroMag_r -" not in sql
    assert "(s.z IS NULL OR (s.z < 0.25))" in sql
    sql = gz2_sample_sql(region=(10 * u.deg, 20 * u.deg, 0 * u.deg, 5 * u.deg))
    assert "p.ra BETWEEN 10.0 AND 20.0" in sql


def test_sql_bad_arguments():
    with pytest.raises(ValueError, match="radius must be an angle Quantity"):
        gz2_sample_sql(region=(SkyCoord(1, 2, unit="deg"), 5))
    with pytest.raises(ValueError, match="region must be"):
        gz2_sample_sql(region=(1, 2, 3))
    with pytest.raises(ValueError, match="Dec range"):
        gz2_sample_sql(region=(1, 2, 5, -5))
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        gz2_sample_sql(limit=0)


# -- query through astroquery against the fake SkyServer -----------------------------------------
def skyserver_rows():
    t = sample()
    return Table({"objID": np.uint64(1237648720693755918) + t["objID"].astype(np.uint64),
                  "ra": np.linspace(185.0, 185.1, 8), "dec": np.full(8, 15.5),
                  "petroMag_r": t["petroMag_r"], "extinction_r": t["extinction_r"],
                  "petroR90_r": t["petroR90_r"], "z": t["z"],
                  "specObjID": MaskedColumn(np.full(8, 13510000000000000000, dtype=np.uint64),
                                            mask=t["z"].mask)})


def test_query_gz2_sample_sends_sql_and_parses(fake_sdss):
    fake_sdss.sql_table = skyserver_rows()
    region = (SkyCoord(185.0, 15.5, unit="deg"), 10 * u.arcmin)
    table = query_gz2_sample(region=region, limit=20, data_release=16)
    (request,) = fake_sdss.requests("sql")
    assert request.path == "/dr16/en/tools/search/x_results.aspx"
    sql = gz2_sample_sql(region=region, limit=20)
    # astroquery sends the SQL with its newlines turned into spaces
    assert request.params["cmd"] == "".join(" " + line for line in sql.split("\n"))
    assert request.params["format"] == "csv" and request.params["searchtool"] == "SQL"
    # the cuts are applied again locally: rows the server let through are still removed
    assert list(table["objID"] - np.uint64(1237648720693755918)) == [1, 4, 8]
    assert table["objID"].dtype == np.uint64 and table["specObjID"].dtype == np.uint64
    assert table["specObjID"][0] == 13510000000000000000  # beyond int64
    assert table["z"].mask.tolist() == [False, False, True]  # SkyServer's "null"
    assert table["petroR90_r"].unit == u.arcsec and table["petroMag_r"].unit == u.mag
    assert table.meta["gz2_selection"] == {"r_mag": 2, "petroR90_r": 2, "redshift": 1}
    assert {r.host for r in fake_sdss.requests()} == {"127.0.0.1"}


def test_query_gz2_sample_empty_result(fake_sdss):
    fake_sdss.sql_table = Table(names=["objID", "ra", "dec", "petroMag_r", "extinction_r",
                                       "petroR90_r", "z", "specObjID"])
    table = query_gz2_sample(limit=5)
    assert len(table) == 0 and "petroR90_r" in table.colnames


def test_query_retries_503_then_succeeds(fake_sdss):
    fake_sdss.sql_table = skyserver_rows()
    fake_sdss.fail(status=503, times=2, service="sql")
    table = query_gz2_sample(limit=5, backoff=0.01)
    assert len(table) == 3
    assert [r.status for r in fake_sdss.requests("sql")] == [503, 503, 200]


def test_query_errors_name_server_and_cause(fake_sdss):
    fake_sdss.fail(status=400, service="sql")
    with pytest.raises(SDSSQueryError, match=r"SkyServer DR17 SQL \(http://127.0.0.1:\d+\) "
                                             r"failed: HTTP 400.*injected by FakeSDSS"):
        query_gz2_sample(limit=5, backoff=0.01)
    assert len(fake_sdss.requests("sql")) == 1  # a 4xx is not retried
    fake_sdss.faults.clear()
    fake_sdss.slow(delay=0.5, service="sql")
    with pytest.raises(SDSSQueryError, match="failed after 2 attempts: no answer"):
        query_gz2_sample(limit=5, timeout=0.1, retries=1, backoff=0.01)
    fake_sdss.faults.clear()
    fake_sdss.bad_payload(service="sql")
    with pytest.raises(SDSSQueryError, match="not a CSV table|lacks columns"):
        query_gz2_sample(limit=5)


def test_dataframe_roundtrip_of_query_result(fake_sdss):
    fake_sdss.sql_table = skyserver_rows()
    df = query_gz2_sample(limit=5).to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 3
