"""Survey classification on a real Dask cluster (galmorph.workflows.survey*).

A real ``distributed.LocalCluster`` of 2 worker processes on 127.0.0.1 classifies
the shipped example galaxies (real JPEGs, the shipped model) plus bad paths; the
results must equal the single-process MorphologyClassifier's, a worker killed
mid-run must lose no row, and a rerun must skip the partitions already written.
"""
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from blocking_input import blocking_file, hold_reader, sigint_default, worker_noise

from galmorph import schema
from galmorph.astro.classifier import MorphologyClassifier
from galmorph.data.examples import example_galaxies
from galmorph.errors import DataError, ParameterError
from galmorph.trust.columns import interval_columns

dd = pytest.importorskip("dask.dataframe", reason="dask is not installed: pip install "
                                                  "'galmorph-gz2[dask]' (the test extra has it)")
distributed = pytest.importorskip("distributed", reason="distributed is not installed: pip "
                                                        "install 'galmorph-gz2[dask]'")

from galmorph.workflows.survey import (MissingExtraError, classify_survey,  # noqa: E402
                                       require_dask, require_lsdb, result_columns)
from galmorph.workflows.survey._cluster import resolve_threads, worker_stats  # noqa: E402
from galmorph.workflows.survey._run import open_catalog  # noqa: E402
from galmorph.workflows.survey.write import partition_path, write_survey  # noqa: E402

pytestmark = pytest.mark.timeout(240)
FLOATS = list(schema.KAGGLE_COLUMNS) + ["p_merger", "merger_prob", "ood_score"]
FLAGS = ["is_merger", "is_ood"]
BAD = ["/no/such/galaxy.jpg", "", None, str(Path(__file__))]  # missing, empty, none, not an image


@pytest.fixture(scope="module")
def catalog():
    """28 rows: the 24 example galaxies, then 4 bad paths; an objid and a z column ride along."""
    files = list(example_galaxies()["file"]) + BAD
    n = len(files)
    return pd.DataFrame({"objid": np.arange(1000, 1000 + n), "file": files,
                         "z": np.linspace(0.02, 0.1, n)})


@pytest.fixture(scope="module")
def reference(catalog):
    """The single-process classifier on the same rows.

    Here and in the survey runs compared with it, fp32, not "auto": "auto" takes int8 where
    the disk cache already holds the model's int8 form, which another test may put there
    between two runs, and int8 and fp32 differ by far more than the 1e-6 compared."""
    table = Table({"file": np.array(list(example_galaxies()["file"]) + BAD, dtype=object)})
    with pytest.warns(UserWarning, match="4 of 28 rows"):
        return MorphologyClassifier(device="cpu", precision="fp32", progress=False).predict(table)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        yield c


def _flags(column):
    """A flag column as [True, False, None]: pandas' <NA> and astropy's masked are None."""
    if isinstance(column, pd.Series):
        return [None if v is pd.NA else bool(v) for v in column]
    return [None if m else bool(v) for v, m in zip(np.ma.getdata(column),
                                                   np.ma.getmaskarray(column))]


def _assert_same(got, ref, labels, where, intervals=None):
    """Survey rows ``got`` (pandas, in input order) equal the classifier's ``ref`` rows, with
    the survey's dtypes: float32 (NaN where ``ref`` is masked), nullable "boolean" flags."""
    for name in FLOATS + interval_columns(intervals):
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name].to_numpy(np.float64),
                                   np.ma.filled(ref[name].astype(np.float64), np.nan), rtol=0,
                                   atol=1e-6, equal_nan=True, err_msg=name)
    for name in FLAGS:
        assert got[name].dtype == "boolean", name
        assert _flags(got[name]) == _flags(ref[name]), name
    assert got["predict_ok"].dtype == bool
    if "input_note" in ref.colnames:  # how a non-colour image was converted
        assert got["input_note"].fillna("").tolist() == [str(v) for v in ref["input_note"]]
    assert got["predict_ok"].tolist() == list(ref["predict_ok"])
    for e, r, label, part in zip(got["predict_error"], ref["predict_error"], labels, where):
        if not r:
            assert e == ""
            continue
        # "row 25 ('file'): no image path given" -> "partition 3, row 1025 ('file'): ..."
        assert e == re.sub(r"^row \d+", f"{part}row {label}", str(r)), (e, r)


def test_cluster_equals_single_process_and_loads_the_model_once(client, catalog, reference):
    ddf = dd.from_pandas(catalog.set_index("objid", drop=False), npartitions=4)
    result = classify_survey(ddf, precision="fp32", client=client)
    assert isinstance(result, dd.DataFrame) and result.npartitions == 4  # lazy
    assert list(result.columns) == ["objid", "file", "z"] + result_columns()
    assert result_columns()[37:] == ["p_merger", "merger_prob", "is_merger", "ood_score",
                                     "is_ood", "predict_ok", "predict_error", "input_note"]
    got = client.compute(result).result()
    assert got.index.tolist() == catalog["objid"].tolist()
    assert got["z"].tolist() == catalog["z"].tolist()
    parts = [f"partition {i // 7}, " for i in range(28)]  # 7 rows per partition
    _assert_same(got, reference, catalog["objid"], parts)
    new = result_columns()  # every partition has the meta's dtypes
    assert got[new].dtypes.astype(str).tolist() == result._meta[new].dtypes.astype(str).tolist()
    assert not got["predict_ok"].iloc[24:].any() and got["predict_ok"].iloc[:24].all()
    # A failed row is not a non-merger (issue 26): its flags are <NA>, not False, and its
    # probabilities NaN; the classified rows all have an is_merger.
    for name in ("is_merger", "is_ood", "p_merger", "merger_prob", "ood_score"):
        assert got[name].iloc[24:].isna().all(), name
    assert got["is_merger"].iloc[:24].notna().all()
    assert "does not exist" in got["predict_error"].iloc[24]
    assert "no image path given" in got["predict_error"].iloc[25]
    # Two worker processes, one model load each (not one per partition), 1 torch thread each
    # on this machine's share of cores.
    stats = client.run(worker_stats)
    assert len({s["pid"] for s in stats.values()}) == 2
    assert [s["loads"] for s in stats.values()] == [1, 1]
    assert sum(s["partitions"] for s in stats.values()) == 4
    assert {s["torch_threads"] for s in stats.values()} == {resolve_threads(None, 2)}


def test_intervals_merger_prob_and_ood_on_the_cluster(client, catalog, calibrated_model):
    """``intervals=0.9`` adds the 74 bounds after the fractions, float32 like them; with the
    shipped calibration merger_prob and is_ood are set on every classified row."""
    rows = catalog.iloc[20:]  # 4 galaxies, then the 4 bad rows
    result = classify_survey(dd.from_pandas(rows, npartitions=2), client=client,
                             intervals=0.9, precision="fp32")
    bounds = interval_columns(0.9)
    assert len(bounds) == 74 and bounds[:2] == ["Class1.1_lo", "Class1.1_hi"]
    assert list(result.columns) == ["objid", "file", "z"] + result_columns(0.9)
    assert result_columns(0.9)[37:37 + 74] == bounds
    got = client.compute(result).result()
    files = [None if isinstance(f, float) and np.isnan(f) else f for f in rows["file"]]
    table = Table({"file": np.array(files, dtype=object)})   # pandas' NaN was a None
    with pytest.warns(UserWarning, match="4 of 8 rows"):
        ref = MorphologyClassifier(device="cpu", precision="fp32", progress=False,
                                   intervals=0.9).predict(table)
    _assert_same(got, ref, got.index, [f"partition {i // 4}, " for i in range(8)],
                 intervals=0.9)
    ok = got["predict_ok"].to_numpy()
    for name in schema.KAGGLE_COLUMNS:
        lo, p, hi = (got[c].to_numpy(np.float64) for c in (f"{name}_lo", name, f"{name}_hi"))
        assert np.all((0 <= lo[ok]) & (lo[ok] <= hi[ok]) & (hi[ok] <= 1)) and \
            np.isfinite(p[ok]).all()
        assert np.isnan(lo[~ok]).all() and np.isnan(hi[~ok]).all()
    assert got["merger_prob"][ok].notna().all() and got["is_ood"][ok].notna().all()
    assert got["is_ood"][~ok].isna().all() and got["is_merger"][~ok].isna().all()


# -- faults: partition functions the workers unpickle by value (this module is not on their path)
def die_once(part, marker, partition_info=None):
    """The worker running partition 1 dies (os._exit) on the first attempt."""
    flag = Path(marker) / "died"
    if partition_info["number"] == 1 and not flag.exists():
        flag.touch()
        os._exit(3)
    return part


def flaky(part, marker, partition_info=None):
    """Partition 2 raises once; partition 3 raises until ``marker/fixed`` exists."""
    number = partition_info["number"]
    flag = Path(marker) / "flaked"
    if number == 2 and not flag.exists():
        flag.touch()
        raise RuntimeError("flaky storage")
    if number == 3 and not (Path(marker) / "fixed").exists():
        raise OSError("disk 3 is broken")
    return part


def test_killed_worker_failures_retry_and_rerun_lose_no_row(client, catalog, reference,
                                                           tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ddf = dd.from_pandas(catalog, npartitions=4)
    faulty = ddf.map_partitions(die_once, str(tmp_path), meta=ddf._meta) \
        .map_partitions(flaky, str(tmp_path), meta=ddf._meta)
    out = tmp_path / "out"
    report = write_survey(classify_survey(faulty, precision="fp32", client=client), out,
                          client=client, source="catalog")
    assert (tmp_path / "died").exists() and (tmp_path / "flaked").exists()  # faults happened
    assert report.written == [0, 1, 2] and report.skipped == []
    assert "RuntimeError: flaky storage" in report.retried[2]
    assert list(report.failed) == [3] and "disk 3 is broken" in report.failed[3]
    assert 3 in report.retried  # tried twice, never dropped silently
    assert not partition_path(out, 3).exists() and not report.ok
    saved = json.loads((out / "_galmorph_survey_report.json").read_text())
    assert "disk 3 is broken" in saved["failed"]["3"]
    assert any("partition 3 FAILED" in line for line in report.lines())
    assert report.n_rows == 21 and report.n_failed_rows == 0  # the bad rows are in p3
    # Rerun once the fault is fixed: the three done partitions are skipped, untouched.
    (tmp_path / "fixed").touch()
    before = {i: partition_path(out, i).stat().st_mtime_ns for i in range(3)}
    again = write_survey(classify_survey(faulty, precision="fp32", client=client), out,
                         client=client, source="catalog")
    assert again.skipped == [0, 1, 2] and again.written == [3] and again.ok
    assert again.n_rows == 7 and again.n_failed_rows == 4
    # Flag counts skip the failed rows' <NA>: those of the 3 classified rows of partition 3.
    merger = np.ma.filled(reference["is_merger"][21:28], False)
    ood = np.ma.filled(reference["is_ood"][21:28], False)
    assert (again.n_mergers, again.n_ood) == (int(merger.sum()), int(ood.sum()))
    assert "of the 3 rows classified: " in "\n".join(again.lines())
    assert {i: partition_path(out, i).stat().st_mtime_ns for i in range(3)} == before
    assert not list(out.glob(".*.tmp"))
    got = pd.concat([pd.read_parquet(partition_path(out, i)) for i in range(4)])
    assert got["objid"].tolist() == catalog["objid"].tolist()  # every row once, in order
    _assert_same(got, reference, got.index, [f"partition {i // 7}, " for i in range(28)])
    # The folder belongs to that run: another partitioning is refused, naming the flag; so
    # is another merger rule, which would mix two meanings of is_merger in one folder.
    with pytest.raises(ParameterError, match="--out .* holds another survey run"):
        write_survey(classify_survey(dd.from_pandas(catalog, npartitions=2), client=client),
                     out, client=client, source="catalog", flag="--out")
    with pytest.raises(ParameterError, match=r"holds another survey run \(settings differ"):
        write_survey(classify_survey(faulty, merger_rule="paper"), out, client=client,
                     source="catalog", settings={"merger_rule": "paper"})


def test_killed_worker_that_dask_gives_up_on_is_retried_by_galmorph(catalog, reference,
                                                                     tmp_path):
    """With allowed-failures 0 the scheduler raises KilledWorker at the first death; the
    partition is saved by galmorph's own retry."""
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ddf = dd.from_pandas(catalog.iloc[:8], npartitions=2)
    faulty = ddf.map_partitions(die_once, str(tmp_path), meta=ddf._meta)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        report = write_survey(classify_survey(faulty, precision="fp32", client=client),
                              tmp_path / "out", client=client)
    assert (tmp_path / "died").exists()
    assert "KilledWorker" in report.retried[1] and report.ok and report.n_rows == 8
    got = pd.concat([pd.read_parquet(partition_path(tmp_path / "out", i)) for i in range(2)])
    _assert_same(got, reference[:8], got.index, ["partition 0, "] * 4 + ["partition 1, "] * 4)


def test_radec_catalogue_through_the_fake_sdss(fake_sdss, tmp_path):
    """ra/dec + petroR90_r rows fetch cutouts (local scheduler, so the fake serves them)."""
    fake_sdss.fail(150.3, 2.3, status=404)
    df = pd.DataFrame({"objid": [1, 2, 3, 4, 5], "RA": [150.1, 150.2, 150.3, np.nan, 150.5],
                       "Dec": [2.2, 95.0, 2.3, 2.4, 2.5],
                       "petroR90_r": [10.0, 10.0, 10.0, 10.0, 8.0]})
    result = classify_survey(dd.from_pandas(df, npartitions=2), cache_dir=tmp_path / "c",
                             precision="fp32")
    got = result.compute(scheduler="sync")
    table = Table.from_pandas(df)
    table["RA"].unit = table["Dec"].unit = "deg"
    with pytest.warns(UserWarning, match="3 of 5 rows"):
        ref = MorphologyClassifier(device="cpu", precision="fp32", progress=False,
                                   cache_dir=tmp_path / "c").predict(table)
    assert got["predict_ok"].tolist() == [True, False, False, False, True]
    _assert_same(got, ref, got.index, ["partition 0, "] * 3 + ["partition 1, "] * 2)
    assert "dec=95" in got["predict_error"][1] and "404" in got["predict_error"][2]
    # Without a cluster, write_survey runs the partitions one by one on Dask's local scheduler.
    report = write_survey(result, tmp_path / "out")
    assert report.ok and report.written == [0, 1] and report.n_failed_rows == 3
    back = pd.concat([pd.read_parquet(partition_path(tmp_path / "out", i)) for i in (0, 1)])
    assert back["predict_error"].tolist() == got["predict_error"].tolist()


def test_lsdb_catalog_stays_a_catalog(client, catalog, reference, tmp_path):
    lsdb = pytest.importorskip("lsdb", reason="lsdb is not installed: pip install "
                                              "'galmorph-gz2[lsdb]' (.ci/run installs it)")
    rng = np.random.default_rng(1)
    df = catalog.assign(ra=rng.uniform(0, 360, len(catalog)),
                        dec=np.degrees(np.arcsin(rng.uniform(-1, 1, len(catalog)))))
    cat = lsdb.from_dataframe(df, ra_column="ra", dec_column="dec", lowest_order=0,
                              highest_order=1, partition_rows=8,
                              margin_threshold=None)  # no margin: its numba JIT takes 10+ s
    assert cat.npartitions > 1
    result = classify_survey(cat, precision="fp32", client=client)
    assert isinstance(result, lsdb.Catalog)
    assert set(result_columns()) <= set(result.columns)
    got = client.compute(result.to_dask_dataframe()).result()
    hpid = dict(zip(got["objid"], got.index))  # the _healpix_29 index labels the rows
    got = got.set_index("objid").loc[catalog["objid"]]  # HEALPix order -> input order
    # A row's partition is the pixel that contains its order-29 index: id >> 2 (29 - order).
    pixel = {o: p for p in cat.get_healpix_pixels() for o, h in hpid.items()
             if int(h) >> 2 * (29 - int(p.order)) == int(p.pixel)}
    labels = [f"HEALPix order {pixel[o].order} pixel {pixel[o].pixel}, " for o in catalog["objid"]]
    _assert_same(got, reference, [hpid[o] for o in catalog["objid"]], labels)
    report = write_survey(result, tmp_path / "out", client=client)
    assert report.ok and report.n_rows == len(catalog) and report.n_failed_rows == 4
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == cat.npartitions
    # A HATS folder (what `galmorph classify HATS/ --scheduler ...` reads) opens as a Catalog.
    cat.to_hats(tmp_path / "hats")
    opened = open_catalog(tmp_path / "hats")
    assert isinstance(opened, lsdb.Catalog) and opened.npartitions == cat.npartitions
    with pytest.raises(ParameterError, match="HEALPix pixel; drop --partitions"):
        open_catalog(tmp_path / "hats", partitions=4)


def test_missing_extras_name_the_pip_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "lsdb", None)
    with pytest.raises(MissingExtraError, match=re.escape('pip install "galmorph-gz2[lsdb]"')):
        require_lsdb()
    hats = tmp_path / "survey_hats"
    hats.mkdir()
    (hats / "hats.properties").write_text("obs_collection=survey\n")
    with pytest.raises(MissingExtraError, match=r"galmorph-gz2\[lsdb\]"):
        open_catalog(hats)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(MissingExtraError, match=re.escape('pip install "galmorph-gz2[dask]"')):
        require_dask()
    with pytest.raises(ImportError):  # also an ImportError, for code that catches that
        classify_survey(None)


def test_structural_problems_raise_before_any_work(catalog, tmp_path):
    catalog.to_parquet(tmp_path / "cat.parquet")
    assert open_catalog(tmp_path / "cat.parquet", partitions=3).npartitions == 3
    (tmp_path / "cat.csv").write_text("ra,dec\n1,2\n")
    with pytest.raises(DataError, match="CATALOG .*cat.csv: a survey run reads Parquet"):
        open_catalog(tmp_path / "cat.csv", flag="CATALOG")
    with pytest.raises(DataError, match="does not exist"):
        open_catalog(tmp_path / "nope.parquet")
    ddf = dd.from_pandas(catalog[["objid", "z"]], npartitions=2)
    with pytest.raises(DataError, match="no image-path column .* and no ra/dec"):
        classify_survey(ddf)
    with pytest.raises(DataError, match="image column 'img' not in the catalogue"):
        classify_survey(ddf, image_column="img")
    with pytest.raises(ParameterError, match="Dask DataFrame or an LSDB Catalog"):
        classify_survey(catalog)
    with pytest.raises(ParameterError, match="checkpoint path"):
        classify_survey(dd.from_pandas(catalog, npartitions=1), model=object())


@pytest.mark.slow
def test_cli_scheduler_local_writes_and_resumes(catalog, tmp_path):
    """``galmorph classify CAT.parquet --scheduler local --out DIR/`` end to end, twice."""
    cat = tmp_path / "cat.parquet"
    catalog.iloc[20:].to_parquet(cat)  # 4 galaxies + 4 bad rows
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "galmorph", "classify", str(cat), "--scheduler", "local",
           "--partitions", "2", "--out", str(out), "--no-progress", "--merger-rule", "paper"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 partitions written (8 rows, 4 rows not classified)" in first.stdout
    got = pd.concat([pd.read_parquet(partition_path(out, i)) for i in range(2)])
    assert got["objid"].tolist() == catalog["objid"].iloc[20:].tolist()
    assert got["predict_ok"].tolist() == [True] * 4 + [False] * 4
    # --merger-rule reached the workers: the paper's rule, <NA> on the failed rows; the rule
    # is kept in the manifest, so that a resumed run cannot switch it.
    assert _flags(got["is_merger"]) == [bool(p >= 0.54) for p in got["p_merger"][:4]] + \
        [None] * 4
    n_mergers = int(got["is_merger"].sum())
    assert f"of the 4 rows classified: {n_mergers} flagged is_merger" in first.stdout
    manifest = json.loads((out / "_galmorph_survey.json").read_text())
    assert manifest["settings"] == {"merger_rule": "paper", "merger_threshold": 0.54,
                                    "intervals": None}
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 partitions written" in second.stdout and "2 already done" in second.stdout


@pytest.mark.slow
def test_cli_scheduler_local_ctrl_c_stops_with_130_and_quiet_workers(catalog, tmp_path):
    """A terminal's Ctrl-C (SIGINT to the group, the Dask workers included) while a worker
    reads an image: exit 130 with one line, no worker traceback."""
    held = blocking_file(tmp_path / "held.jpg")   # a worker waits on it: the signal lands mid-run
    cat = tmp_path / "cat.parquet"
    rows = catalog.iloc[:4].copy()
    rows.loc[rows.index[1], "file"] = str(held)
    rows.to_parquet(cat)
    cmd = [sys.executable, "-m", "galmorph", "classify", str(cat), "--scheduler", "local",
           "--partitions", "2", "--out", str(tmp_path / "out"), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=sigint_default)
    with hold_reader(held, proc, timeout=600):
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=600)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, out + err
    assert "galmorph classify: interrupted" in err
    assert not worker_noise(err), err


def test_embeddings_on_the_cluster_equal_the_classifiers(client, catalog, tmp_path):
    from galmorph.adapt import find_similar, read_embeddings

    ddf = dd.from_pandas(catalog, npartitions=3)
    result = classify_survey(ddf, embedding=True, precision="fp32", client=client)
    assert "embedding" in result.columns and result_columns(embedding=True)[37:39] == [
        "p_merger", "merger_prob"]
    write_survey(result, tmp_path / "emb", client=client)
    got = read_embeddings(tmp_path / "emb")                          # the Parquet parts
    table = Table({"file": np.array(list(catalog["file"]), dtype=object)})
    with pytest.warns(UserWarning, match="4 of 28 rows"):
        ref = MorphologyClassifier(device="cpu", precision="fp32", progress=False).embed(table)
    order = np.argsort(np.asarray(got["objid"]))
    np.testing.assert_allclose(np.asarray(got["embedding"])[order], ref["embedding"],
                               atol=1e-5, equal_nan=True)
    assert list(np.asarray(got["predict_ok"])[order]) == list(ref["predict_ok"])
    assert find_similar(got, 1000, k=3, id_column="objid")["objid"][0] != 1000
