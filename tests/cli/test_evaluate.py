"""Tests of ``galmorph evaluate``'s own flags (galmorph.cli.evaluate); the scores themselves
are tested with galmorph.inference.evaluation in tests/inference/test_evaluation.py."""
import json

import numpy as np
import torch
from PIL import Image

from galmorph.cli import main
from galmorph.labels import conditional_to_weighted
from galmorph.models import build_model, save_checkpoint
from galmorph.schema import ID_COLUMN, KAGGLE_COLUMNS, N_ANSWERS, QUESTION_SLICES


def _kaggle(root, n=6):
    """A tiny Kaggle-layout folder: real JPEGs and a label CSV that follows the tree."""
    rng = np.random.default_rng(0)
    (root / "images_training_rev1").mkdir(parents=True)
    cond = rng.uniform(0.05, 1, size=(n, N_ANSWERS))
    for s in QUESTION_SLICES.values():
        cond[:, s] /= cond[:, s].sum(axis=1, keepdims=True)
    labels = np.round(conditional_to_weighted(cond), 6)
    ids = np.arange(100000, 100000 + n)
    for gid in ids:
        Image.fromarray(rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)).save(
            root / "images_training_rev1" / f"{gid}.jpg")
    lines = [",".join((ID_COLUMN,) + KAGGLE_COLUMNS)]
    lines += [f"{g}," + ",".join(f"{v:.6f}" for v in lab) for g, lab in zip(ids, labels)]
    (root / "training_solutions_rev1.csv").write_text("\n".join(lines) + "\n")


def test_image_dir_resolves_relative_data_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path / "cache"))
    _kaggle(tmp_path / "surveys" / "kaggle")
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model, preprocessing={"crop": 224, "size": 32})
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    args = ["evaluate", str(ckpt), "kaggle", "--split", "all", "--json", "--no-progress",
            "--device", "cpu", "--precision", "fp32"]
    assert main(args) == 1                          # no ./kaggle here
    assert "kaggle" in capsys.readouterr().err
    assert main(args + ["--image-dir", str(tmp_path / "surveys")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_galaxies"] == 6
    assert str(tmp_path / "surveys" / "kaggle") in json.dumps(result["data"])
    # Without DATA the checkpoint's run names its data: --image-dir has nothing to resolve.
    assert main(["evaluate", str(ckpt), "--image-dir", str(tmp_path)]) == 1
    assert "--image-dir DIR resolves the DATA folders given" in capsys.readouterr().err
