"""Every benchmark script starts and explains itself (their figures live in BENCHMARKS.md)."""
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def test_there_are_benchmarks():
    names = {p.stem for p in BENCHMARKS}
    assert {"prepare_throughput", "train_throughput", "predict_throughput", "real_gz2",
            "synth_throughput"} <= names


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_help(script):
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:")


def test_inference_backends_agree_with_the_eager_model():
    # A tiny run: every backend must run and stay within bf16 rounding of eager autocast.
    script = next(p for p in BENCHMARKS if p.stem == "inference_backends")
    proc = subprocess.run([sys.executable, str(script), "--size", "32", "--batch-size", "4",
                           "--reps", "1", "--threads", "1", "--no-compile"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines()[2:] if line.strip()]
    assert len(rows) == 4
    for row in rows:
        rate, ratio, diff = (float(v) for v in row.split()[-4:-1])
        assert rate > 0 and ratio > 0 and diff < 0.05, row


def test_gpu_check_script_parses_and_runs_the_cuda_tests():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text()
    assert "pytest -q -m cuda" in text and "--device cuda" in text
