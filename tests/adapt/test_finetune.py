"""Finetuning on real galaxies: a head trains, saves, loads, predicts and resumes."""
import json

import numpy as np
import pytest
from astropy.table import Table

from galmorph.adapt import FinetuneConfig
from galmorph.adapt.finetune import finetune
from galmorph.errors import ParameterError, RunDirError
from galmorph.models.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def probe(ring_labels, small_net, tmp_path_factory):
    """A linear probe of 'ring' and 'shape' on 20 real galaxies, stopped after 20 epochs."""
    out = tmp_path_factory.mktemp("probe") / "run"
    cache = out.parent / "cache"
    finetune(FinetuneConfig(labels=ring_labels, label=["ring", "shape"], out=out,
                            source=small_net, epochs=20, cache=cache, progress=False))
    return out


def test_a_probe_writes_a_run_folder_and_a_normal_checkpoint(probe, ring_labels):
    assert {p.name for p in probe.iterdir()} >= {"config.json", "split.json", "metrics.csv",
                                                 "best.pt", "last.pt", "features.npy"}
    config = json.loads((probe / "config.json").read_text())
    assert config["unfreeze"] == "none" and config["label"] == ["ring", "shape"]
    assert [h["task"] for h in config["heads"]] == ["binary", "multiclass"]
    split = json.loads((probe / "split.json").read_text())
    assert split["n_total"] == 20 and split["n_val"] == 4
    ckpt = load_checkpoint(probe / "best.pt")
    assert ckpt.name == "finetuned" and ckpt.config["encoder"] == "frozen"
    assert ckpt.meta["finetune"]["gz2_answers"] == "kept"
    rows = (probe / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,val_loss,lr,images_per_s,elapsed_s" and len(rows) == 21
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert losses[-1] < losses[0]                       # it learnt something


def test_the_classifier_adds_the_label_columns_and_keeps_the_gz2_answers(probe, ring_labels,
                                                                         small_net):
    from galmorph import MorphologyClassifier

    table = Table.read(ring_labels)[:6]
    table["path"] = [str(ring_labels.parent / p) for p in table["path"]]
    with pytest.warns(UserWarning, match="input column 'ring' renamed to 'ring_input'"):
        out = MorphologyClassifier(probe / "best.pt", progress=False,
                                   precision="fp32").predict(table)
    assert {"ring", "shape", "shape_smooth", "shape_spiral", "shape_other",
            "ring_input", "shape_input"} <= set(out.colnames)
    assert np.all((out["ring"] >= 0) & (out["ring"] <= 1))
    probs = np.stack([np.asarray(out[f"shape_{c}"].filled(np.nan))
                      for c in ("other", "smooth", "spiral")], 1)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert set(out["shape"]) <= {"other", "smooth", "spiral"}
    assert out.meta["finetuned"]["gz2_answers"].startswith("kept")
    base = MorphologyClassifier(small_net, progress=False, precision="fp32").predict(table)
    assert np.allclose(out["Class1.1"], base["Class1.1"], atol=1e-5)   # the 37 are the base's


def test_resume_continues_to_more_epochs_and_a_second_run_is_refused(probe, ring_labels,
                                                                     small_net):
    before = load_checkpoint(probe / "last.pt").train_state["epoch"]
    finetune(FinetuneConfig.from_run(probe, epochs=25, progress=False))
    assert before == 20 and load_checkpoint(probe / "last.pt").train_state["epoch"] == 25
    assert len((probe / "metrics.csv").read_text().splitlines()) == 26
    with pytest.raises(RunDirError, match="already holds this run"):
        finetune(FinetuneConfig(labels=ring_labels, label=["ring", "shape"], out=probe,
                                source=small_net, epochs=25, cache=probe.parent / "cache"))


def test_training_the_last_stage_masks_the_gz2_answers(ring_labels, small_net, tmp_path):
    from galmorph import MorphologyClassifier

    out = tmp_path / "last"
    finetune(FinetuneConfig(labels=ring_labels, label=["smooth"], out=out, source=small_net,
                            unfreeze="last", epochs=1, batch_size=16, time_limit=60,
                            cache=tmp_path / "cache", progress=False))
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt.config["encoder"] == "last" and ckpt.meta["finetune"]["gz2_answers"] == "changed"
    table = Table({"path": [str(ring_labels.parent / "images" / p.name)
                            for p in sorted((ring_labels.parent / "images").iterdir())[:3]]})
    result = MorphologyClassifier(ckpt, progress=False, precision="fp32").predict(table)
    assert np.isfinite(result["smooth"]).all()
    assert result["Class1.1"].mask.all() and "masked" in result.meta["finetuned"]["gz2_answers"]


def test_bad_settings_name_their_flag():
    with pytest.raises(ParameterError, match="--unfreeze must be one of none, last, all"):
        FinetuneConfig(labels="x.csv", label="a", out="o", unfreeze="some")
    with pytest.raises(ParameterError, match="LABELS .* --label COLUMN and --out"):
        finetune(FinetuneConfig(labels="x.csv", out="o"))
