"""Tests of ``galmorph evaluate``'s own flags (galmorph.cli.evaluate); the scores themselves
are tested with galmorph.inference.evaluation in tests/inference/test_evaluation.py."""
import json

import numpy as np
import pytest
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


@pytest.fixture(scope="module")
def calibrated(ckpt, tmp_path_factory):
    """The tiny CNN calibrated by 'galmorph calibrate' on 60 synthetic galaxies, 30 others
    to evaluate on, and the cache they share."""
    from galmorph.synth import make_synthetic

    root = tmp_path_factory.mktemp("evaluate-trust")
    with pytest.MonkeyPatch.context() as mp:   # never touch the real user cache
        mp.setenv("GALMORPH_CACHE_DIR", str(root / "cache"))
        fit_on = make_synthetic(root / "fit", n=60, seed=4, workers=1, progress=False)
        new = make_synthetic(root / "new", n=30, seed=5, workers=1, progress=False)
        assert main(["calibrate", str(ckpt), str(fit_on), "--out", str(root / "cal.pt"),
                     "--json", "--no-progress"]) == 0
        yield {"cal": root / "cal.pt", "plain": ckpt, "new": new}


def _evaluate(model, data, *extra):
    return main(["evaluate", str(model), str(data), "--split", "all", "--no-progress",
                 "--device", "cpu", "--precision", "fp32", *extra])


def test_calibrated_checkpoint_shows_its_coverage(calibrated, capsys):
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.trust import TrustMeasure, format_trust

    capsys.readouterr()
    assert _evaluate(calibrated["cal"], calibrated["new"], "--json") == 0
    result = json.loads(capsys.readouterr().out)
    trust = result["trust"]
    assert trust["n_galaxies"] == 30 and list(trust["intervals"]) == ["0.5", "0.68", "0.9",
                                                                      "0.95"]
    assert trust["calibration_fitted_on"]["n"] == 60
    assert trust["mergers"] is None              # too few synthetic mergers to fit one
    coverage = [trust["intervals"][k]["coverage"] for k in trust["intervals"]]
    assert coverage == sorted(coverage) and 0 < coverage[0] < coverage[-1] <= 1
    assert _evaluate(calibrated["cal"], calibrated["new"]) == 0
    text = capsys.readouterr().out
    assert text.index("per answer") < text.index("how far to trust an answer: 30 galaxies")
    assert format_trust(trust) in text               # the JSON's numbers, as the table
    row = [ln for ln in text.splitlines() if ln.strip().startswith("90%")][0]
    assert row.split()[1:3] == [f"{trust['intervals']['0.9']['coverage']:.3f}",
                                f"{trust['intervals']['0.9']['width']:.3f}"]
    assert "per question at 90%" in text and "  Q11 " in text
    # The same numbers as TrustMeasure through the Python API.
    ckpt = load_checkpoint(calibrated["cal"])
    from galmorph.inference.evaluation import evaluate

    again = evaluate(ckpt, calibrated["new"], split="all", device="cpu", precision="fp32",
                     extra=TrustMeasure(ckpt.meta["trust"]))
    assert again["trust"] == trust


def test_uncalibrated_checkpoint_shows_no_coverage(calibrated, capsys):
    capsys.readouterr()
    assert _evaluate(calibrated["plain"], calibrated["new"], "--json") == 0
    assert "trust" not in json.loads(capsys.readouterr().out)
    assert _evaluate(calibrated["plain"], calibrated["new"]) == 0
    text = capsys.readouterr().out
    assert "per answer" in text and "how far to trust" not in text and "coverage" not in text
