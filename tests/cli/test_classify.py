"""The cutout options of MorphologyClassifier and ``galmorph classify`` (timeout, retries,
workers), and classifying a catalogue when there is no network.

The real astroquery client runs against tests/sdss_server.py on 127.0.0.1; "no network"
is a host under the reserved ``.invalid`` TLD, which never resolves.
"""
import re
import subprocess
import sys

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
        with pytest.warns(UserWarning, match="1 of 1 rows"):
            clf.predict(_positions(1, ra0=160.0))
        with watch_sockets() as seen, pytest.warns(UserWarning, match="130 of 130 rows"):
            out = clf.predict(_positions(130))
    # one look-up per run (a new run asks again); it was 4 per row, 3.5 s each on a real DNS.
    # Counted, not timed: a busy machine may be slow, never wrong.
    assert seen.lookups_of(UNRESOLVABLE) == [UNRESOLVABLE]
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
    # six answers of 0.5 s each, fetched three at a time: the server answers several at once
    # (counted there, not timed here, so a busy machine cannot fail it), and one at a time
    # without workers
    fake_sdss.slow(delay=0.5)
    fake_sdss.max_in_flight = 0
    out = _clf(ckpt, cache_dir=False, workers=3).predict(_positions(6, ra0=170.0))
    assert fake_sdss.max_in_flight >= 2
    assert out["predict_ok"].all() and out["objid"].tolist() == list(range(100, 106))
    fake_sdss.max_in_flight = 0
    _clf(ckpt, cache_dir=False, workers=1).predict(_positions(2, ra0=171.0))
    assert fake_sdss.max_in_flight == 1


# -- the command line -------------------------------------------------------------------
@pytest.mark.slow  # a subprocess: one galmorph import
def test_help_lists_the_fetch_flags_with_defaults():
    proc = subprocess.run([sys.executable, "-m", "galmorph", "classify", "--help"],
                          capture_output=True, text=True, timeout=600)
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
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
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


# -- intervals, merger_prob and the out-of-distribution flag (issue 26) -------------------

def _examples(root, n, bad=True):
    """``root/cat.ecsv``: ``n`` example galaxies (real SDSS JPEGs), then a missing file."""
    from galmorph.data.examples import example_galaxies

    files = [str(f) for f in example_galaxies()["file"][:n]] + (["nope.jpg"] if bad else [])
    Table({"objid": np.arange(len(files)) + 1, "file": files}).write(root / "cat.ecsv")
    return root / "cat.ecsv"


def test_the_names_that_moved_to_the_library_still_work_and_warn():
    import galmorph.cli.classify as cli
    from galmorph.astro.io import failed_rows
    from galmorph.astro.summary import position_summary

    with pytest.warns(DeprecationWarning, match="moved to galmorph.astro.summary"):
        assert cli.position_summary is position_summary
    with pytest.warns(DeprecationWarning, match=r"galmorph.astro.io \(as failed_rows\)"):
        assert cli.report_rows is failed_rows
    with pytest.raises(AttributeError, match="no attribute '_write'"):
        cli._write


@pytest.mark.slow  # a subprocess: one torch import
def test_cli_catalog_writes_the_trust_columns_and_says_the_rule(ckpt, tmp_path):
    cat = _examples(tmp_path, 3)
    proc = subprocess.run([sys.executable, "-m", "galmorph", "classify", str(cat), "--model",
                           str(ckpt), "--device", "cpu", "--no-progress", "--merger-rule",
                           "paper", "--out", str(tmp_path / "result.ecsv")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = Table.read(tmp_path / "result.ecsv")
    assert result.colnames[-8:] == ["p_merger", "merger_prob", "is_merger", "ood_score",
                                    "is_ood", "predict_ok", "predict_error", "input_note"]
    assert result.meta["merger_rule"] == "paper" and result.meta["intervals"] is None
    # The failed row's flag is masked in the file too, not False.
    assert np.ma.getmaskarray(result["is_merger"]).tolist() == [False, False, False, True]
    n = int(np.ma.filled(result["is_merger"], False).sum())
    assert f"is_merger flags {n} of 3 rows (merger rule 'paper': p_merger >= 0.54" in proc.stdout
    assert "paper rule: " in proc.stdout and "1 row without a probability skipped" in proc.stdout
    # The tiny checkpoint has no trust calibration: said, not hidden.
    assert "merger_prob: not available" in proc.stdout
    assert "out of distribution: not checked" in proc.stdout


def test_cli_trust_flags_are_checked(ckpt, tmp_path, capsys):
    cat = _examples(tmp_path, 1, bad=False)
    for flags, message in [(["--intervals", "1.5"], "expected a nominal coverage between 0 "
                                                    "and 1"),
                           (["--merger-rule", "best"], "invalid choice: 'best'")]:
        with pytest.raises(SystemExit) as exit_:
            main(["classify", str(cat), "--model", str(ckpt), *flags])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    # A model without an interval calibration says so in one line.
    assert main(["classify", str(cat), "--model", str(ckpt), "--device", "cpu",
                 "--no-progress", "--intervals", "0.9"]) == 1
    err = capsys.readouterr().err
    assert "has no interval calibration" in err and "galmorph calibrate" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "[--intervals LEVEL]" in text and "[--merger-rule {prob,paper}]" in text
    assert "(default: prob)" in text.split("--merger-rule {prob,paper} ")[-1]


@pytest.mark.slow  # a subprocess: one torch import
def test_cli_one_galaxy_with_intervals_on_the_shipped_model(calibrated_model, tmp_path):
    cat = _examples(tmp_path, 1, bad=False)
    proc = subprocess.run([sys.executable, "-m", "galmorph", "classify", str(cat), "--model",
                           str(calibrated_model), "--device", "cpu", "--no-progress",
                           "--intervals", "0.9"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "[90 % interval] after each" in out
    assert re.search(r"smooth [01]\.\d{3} \[[01]\.\d\d, [01]\.\d\d\]", out), out
    assert re.search(r"merger_prob = [01]\.\d{3} \(calibrated", out), out
    assert "(merger rule 'prob': merger_prob >= " in out
    assert re.search(r"in distribution \(ood_score|OUT OF DISTRIBUTION", out), out
