"""``galmorph calibrate`` (galmorph.cli.calibrate), and predicting with what it writes."""
import json
import os
import subprocess
import sys

import pytest
from astropy.table import Table


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from galmorph.synth import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("synth") / "data", n=80, seed=0, workers=1,
                          progress=False)


def _galmorph(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "galmorph", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env=None if env is None else {**os.environ, **env})


@pytest.mark.slow  # subprocesses: a torch import each
def test_calibrate_then_predict_with_intervals(ckpt, synth, tmp_path):
    out = tmp_path / "calibrated.pt"
    proc = _galmorph("calibrate", ckpt, synth, "--out", out, "--json", "--no-progress",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    measured = json.loads(proc.stdout)
    assert measured["n_held_out"] == 80           # the tiny model never trained on them
    cov = measured["intervals"]["0.9"]["all"]["coverage"]
    assert 0.75 < cov <= 1.0
    from galmorph.models.checkpoint import load_checkpoint

    trust = load_checkpoint(out).meta["trust"]
    assert trust["intervals"] is not None and trust["ood"] is not None

    images = sorted((synth / "images_training_rev1").glob("*.jpg"))[:3]
    proc = _galmorph("predict", out, *images, "--intervals", "0.9", "--out", "p.ecsv",
                     "--no-progress", "--device", "cpu", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = Table.read(tmp_path / "p.ecsv")
    assert {"Class1.1_lo", "Class1.1_hi", "Class11.6_hi", "ood_score", "is_ood",
            "merger_prob", "is_merger", "p_merger"} <= set(table.colnames)
    assert (table["Class1.1_lo"] <= table["Class1.1"] + 1e-6).all()
    assert (table["Class1.1"] <= table["Class1.1_hi"] + 1e-6).all()
    assert table.meta["intervals"] == 0.9


@pytest.mark.slow
def test_intervals_need_a_calibrated_model(ckpt, synth, tmp_path):
    image = sorted((synth / "images_training_rev1").glob("*.jpg"))[0]
    proc = _galmorph("predict", ckpt, image, "--intervals", "0.9", "--out", "p.ecsv",
                     "--no-progress", "--device", "cpu", cwd=tmp_path)
    assert proc.returncode != 0
    assert "no interval calibration" in proc.stderr and "galmorph calibrate" in proc.stderr
    proc = _galmorph("predict", ckpt, image, "--out", "p.ecsv", "--no-progress",
                     "--device", "cpu", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = Table.read(tmp_path / "p.ecsv")
    assert table.meta["merger_rule"] == "paper"       # no merger calibration in it
    assert table["merger_prob"].mask.all()


@pytest.mark.slow
def test_a_bad_intervals_flag_is_named(ckpt, synth, tmp_path):
    proc = _galmorph("predict", ckpt, synth / "images_training_rev1", "--intervals", "1.5",
                     "--out", "p.ecsv", cwd=tmp_path)
    assert proc.returncode == 2 and "--intervals" in proc.stderr
    assert "between 0 and 1" in proc.stderr


@pytest.mark.slow
def test_model_defaults_like_evaluate_and_data_is_required(ckpt, synth, tmp_path):
    """Without a checkpoint first, calibrate takes the default model ($GALMORPH_MODEL here,
    else the shipped one), as evaluate does; a checkpoint without data is refused."""
    out = tmp_path / "calibrated.pt"
    proc = _galmorph("calibrate", synth, "--out", out, "--json", "--no-progress",
                     cwd=tmp_path, env={"GALMORPH_MODEL": str(ckpt)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_held_out"] == 80
    proc = _galmorph("calibrate", ckpt, "--out", tmp_path / "x.pt", cwd=tmp_path)
    assert proc.returncode != 0 and "DATA" in proc.stderr, proc.stderr
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.slow
def test_a_bad_merger_recall_is_named_before_anything_is_written(ckpt, synth, tmp_path):
    proc = _galmorph("calibrate", ckpt, synth, "--merger-recall", "1.5", "--out",
                     tmp_path / "x.pt", cwd=tmp_path)
    assert proc.returncode == 2 and "--merger-recall" in proc.stderr, proc.stderr
    assert "at most 1" in proc.stderr and not (tmp_path / "x.pt").exists()
