"""Tests of galmorph.adapt.teacher (pseudo-labels from a teacher) and of training on them.

Real JPEGs: 24 of the 232 px crops of gz-kaggle-unlabelled-22k, labelled by a tiny
untrained cnn (the plumbing, not the predictions), and 40 gz-kaggle-5k galaxies.
"""
import hashlib
import json

import numpy as np
import pytest
import torch

from galmorph import schema
from galmorph.adapt.teacher import pseudo_label, unlabelled_images
from galmorph.data.catalogs import find_images, open_catalog
from galmorph.errors import CheckpointError, DataError, NoModelError, ParameterError
from galmorph.labels import check_labels
from galmorph.models import build_model, save_checkpoint
from galmorph.models.checkpoint import load_checkpoint
from galmorph.training.config import TrainConfig
from galmorph.training import train

N_PSEUDO = 24


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    return save_checkpoint(tmp_path_factory.mktemp("teacher") / "tiny.pt", model,
                           preprocessing={"crop": 224, "size": 32})


@pytest.fixture(scope="module")
def pseudo(tmp_path_factory, teacher, unlabelled_22k):
    out = tmp_path_factory.mktemp("pseudo") / "pl"
    return pseudo_label(unlabelled_22k, out, model=teacher, limit=N_PSEUDO, workers=0,
                        precision="fp32")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, kaggle_5k):
    """40 gz-kaggle-5k galaxies as a Kaggle-layout folder of links."""
    root = tmp_path_factory.mktemp("lab") / "lab"
    files = find_images(kaggle_5k / "images_training_rev1")[::100][:40]
    keep = {int(p.stem) for p in files}
    (root / "images_training_rev1").mkdir(parents=True)
    for p in files:
        (root / "images_training_rev1" / p.name).symlink_to(p)
    lines = (kaggle_5k / schema.KAGGLE_LABEL_FILE).read_text().splitlines(keepends=True)
    (root / schema.KAGGLE_LABEL_FILE).write_text(
        lines[0] + "".join(ln for ln in lines[1:] if int(ln.split(",")[0]) in keep))
    return root


def test_labels_file_is_a_tree_consistent_kaggle_table(pseudo, teacher, unlabelled_22k):
    text = (pseudo / schema.KAGGLE_LABEL_FILE).read_text().splitlines()
    assert text[0] == ",".join((schema.ID_COLUMN,) + schema.KAGGLE_COLUMNS)
    rows = np.array([[float(v) for v in line.split(",")] for line in text[1:]])
    ids = rows[:, 0].astype(np.int64)
    assert len(ids) == N_PSEUDO and (np.diff(ids) > 0).all()
    assert np.array_equal(ids, unlabelled_images(unlabelled_22k)[0][:N_PSEUDO])
    assert check_labels(rows[:, 1:], atol=1e-4)
    record = json.loads((pseudo / "teacher.json").read_text())
    assert record["teacher"]["sha256"] == hashlib.sha256(teacher.read_bytes()).hexdigest()
    assert record["tta"] == "d8" and record["precision"] == "fp32"
    assert record["n_galaxies"] == N_PSEUDO and "projected" in record["tree"]
    # The data readers open it, 232 px crops and all.
    catalog = open_catalog(pseudo)
    assert len(catalog) == N_PSEUDO and np.isfinite(catalog.labels).all()


def test_a_rerun_writes_the_same_labels_file(pseudo, teacher, unlabelled_22k):
    before = (pseudo / schema.KAGGLE_LABEL_FILE).read_bytes()
    pseudo_label(unlabelled_22k, pseudo, model=teacher, limit=N_PSEUDO, workers=0,
                 precision="fp32")
    assert (pseudo / schema.KAGGLE_LABEL_FILE).read_bytes() == before
    assert len(list((pseudo / "images_training_rev1").iterdir())) == N_PSEUDO


def test_pseudo_weight_zero_ignores_the_folder_exactly(tmp_path, labelled, pseudo):
    base = dict(model="cnn", epochs=1, batches_per_epoch=2, batch_size=8, precision="fp32",
                progress=False, workers=1, size=32, model_options={"input_size": 32})
    runs = {name: train(TrainConfig(data=data, out=tmp_path / name, **base, **kw))
            for name, data, kw in (("alone", labelled, {}),
                                   ("zero", [labelled, pseudo], {"pseudo_weight": 0.0}),
                                   ("half", [labelled, pseudo],
                                    {"pseudo_weight": 0.5, "population_weights": "mask"}))}
    weights = {k: load_checkpoint(v / "last.pt").model.state_dict() for k, v in runs.items()}
    assert all(torch.equal(weights["alone"][k], weights["zero"][k]) for k in weights["alone"])
    assert not all(torch.equal(weights["alone"][k], weights["half"][k])
                   for k in weights["alone"])
    val = json.loads((runs["half"] / "split.json").read_text())["val_ids"]
    pseudo_ids = set(open_catalog(pseudo).ids.tolist())
    assert val and not pseudo_ids & set(val)


def test_images_without_labels_are_refused_by_train_with_the_way_out(tmp_path, unlabelled_22k):
    with pytest.raises(DataError, match="no labels file.*galmorph pseudo-label"):
        train(TrainConfig(data=unlabelled_22k, out=tmp_path / "run", model="cnn"))


def test_a_bad_teacher_or_folder_is_a_clear_error(tmp_path, unlabelled_22k, teacher):
    fake = tmp_path / "notes.pt"
    fake.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pt"):
        pseudo_label(unlabelled_22k, tmp_path / "a", model=fake, limit=2, workers=0)
    with pytest.raises(NoModelError, match="gone.pt .*does not exist"):
        pseudo_label(unlabelled_22k, tmp_path / "b", model=tmp_path / "gone.pt", limit=2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        pseudo_label(tmp_path / "empty", tmp_path / "c", model=teacher)
    (tmp_path / "named").mkdir()
    (tmp_path / "named" / "m51.jpg").symlink_to(next((unlabelled_22k / "images").iterdir()))
    with pytest.raises(DataError, match="m51.jpg: the file name is not an integer GalaxyID"):
        pseudo_label(tmp_path / "named", tmp_path / "d", model=teacher)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ParameterError, match="not empty and holds no pseudo-labels"):
        pseudo_label(unlabelled_22k, tmp_path / "busy", model=teacher, limit=2)
