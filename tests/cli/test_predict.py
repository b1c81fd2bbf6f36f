"""Tests of ``galmorph predict``'s own flags (galmorph.cli.predict); the prediction itself is
tested with galmorph.inference.files in tests/inference/test_files.py."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table
from PIL import Image

from blocking_input import blocking_file, hold_reader, sigint_default, worker_noise


@pytest.mark.slow  # a subprocess: one torch import
def test_image_dir_resolves_relative_inputs_and_one_prediction_is_singular(ckpt, tmp_path):
    images = tmp_path / "images"
    (images / "g50").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)).save(
        images / "g50" / "587.jpg")
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "galmorph", "predict", str(ckpt), "g50/587.jpg",
                           "--image-dir", str(images), "--out", "p.ecsv", "--no-progress",
                           "--device", "cpu"],
                          cwd=work, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 1 prediction to p.ecsv" in proc.stderr
    assert Table.read(work / "p.ecsv")["GalaxyID"].tolist() == [587]


@pytest.mark.slow  # a subprocess: one torch import
def test_ctrl_c_stops_with_130_and_no_worker_traceback(ckpt, tmp_path):
    """A terminal's Ctrl-C (SIGINT to the process group, decode workers included) while a
    worker decodes: one line, exit 130, no ``Process SpawnPoolWorker-1:`` traceback."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)).save(
            images / f"{k}.jpg")
    held = blocking_file(images / "3.jpg")   # the worker waits on it: the signal lands mid-run
    proc = subprocess.Popen([sys.executable, "-m", "galmorph", "predict", str(ckpt), str(images),
                             "--workers", "1", "--out", str(tmp_path / "p.ecsv"),
                             "--no-progress", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=sigint_default)
    with hold_reader(held, proc):
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=600)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "galmorph predict: interrupted" in err
    assert not worker_noise(err), err
    assert not (tmp_path / "p.ecsv").exists()
