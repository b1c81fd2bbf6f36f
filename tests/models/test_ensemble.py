import subprocess
import sys

import numpy as np
import pytest
import torch

from galmorph import schema
from galmorph.errors import CheckpointError
from galmorph.inference.engine import predict_arrays
from galmorph.models import ALL_MODEL_NAMES, MODEL_NAMES, build_model
from galmorph.models.checkpoint import load_checkpoint, save_checkpoint
from galmorph.models.ensemble import (Ensemble, EnsembleConfig, ensemble_checkpoints,
                                      ensemble_of)

PREP = {"crop": 224, "size": 80}


pytestmark = pytest.mark.usefixtures("one_thread")


def _members():
    """Two small networks of different kinds, each with its own random weights."""
    torch.manual_seed(0)
    cnn = build_model("cnn", channels=(8, 16, 32), hidden=32).eval()
    torch.manual_seed(1)
    resnet = build_model("resnet18-cpu", width=8, head_hidden=16).eval()
    return [cnn, resnet]


def _images(n=4):
    return torch.rand(n, 3, 80, 80, generator=torch.Generator().manual_seed(2))


def test_the_ensemble_predicts_the_mean_of_its_members():
    members = _members()
    ensemble = ensemble_of(members)
    x = _images()
    with torch.no_grad():
        outs = [m(x) for m in members]
        got = ensemble(x)
    assert got.shape == (4, schema.N_ANSWERS) and got.dtype == torch.float32
    torch.testing.assert_close(got, (outs[0] + outs[1]) / 2)
    assert not torch.allclose(outs[0], outs[1], atol=1e-3)  # the mean is not one member
    # The members are copies: changing a source model does not change the ensemble.
    with torch.no_grad():
        next(members[0].parameters()).add_(1.0)
        torch.testing.assert_close(ensemble(x), got)


def test_the_mean_of_tree_outputs_keeps_the_tree():
    torch.manual_seed(3)
    members = [build_model("resnet18-cpu", width=8, head_hidden=16).eval() for _ in range(3)]
    with torch.no_grad():
        y = ensemble_of(members)(_images())
    q1 = [schema.column_index(c) for c in ("Class1.1", "Class1.2", "Class1.3")]
    torch.testing.assert_close(y[:, q1].sum(1), torch.ones(4))
    q2 = [schema.column_index(c) for c in ("Class2.1", "Class2.2")]
    torch.testing.assert_close(y[:, q2].sum(1), y[:, schema.column_index("Class1.2")])


def test_an_ensemble_checkpoint_round_trips_in_float16(tmp_path):
    ensemble = ensemble_of(_members())
    path = save_checkpoint(tmp_path / "ens.pt", ensemble, preprocessing=PREP,
                           dtype=torch.float16)
    ckpt = load_checkpoint(path, expected_model="ensemble")  # weights_only inside
    assert isinstance(ckpt.model, Ensemble) and len(ckpt.model.members) == 2
    assert [m["name"] for m in ckpt.config["members"]] == ["cnn", "resnet18-cpu"]
    assert ckpt.config["members"][1]["width"] == 8
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(x), ensemble(x), atol=5e-3, rtol=0)
    # The shared inference loop takes it like any network.
    images = (x.numpy() * 255).astype(np.uint8)
    pred = predict_arrays(ckpt.model, images, batch_size=3)
    assert pred.shape == (4, schema.N_ANSWERS) and np.isfinite(pred).all()


def test_ensemble_checkpoints_combines_training_runs(tmp_path):
    paths = [save_checkpoint(tmp_path / f"m{i}.pt", m, preprocessing=PREP)
             for i, m in enumerate(_members())]
    ensemble, prep = ensemble_checkpoints(paths)
    assert prep == PREP and ensemble.config.members[0]["name"] == "cnn"
    single = load_checkpoint(paths[1]).model
    for got, want in zip(ensemble.members[1].state_dict().values(),
                         single.state_dict().values()):
        assert torch.equal(got, want)
    loaded, _ = ensemble_checkpoints([load_checkpoint(p) for p in paths])   # loaded already
    for got, want in zip(loaded.state_dict().values(), ensemble.state_dict().values()):
        assert torch.equal(got, want)


def test_ensemble_checkpoints_refuses_mixed_preprocessing_and_nesting(tmp_path):
    cnn, resnet = _members()
    a = save_checkpoint(tmp_path / "a.pt", cnn, preprocessing=PREP)
    b = save_checkpoint(tmp_path / "b.pt", resnet, preprocessing={"crop": 224, "size": 64})
    with pytest.raises(CheckpointError, match=r"b\.pt expects preprocessing .*a\.pt"):
        ensemble_checkpoints([a, b])
    nested = save_checkpoint(tmp_path / "ens.pt", ensemble_of([cnn]), preprocessing=PREP)
    with pytest.raises(CheckpointError, match=r"ens\.pt is an ensemble already"):
        ensemble_checkpoints([a, nested])
    with pytest.raises(CheckpointError, match="at least one checkpoint"):
        ensemble_checkpoints([])


def test_bad_ensembles_are_refused():
    with pytest.raises(ValueError, match="at least one model"):
        ensemble_of([])
    with pytest.raises(ValueError, match=r"model 1 \(Linear\) is not a galmorph network"):
        ensemble_of([build_model("cnn"), torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="different input sizes"):
        ensemble_of([build_model("cnn"), build_model("resnet18-cpu", input_size=64)])
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleConfig()
    with pytest.raises(ValueError, match="member 0 must be a trained network"):
        EnsembleConfig(members=({"name": "ensemble"},))


def test_galmorph_train_does_not_offer_the_ensemble():
    assert "ensemble" in ALL_MODEL_NAMES and "ensemble" not in MODEL_NAMES
    run = subprocess.run([sys.executable, "-m", "galmorph", "train", "x", "--model",
                          "ensemble"], capture_output=True, text=True)
    assert run.returncode == 2 and "--model" in run.stderr and "invalid choice" in run.stderr
