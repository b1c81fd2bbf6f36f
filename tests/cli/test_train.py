"""Tests of ``galmorph train``'s own flags (galmorph.cli.train): its help and the errors it
names before any training; training through the command line (time limits, kill -9, SIGTERM
and --resume) is tested with the loop in tests/training/test_loop.py."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Only catches a hang: one short 'galmorph train' took over 120 s on a busy 2-core machine.
HANG = 600


def _cli(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "galmorph", "train", *map(str, args)],
                          capture_output=True, text=True, timeout=HANG, env=env, cwd=REPO)


def test_help_lists_every_flag_with_default():
    proc = _cli("--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for flag in ("--model", "--out", "--epochs", "--batches-per-epoch", "--batch-size", "--lr",
                 "--val-fraction", "--seed", "--time-limit", "--precision", "--device",
                 "--no-augment", "--resume", "--set-default", "--cache"):
        assert flag in text, flag
    assert text.count("default") >= 15
    assert "--epochs EPOCHS total epochs (default: 10; with --time-limit, as many as fit" in text
    assert "without --epochs, train until then" in text
    # Defaults that are the model's say so (galmorph.models.preprocessing_of, model_entry).
    assert "--crop CROP central crop side in input pixels (default: the model's, 224)" in text
    assert "(default: the model's, cnn 256, resnet18* 64)" in text


def test_needs_data_and_out_and_names_bad_flags(tmp_path):
    data = tmp_path / "data"          # never read: every error comes before the data
    proc = _cli(data, "--model", "cnn")
    assert proc.returncode != 0
    assert "galmorph train: error: --out RUN_DIR required (or --resume RUN_DIR" in proc.stderr
    proc = _cli(data, "--out", "x", "--model-option", "dropout")
    assert proc.returncode != 0 and "--model-option wants KEY=VALUE, got 'dropout'" in proc.stderr
    proc = _cli(data, "--out", "x", "--batch-size", "0")
    assert proc.returncode == 1 and "batch_size must be a positive integer, got 0" in proc.stderr
    proc = _cli(data, "--out", "x", "--model-option", "batch_size=32")
    assert proc.returncode == 1 and "batch sizes are the run's (--batch-size" in proc.stderr
    proc = _cli("--resume", tmp_path / "no-run")
    assert proc.returncode == 1
    assert "no-run is not a galmorph run directory (no config.json); nothing to resume" \
        in proc.stderr
    assert "Traceback" not in proc.stderr
