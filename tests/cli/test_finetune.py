"""``galmorph finetune`` in a real subprocess, on real galaxies."""
import json
import subprocess
import sys

import pytest
from finetune_labels import ring_table


def galmorph(*args, cwd):
    return subprocess.run([sys.executable, "-m", "galmorph", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def labels(kaggle_5k, tmp_path_factory):
    return ring_table(kaggle_5k, tmp_path_factory.mktemp("cli-rings"), n=12, n_rings=3)


def test_finetune_then_evaluate_with_the_image_dir_flag(labels, ckpt, tmp_path):
    # The table moved away from its images: --image-dir says where they are.
    moved = tmp_path / "labels.csv"
    moved.write_text(labels.read_text())
    run = galmorph("finetune", moved, "--label", "ring", "--out", tmp_path / "run", "--from",
                   ckpt, "--epochs", "5", "--image-dir", labels.parent, "--cache",
                   tmp_path / "cache", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "ring (binary)" in run.stdout and (tmp_path / "run" / "best.pt").is_file()
    ev = galmorph("evaluate", tmp_path / "run" / "best.pt", "--json", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    result = json.loads(ev.stdout)
    head = result["heads"][0]
    assert head["label"] == "ring" and "held-out" in result["galaxies"]
    assert {"roc_auc", "roc_auc_interval", "precision", "recall"} <= set(head)


def test_bad_inputs_are_one_clear_line(labels, ckpt, tmp_path):
    bad = tmp_path / "bad.csv"
    text = labels.read_text().splitlines()
    text[3] = "images/404.jpg," + text[3].split(",", 1)[1]
    bad.write_text("\n".join(text) + "\n")
    run = galmorph("finetune", bad, "--label", "ring", "--out", tmp_path / "r", "--from", ckpt,
                   cwd=labels.parent)
    assert run.returncode == 1
    assert "row 3: images/404.jpg" in run.stderr and "Traceback" not in run.stderr


def test_flag_errors_name_the_flag_or_column(labels, tmp_path, capsys):
    from galmorph.cli import main

    assert main(["finetune", str(labels), "--label", "nope", "--out", str(tmp_path / "r")]) == 1
    assert "no label column 'nope'" in capsys.readouterr().err
    assert main(["finetune", str(labels), "--out", str(tmp_path / "r")]) == 1
    assert "--label COLUMN" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    helped = capsys.readouterr().out
    assert "--unfreeze" in helped and "--image-dir" in helped and "--time-limit" in helped
