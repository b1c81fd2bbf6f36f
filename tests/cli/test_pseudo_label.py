"""``galmorph pseudo-label`` as a user runs it (real subprocesses, real JPEGs)."""
import subprocess
import sys


def _galmorph(*args, env_dir):
    import os

    env = {**os.environ, "GALMORPH_CACHE_DIR": str(env_dir)}
    return subprocess.run([sys.executable, "-m", "galmorph", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_pseudo_label_writes_a_training_folder(tmp_path, ckpt, unlabelled_22k):
    out = tmp_path / "pl"
    proc = _galmorph("pseudo-label", str(ckpt), str(unlabelled_22k), "--out", str(out),
                     "--limit", "6", "--workers", "0", "--precision", "fp32",
                     env_dir=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert "wrote 6 pseudo-labels from" in proc.stderr and "TTA d8, fp32" in proc.stderr
    assert len((out / "training_solutions_rev1.csv").read_text().splitlines()) == 7
    assert (out / "teacher.json").is_file()


def test_a_bad_teacher_is_one_error_line(tmp_path, unlabelled_22k, capsys):
    # In-process (main() is what the console script runs; the subprocess above covers that).
    from galmorph.cli import main

    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x00" * 64)
    code = main(["pseudo-label", str(bad), str(unlabelled_22k), "--out", str(tmp_path / "pl"),
                 "--limit", "2"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("galmorph pseudo-label: error:") and "model.pt" in err
