"""Tests of galmorph.inference.evaluation and the ``galmorph evaluate`` command."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from galmorph.data.cache import prepare
from galmorph.data.catalogs import CatalogWarning
from galmorph.errors import CheckpointError, DataError
from galmorph.labels import conditional_to_weighted, weighted_to_conditional
from galmorph.models import build_model
from galmorph.models.checkpoint import save_checkpoint
from galmorph.schema import (GZ2_COLUMNS, ID_COLUMN, KAGGLE_COLUMNS, N_ANSWERS,
                             QUESTION_SLICES)
from galmorph.training.batches import save_split
from galmorph.inference import Evaluation
from galmorph.inference.evaluation import evaluate, format_report
from galmorph.inference.engine import predict_arrays

PREP = {"crop": 224, "size": 32}


# ---------------------------------------------------------------------------
# A tiny Kaggle-layout folder and a model trained for one step
# ---------------------------------------------------------------------------

def _labels(n, rng):
    cond = rng.uniform(0.05, 1, size=(n, N_ANSWERS))
    for s in QUESTION_SLICES.values():
        cond[:, s] /= cond[:, s].sum(axis=1, keepdims=True)
    return np.round(conditional_to_weighted(cond), 6)


def make_kaggle(root, n=12, seed=0, first_id=115080, with_labels=True):
    rng = np.random.default_rng(seed)
    (root / "images_training_rev1").mkdir(parents=True)
    ids = np.arange(first_id, first_id + n)
    labels = _labels(n, rng)
    for gid, lab in zip(ids, labels):
        # 424 x 424 like the Kaggle JPEGs; a central blob whose colour follows Class1.1.
        pix = np.zeros((424, 424, 3), dtype=np.uint8)
        pix[:: 7, :: 5] = rng.integers(0, 40, size=(61, 85, 3), dtype=np.uint8)
        pix[180:244, 180:244] = (np.array([255, 180, 120]) * lab[0]).astype(np.uint8)
        Image.fromarray(pix).save(root / "images_training_rev1" / f"{gid}.jpg", quality=95)
    if with_labels:
        lines = [",".join((ID_COLUMN,) + KAGGLE_COLUMNS)]
        lines += [f"{gid}," + ",".join(f"{v:.6f}" for v in lab) for gid, lab in zip(ids, labels)]
        (root / "training_solutions_rev1.csv").write_text("\n".join(lines) + "\n")
    return ids, labels


def make_checkpoint(path, seed=0):
    torch.manual_seed(seed)
    model = build_model("cnn", input_size=PREP["size"], channels=(4, 8, 8), hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(4, 3, PREP["size"], PREP["size"])
    loss = ((model(x) - 0.3) ** 2).mean()      # one training step
    loss.backward()
    opt.step()
    return save_checkpoint(path, model.eval(), preprocessing=PREP)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data = root / "kaggle"
    ids, labels = make_kaggle(data)
    return {"data": data, "ids": ids, "labels": labels, "cache": root / "cache",
            "ckpt": make_checkpoint(root / "model.pt")}


@pytest.fixture()
def env(base, tmp_path, monkeypatch):
    """The shared data and cache, and a fresh run folder holding the checkpoint."""
    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(base["cache"]))
    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "best.pt"
    ckpt.write_bytes(base["ckpt"].read_bytes())
    return {**base, "run": run, "ckpt": ckpt, "tmp": tmp_path}


def _by_hand(env, rows):
    from galmorph.models.checkpoint import load_checkpoint

    prepared = prepare(env["data"], crop=PREP["crop"], size=PREP["size"], progress=False)
    model = load_checkpoint(env["ckpt"]).model
    pred = predict_arrays(model, np.asarray(prepared.images)[rows], device="cpu",
                          precision="fp32")
    return prepared, np.sqrt(((pred - prepared.labels[rows]) ** 2).mean())


def test_evaluate_uses_the_runs_validation_split(env):
    save_split(env["run"] / "split.json", env["ids"], [1, 4, 7], seed=0, val_fraction=0.25)
    result = evaluate(env["ckpt"], env["data"], precision="fp32", device="cpu", id_max=115085)
    for key in ("rmse", "n_galaxies", "per_question", "per_answer", "baselines", "model",
                "data", "split", "split_note", "tta", "subsets"):
        assert key in result
    assert result["n_galaxies"] == 3 and result["split"] == "validation"
    assert "split.json" in result["split_note"]
    prepared, rmse = _by_hand(env, [1, 4, 7])
    assert result["rmse"] == pytest.approx(rmse, rel=1e-5)
    # The mean baseline uses the 9 training galaxies' mean, not the validation mean.
    train = [i for i in range(12) if i not in (1, 4, 7)]
    mean = prepared.labels[train].astype(np.float64).mean(axis=0)
    expected = np.sqrt(((prepared.labels[[1, 4, 7]] - mean) ** 2).mean())
    assert result["baselines"]["mean"] == pytest.approx(expected, rel=1e-6)
    # id_max: IDs 115081 and 115084 are <= 115085, 115087 is not.
    part = result["subsets"]["id<=115085"]
    assert part["n_galaxies"] == 2
    _, sub_rmse = _by_hand(env, [1, 4])
    assert part["rmse"] == pytest.approx(sub_rmse, rel=1e-5)
    for scored in (result, part):
        low, high = scored["rmse_ci95"]
        assert low <= scored["rmse"] <= high
    assert result["model"]["name"] == "cnn"
    assert result["model"]["preprocessing"] == PREP
    # What it scored travels with the scores: the rows, their predictions and labels.
    assert isinstance(result, Evaluation)
    np.testing.assert_array_equal(result.rows, [1, 4, 7])
    np.testing.assert_array_equal(result.ids, env["ids"][[1, 4, 7]])
    np.testing.assert_allclose(result.labels, prepared.labels[[1, 4, 7]])
    assert result.known.all() and result.images.shape == (3, 3, PREP["size"], PREP["size"])
    assert result["rmse"] == pytest.approx(
        np.sqrt(((result.predictions - result.labels) ** 2).mean()), rel=1e-6)
    np.testing.assert_array_equal(result.baseline_rows, train)
    np.testing.assert_array_equal(result.subset_masks["id<=115085"], [True, True, False])
    assert list(result.subset_masks) == list(result["subsets"])
    plain = result.to_dict()                         # what --json prints
    assert type(plain) is dict and plain == dict(result)
    assert json.loads(json.dumps(plain))["n_galaxies"] == 3


def test_evaluate_all_and_fallback_note(env):
    result = evaluate(env["ckpt"], env["data"], precision="fp32", device="cpu")
    assert result["n_galaxies"] == 12
    assert "no saved validation split" in result["split_note"]
    assert "baselines fitted on the same galaxies" in result["split_note"]
    _, rmse = _by_hand(env, list(range(12)))
    assert result["rmse"] == pytest.approx(rmse, rel=1e-5)
    # Split IDs that are not in the data fall back to all, saying so.
    save_split(env["run"] / "split.json", [1, 2, 3], [0, 1, 2], seed=0, val_fraction=0.5)
    result = evaluate(env["ckpt"], env["data"], device="cpu")
    assert result["n_galaxies"] == 12 and "none of the 3 validation IDs" in result["split_note"]
    result = evaluate(env["ckpt"], env["data"], split="all", device="cpu")
    assert result["split_note"].startswith("all galaxies")


def test_evaluate_tta_changes_nothing_for_the_metric_plumbing(env):
    plain = evaluate(env["ckpt"], env["data"], split="all", device="cpu", precision="fp32")
    d8 = evaluate(env["ckpt"], env["data"], split="all", device="cpu", precision="fp32",
                  tta="d8")
    assert d8["tta"] == "d8" and plain["tta"] is None
    assert d8["baselines"] == plain["baselines"]
    assert d8["rmse"] != plain["rmse"]


class _Recorder:
    """An ``extra`` for evaluate that keeps what it is given and returns a count."""

    def __init__(self):
        self.calls = []

    def measure(self, details, labels):
        self.calls.append((details, labels))
        return {"n": len(labels), "mean_label": float(np.nanmean(labels))}


class _NoDetails(torch.nn.Module):
    """A network without forward_details (as a foreign module may be)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def test_evaluate_extra_gets_the_one_pass_of_the_split(env):
    import dataclasses

    from galmorph.models.checkpoint import load_checkpoint

    save_split(env["run"] / "split.json", env["ids"], [2, 5, 9], seed=0, val_fraction=0.25)
    plain = evaluate(env["ckpt"], env["data"], device="cpu", precision="fp32")
    assert "trust" not in plain
    extra = _Recorder()
    result = evaluate(env["ckpt"], env["data"], device="cpu", precision="fp32", extra=extra)
    assert len(extra.calls) == 1                      # one call, for the whole split
    details, labels = extra.calls[0]
    prepared, _ = _by_hand(env, [2, 5, 9])
    np.testing.assert_allclose(labels, prepared.labels[[2, 5, 9]])
    pred = predict_arrays(load_checkpoint(env["ckpt"]).model,
                          np.asarray(prepared.images)[[2, 5, 9]], device="cpu",
                          precision="fp32")
    np.testing.assert_allclose(details.mean, pred, atol=1e-6)
    assert details.spread.shape == (3, 1, N_ANSWERS) and details.features.shape[0] == 3
    assert result["trust"] == {"n": 3, "mean_label": pytest.approx(labels.mean())}
    assert result["rmse"] == pytest.approx(plain["rmse"], rel=1e-6)   # scores unchanged
    np.testing.assert_allclose(result.predictions, pred, atol=1e-6)   # the mean, as scored
    json.dumps(result.to_dict())
    # A network without forward_details: the spread is the mean alone, no features.
    ckpt = load_checkpoint(env["ckpt"])
    foreign = dataclasses.replace(ckpt, model=_NoDetails(ckpt.model))
    extra = _Recorder()
    again = evaluate(foreign, env["data"], device="cpu", precision="fp32", extra=extra)
    details, _ = extra.calls[0]
    assert again["n_galaxies"] == 3 and details.spread.shape == (3, 1, N_ANSWERS)
    np.testing.assert_allclose(details.spread[:, 0], details.mean)
    assert details.features.shape == (3, 0)


def test_evaluate_a_real_run_on_synthetic_galaxies(tmp_path, monkeypatch):
    from galmorph.synth import make_synthetic
    from galmorph.training import TrainConfig, train

    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path / "cache"))
    data = make_synthetic(tmp_path / "synth", n=16, seed=3, workers=1, progress=False)
    run = train(TrainConfig(data=data, out=tmp_path / "run", model="cnn", epochs=1,
                            batches_per_epoch=1, batch_size=8, size=32, val_fraction=0.25,
                            model_options={"channels": [4, 8, 8], "hidden": 16, "input_size": 32},
                            progress=False, workers=1, cache=tmp_path / "run-cache"))
    val_ids = json.loads((run / "split.json").read_text())["val_ids"]
    result = evaluate(run / "best.pt", split="validation", device="cpu")  # data from the run
    assert result["n_galaxies"] == len(val_ids) == 4
    assert str(run / "split.json") in result["split_note"]
    assert result["data"]["path"] == str(data.resolve())
    assert result["data"]["cache"] == str(tmp_path / "run-cache")   # the run's cache, reused
    assert 0 < result["rmse"] < 1
    assert result["baselines"]["mean"] < result["baselines"]["zeros"]
    # The images moved away: the run's cache of them still evaluates.
    data.rename(tmp_path / "moved")
    again = evaluate(run / "best.pt", split="validation", device="cpu")
    assert again["data"]["cache"] == result["data"]["cache"]
    assert again["rmse"] == pytest.approx(result["rmse"], rel=1e-6)


def test_evaluate_bad_inputs(env):
    with pytest.raises(DataError, match="does not exist"):
        evaluate(env["ckpt"], env["tmp"] / "nowhere", device="cpu")
    with pytest.raises(ValueError, match="split must be"):
        evaluate(env["ckpt"], env["data"], split="test", device="cpu")
    prepared = prepare(env["data"], crop=224, size=32, progress=False)
    prepared.ids = np.array([f"g{i}" for i in range(12)])
    with pytest.raises(DataError, match=r"--id-max 5 \(id_max= in Python\) needs integer galaxy IDs.*'g0'"):
        evaluate(env["ckpt"], prepared, id_max=5, device="cpu")
    bad = env["tmp"] / "truncated.pt"
    bad.write_bytes(env["ckpt"].read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        evaluate(bad, env["data"], device="cpu")
    other = prepare(env["data"], crop=200, size=32, progress=False)
    with pytest.raises(DataError, match="crop=200.*crop=224"):
        evaluate(env["ckpt"], other.path, device="cpu")


def make_gz2_release(root, n=5, seed=0, break_row=None):
    """A GZ2-release folder (``images/<asset_id>.jpg`` + ``gz2_hart16.csv``, conditional
    weighted fractions); ``break_row`` answers edge-on (Class2.1 = 0.2) but nothing to Q9,
    which follows it: a tree break beyond the release's rounding (GZ2_TREE_ATOL)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    cond = weighted_to_conditional(_labels(n, rng))                   # (n, 37), as released
    if break_row is not None:
        cond[break_row, QUESTION_SLICES[1]] = (0.5, 0.5, 0.0)
        cond[break_row, QUESTION_SLICES[2]] = (0.4, 0.6)                # Class2.1 = 0.5 * 0.4
        cond[break_row, QUESTION_SLICES[9]] = 0.0
    dr7 = 587722981741363294 + np.arange(n) * 1000003
    lines = [",".join(["dr7objid", "asset_id"]
                      + [f"{stem}_weighted_fraction" for stem in GZ2_COLUMNS])]
    for i, (gid, row) in enumerate(zip(dr7, cond)):
        pix = rng.integers(0, 255, size=(424, 424, 3), dtype=np.uint8)
        Image.fromarray(pix).save(root / "images" / f"{5000 + i}.jpg", quality=95)
        lines.append(f"{gid},{5000 + i}," + ",".join(f"{v:.6f}" for v in row))
    (root / "gz2_hart16.csv").write_text("\n".join(lines) + "\n")
    return dr7


def test_evaluate_skips_a_gz2_release_tree_break_by_default(env, tmp_path):
    # on_error="auto" (the default, as in prepare): a GZ2 release's row that breaks the tree
    # beyond its rounding is left out with one warning; on_error="raise" stops at it.
    data = tmp_path / "gz2"
    dr7 = make_gz2_release(data, break_row=2)
    with pytest.warns(CatalogWarning, match=rf"kept 4, skipped 1 \(tree break: 1; first: "
                                            rf"gz2_hart16\.csv line 4 \(dr7objid {dr7[2]}\)\)"):
        result = evaluate(env["ckpt"], data, split="all", device="cpu", precision="fp32")
    assert result["n_galaxies"] == 4
    with pytest.raises(DataError, match=rf"1 of 5 rows of gz2_hart16\.csv breaking the GZ2 "
                                        rf"tree(.|\n)*dr7objid {dr7[2]}\): Q9"):
        evaluate(env["ckpt"], data, split="all", device="cpu", on_error="raise")


def test_cli_on_error_defaults_to_auto(env, tmp_path, capsys):
    from galmorph.cli import main

    data = tmp_path / "gz2"
    make_gz2_release(data, break_row=0)
    args = ["evaluate", str(env["ckpt"]), str(data), "--split", "all", "--json",
            "--no-progress", "--device", "cpu", "--precision", "fp32"]
    with pytest.warns(CatalogWarning, match="kept 4, skipped 1"):
        assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["n_galaxies"] == 4
    assert main(args + ["--on-error", "raise"]) == 1
    assert "breaking the GZ2 tree" in capsys.readouterr().err


def test_evaluate_needs_labels(env):
    # A plain folder of images has no labels.
    test_dir = env["tmp"] / "unlabelled"
    make_kaggle(test_dir, n=3, with_labels=False)
    with pytest.raises(DataError, match="has no labels.*galmorph predict"):
        evaluate(env["ckpt"], test_dir / "images_training_rev1", device="cpu")


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------

def _cli(*args, env_vars):
    import os

    return subprocess.run([sys.executable, "-m", "galmorph", "evaluate", *map(str, args)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env_vars})


def test_cli_json(env):
    env_vars = {"GALMORPH_CACHE_DIR": str(env["cache"])}
    save_split(env["run"] / "split.json", env["ids"], [0, 1, 2, 3], seed=0, val_fraction=0.3)
    proc = _cli(env["ckpt"], env["data"], "--json", "--tta", "d8", "--device", "cpu",
                env_vars=env_vars)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)   # one JSON object, nothing else on stdout
    assert result["n_galaxies"] == 4 and result["tta"] == "d8"
    assert set(result["baselines"]) == {"mean", "central_pixel", "zeros"}
    assert result["model"]["checkpoint"] == str(env["ckpt"])
    assert len(result["per_answer"]) == 37


def test_cli_rejects_a_bad_tta_before_any_work(env):
    proc = _cli(env["ckpt"], env["data"], "--tta", "d5", env_vars={})
    assert proc.returncode == 2 and "invalid --tta 'd5'" in proc.stderr


def test_cli_table_in_process(env, capsys):
    from galmorph.cli import main

    code = main(["evaluate", str(env["ckpt"]), str(env["data"]), "--id-max", "115083",
                 "--precision", "fp32"])
    assert code == 0
    text = capsys.readouterr().out
    result = evaluate(env["ckpt"], env["data"], id_max=115083, precision="fp32")
    assert text.strip() == format_report(result).strip()
    assert f"{result['rmse']:8.4f}" in text
    for name in ("mean", "central_pixel", "zeros"):
        assert f"baseline: {name}" in text
    assert "id<=115083 (4)" in text and "12 galaxies" in text
    assert "Q11" in text and "merger" in text
    assert result["labels_note"] is None and "labels     " not in text   # Kaggle labels


@pytest.mark.realdata
def test_cli_says_what_gz2_release_labels_are(gz2_1k, tmp_path):
    # Without --on-error: 16 of the 1,003 rows break the tree by up to 0.022, less than the
    # release's rounding tolerance (GZ2_TREE_ATOL), and no longer stop the run (issue 25).
    proc = _cli(gz2_1k, "--split", "all", "--no-progress",
                env_vars={"GALMORPH_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert "labels     GZ2 release vote fractions, not the Kaggle challenge's labels" in proc.stdout
    assert "1003 galaxies" in proc.stdout and "CatalogWarning" not in proc.stderr


def test_the_real_population_leads_on_the_shared_data(tmp_path, kaggle_5k):
    """On (a part of) gz-kaggle-5k, the unselected galaxies are scored first, as "real
    population", with their per-question RMSE; then the confident part and the untouched
    split (issue 27)."""
    from galmorph.data.populations import UNSELECTED_ID_MAX, untouched_mask

    root = tmp_path / "gz-kaggle-5k"             # the shared set's name: its populations apply
    (root / "images_training_rev1").mkdir(parents=True)
    lines = (kaggle_5k / "training_solutions_rev1.csv").read_text().splitlines()
    rows = lines[1:9] + lines[-8:]                # 8 unselected IDs, then 8 confident ones
    for line in rows:
        name = line.split(",")[0] + ".jpg"
        source = kaggle_5k / "images_training_rev1" / name
        (root / "images_training_rev1" / name).symlink_to(source)
    (root / "training_solutions_rev1.csv").write_text("\n".join([lines[0]] + rows) + "\n")
    ids = np.array([int(r.split(",")[0]) for r in rows])
    result = evaluate(make_checkpoint(tmp_path / "m.pt"), root, split="all", precision="fp32",
                      device="cpu")
    assert list(result["subsets"])[:3] == ["real population", "confident", "untouched split"]
    real = result["subsets"]["real population"]
    assert real["n_galaxies"] == int((ids <= UNSELECTED_ID_MAX).sum()) == 8
    assert result["subsets"]["untouched split"]["n_galaxies"] == int(
        untouched_mask("gz-kaggle-5k", ids).sum())
    assert set(real["per_question"]) == set(result["per_question"])
    text = format_report(result).splitlines()
    first = text[next(i for i, line in enumerate(text) if line.strip() == "RMSE") + 1]
    assert first.startswith("model, real population") and f"{real['rmse']:.4f}" in first
