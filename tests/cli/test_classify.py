"""The cutout options of MorphologyClassifier and ``galmorph classify`` (timeout, retries,
workers), and classifying a catalogue when there is no network.

The real astroquery client runs against tests/sdss_server.py on 127.0.0.1; "no network"
is a host under the reserved ``.invalid`` TLD, which never resolves.
"""
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.table import Table
from sdss_server import UNRESOLVABLE_URL, watch_sockets

from galmorph.astro.classifier import MorphologyClassifier
from galmorph.astro.cutouts import conf
from galmorph.cli import main

UNRESOLVABLE = UNRESOLVABLE_URL.split("//")[1]


def _positions(n, ra0=150.0):
    return Table({"objid": np.arange(n) + 100, "ra": ra0 + 0.01 * np.arange(n),
                  "dec": np.full(n, 2.0)})


def _clf(ckpt, **kw):
    return MorphologyClassifier(str(ckpt), device="cpu", progress=False, **kw)


def test_constructor_stores_the_fetch_options(ckpt):
    clf = MorphologyClassifier(str(ckpt))
    assert (clf.timeout, clf.retries, clf.workers) == (30.0, 3, 1)
    clf = MorphologyClassifier(str(ckpt), timeout=2.5, retries=0, workers=4)
    assert (clf.timeout, clf.retries, clf.workers) == (2.5, 0, 4)
    assert not hasattr(clf, "model_")  # stored, nothing loaded


def test_no_network_fails_every_row_at_once(ckpt, fake_sdss, tmp_path):
    # 130 rows: three cutout blocks of up to 64, so the first failure must carry across
    clf = _clf(ckpt, cache_dir=tmp_path).load()
    with conf.set_temp("hips2fits_server", UNRESOLVABLE_URL + "/hips2fits"):
        start = time.monotonic()  # what one row (one look-up) costs here
        with pytest.warns(UserWarning, match="1 of 1 rows"):
            clf.predict(_positions(1, ra0=160.0))
        one = time.monotonic() - start
        with watch_sockets() as seen, pytest.warns(UserWarning, match="130 of 130 rows"):
            start = time.monotonic()
            out = clf.predict(_positions(130))
            elapsed = time.monotonic() - start
    # one look-up per run (a new run asks again); it was 4 per row, 3.5 s each on a real DNS
    assert seen.lookups_of(UNRESOLVABLE) == [UNRESOLVABLE]
    assert elapsed < one + 3.0, (elapsed, one)
    assert out["objid"].tolist() == list(range(100, 230)) and not out["predict_ok"].any()
    errors = list(out["predict_error"])
    assert errors[0].startswith("row 0: hips2fits cutout at RA=150.00000 Dec=+2.00000 deg failed")
    assert f"cannot resolve host '{UNRESOLVABLE}'" in errors[0]
    for i, error in enumerate(errors[1:], start=1):
        assert error.startswith(f"row {i}: ")
        assert error.endswith(f"no network: cannot resolve host '{UNRESOLVABLE}' "
                              "(first failure at row 0); not tried")
    assert max(len(e) for e in errors) < 200
    assert not any("%7B" in e or "http" in e for e in errors)


def test_retries_timeout_and_workers_reach_the_fetch(ckpt, fake_sdss):
    fake_sdss.fail(150.0, 2.0, status=503, times=1)
    out = _clf(ckpt, cache_dir=False, retries=1).predict(_positions(2))
    assert out["predict_ok"].all()  # the 503 was retried
    assert [r.status for r in fake_sdss.requests() if r.ra == 150.0] == [503, 200]
    fake_sdss.fail(150.0, 2.0, status=503, times=1)
    with pytest.warns(UserWarning, match="1 of 2 rows"):
        out = _clf(ckpt, cache_dir=False, retries=0).predict(_positions(2))
    assert out["predict_ok"].tolist() == [False, True]
    assert "HTTP 503" in out["predict_error"][0] and "after 1 attempts" in out["predict_error"][0]
    fake_sdss.slow(150.0, 2.0, delay=1.0, times=1)
    with pytest.warns(UserWarning, match="1 of 1 rows"):
        out = _clf(ckpt, cache_dir=False, retries=0, timeout=0.2).predict(_positions(1))
    assert "timed out after 0.2 s" in out["predict_error"][0]
    # six answers of 0.5 s each: 3 s one after the other, about 1 s three at a time
    fake_sdss.slow(delay=0.5)
    start = time.monotonic()
    out = _clf(ckpt, cache_dir=False, workers=3).predict(_positions(6, ra0=170.0))
    assert time.monotonic() - start < 2.5
    assert out["predict_ok"].all() and out["objid"].tolist() == list(range(100, 106))


# -- the command line -------------------------------------------------------------------
@pytest.mark.slow  # a subprocess: one galmorph import
def test_help_lists_the_fetch_flags_with_defaults():
    proc = subprocess.run([sys.executable, "-m", "galmorph", "classify", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # argparse wraps the help lines
    for flag, default in [("--timeout SECONDS", "(default: 30)"), ("--retries N", "(default: 3)"),
                          ("--workers N", "(default: 1")]:
        assert f"[{flag}]" in text  # in the usage line
        help_text = text.split(f" {flag} ")[-1].split(" --")[0]  # in the options list
        assert default in help_text, (flag, help_text)


def test_cli_run_with_timeout_retries_workers(ckpt, fake_sdss, tmp_path, capsys):
    def classify(table, *flags):
        table.write(tmp_path / "positions.ecsv", overwrite=True)
        return main(["classify", str(tmp_path / "positions.ecsv"), "--model", str(ckpt),
                     "--device", "cpu", "--no-progress", "--cache-dir", str(tmp_path / "cache"),
                     "--out", str(tmp_path / "result.ecsv"), *flags])

    fake_sdss.fail(150.0, 2.0, status=503, times=1)
    assert classify(_positions(3), "--timeout", "5", "--retries", "1", "--workers", "2") == 0
    assert Table.read(tmp_path / "result.ecsv")["predict_ok"].tolist() == [True, True, True]
    assert [r.status for r in fake_sdss.requests() if r.ra == 150.0] == [503, 200]
    fake_sdss.fail(155.0, 2.0, status=503, times=1)
    with pytest.warns(UserWarning, match="1 of 2 rows"):
        assert classify(_positions(2, ra0=155.0), "--retries", "0", "--timeout", "5") == 0
    assert "failed: row 0: hips2fits cutout at RA=155.00000" in capsys.readouterr().out
    assert "after 1 attempts" in Table.read(tmp_path / "result.ecsv")["predict_error"][0]
    for bad, message in [(["--retries", "-1"], "must be a whole number >= 0"),
                         (["--timeout", "0"], "must be a positive number of seconds"),
                         (["--workers", "0"], "must be a positive integer")]:
        with pytest.raises(SystemExit) as exit_:
            classify(_positions(1), *bad)
        assert exit_.value.code == 2 and message in capsys.readouterr().err


# -- relative image paths (issue 25) ----------------------------------------------------

def _survey(root, names=("1", "2")):
    """``root/survey/cat.ecsv`` listing ``g50/<name>.jpg`` beside it (real JPEGs)."""
    from PIL import Image

    folder = root / "survey" / "g50"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)).save(
            folder / f"{name}.jpg")
    return folder.parent


@pytest.mark.slow  # a subprocess: one torch import
def test_cli_relative_paths_are_resolved_beside_the_catalogue(ckpt, tmp_path):
    survey = _survey(tmp_path)
    (tmp_path / "g50").mkdir()            # the working directory is the fallback
    (tmp_path / "g50" / "3.jpg").write_bytes((survey / "g50" / "1.jpg").read_bytes())
    Table({"objid": [1, 2, 3, 4],
           "path": ["g50/1.jpg", "g50/2.jpg", "g50/3.jpg", "g50/4.jpg"]}).write(
        survey / "cat.ecsv")
    proc = subprocess.run([sys.executable, "-m", "galmorph", "classify", "survey/cat.ecsv",
                           "--model", str(ckpt), "--device", "cpu", "--no-progress",
                           "--out", "result.ecsv"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "classified 3 of 4 rows" in proc.stdout
    result = Table.read(tmp_path / "result.ecsv")
    assert result["predict_ok"].tolist() == [True, True, True, False]
    error = result["predict_error"][3]
    assert str(survey / "g50" / "4.jpg") in error and str(tmp_path / "g50" / "4.jpg") in error


def test_cli_image_dir_names_the_folder(ckpt, tmp_path, monkeypatch, capsys):
    survey = _survey(tmp_path, names=("1",))
    elsewhere = tmp_path / "tables"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    for suffix in (".csv", ".fits"):
        cat = elsewhere / f"cat{suffix}"
        Table({"objid": [1], "path": ["g50/1.jpg"]}).write(cat)
        # Neither the catalogue's folder nor the working directory holds g50/: one row fails.
        with pytest.warns(UserWarning, match="1 of 1 rows"):
            assert main(["classify", str(cat), "--model", str(ckpt), "--device", "cpu",
                         "--no-progress"]) == 1
        out = capsys.readouterr().out
        assert str(elsewhere / "g50" / "1.jpg") in out and str(tmp_path / "g50" / "1.jpg") in out
        assert main(["classify", str(cat), "--image-dir", str(survey), "--model", str(ckpt),
                     "--device", "cpu", "--no-progress", "--out", "one.ecsv"]) == 0
        assert "wrote 1 row to one.ecsv" in capsys.readouterr().out
        assert Table.read("one.ecsv", format="ascii.ecsv")["predict_ok"].tolist() == [True]
        (tmp_path / "one.ecsv").unlink()
