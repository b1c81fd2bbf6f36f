"""The shipped model's trust outputs, measured on real galaxies (issue 26's targets).

Held out from the networks' training: the 800 galaxies of the shipped model's
validation split (``meta["val_ids"]``: 500 from gz-kaggle-5k, 300 from
gz-kaggle-partial-3k) and every gz2-1k galaxy. The interval coverage is measured by
2-fold cross-fitting on the 800 (each half scored by a calibration fitted on the
other), as ``galmorph calibrate`` measures it; ``merger_prob`` was fitted on the
7,200 training galaxies, so both sets are held out from its fit too.
"""
import numpy as np
import pytest

from galmorph import schema

_J = schema.column_index(schema.MERGER_COLUMN)


@pytest.fixture(scope="module")
def shipped():
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.paths import shipped_model_path

    ckpt = load_checkpoint(shipped_model_path())
    if not (ckpt.meta or {}).get("trust"):
        pytest.fail("the shipped model carries no trust calibration (galmorph calibrate)")
    return ckpt


def _predict(ckpt, paths):
    from concurrent.futures import ThreadPoolExecutor

    from galmorph.data.images import crop_and_resize
    from galmorph.inference.engine import predict_arrays

    with ThreadPoolExecutor(2) as pool:
        images = np.stack(list(pool.map(crop_and_resize, paths)))   # (N, 3, 80, 80)
    return images, predict_arrays(ckpt, images, precision="fp32", details=True)


@pytest.fixture(scope="module")
def held_out(shipped, kaggle_5k, partial_3k):
    """The 800 validation galaxies, predicted once: (Predicted, ...)."""
    import pandas as pd

    from galmorph.data.populations import unselected_mask
    from galmorph.trust.fit import Predicted

    val = {str(v) for v in shipped.meta["val_ids"]}
    parts = []
    for folder, csv in ((kaggle_5k, "training_solutions_rev1.csv"),
                        (partial_3k, "training_solutions_partial.csv")):
        table = pd.read_csv(folder / csv)
        table = table[table["GalaxyID"].astype(str).isin(val)]
        labels = np.full((len(table), schema.N_ANSWERS), np.nan)
        for j, col in enumerate(schema.KAGGLE_COLUMNS):
            if col in table:
                labels[:, j] = table[col].to_numpy()
        ids = table["GalaxyID"].astype(str).to_numpy()
        paths = [folder / "images_training_rev1" / f"{i}.jpg" for i in ids]
        images, det = _predict(shipped, paths)
        parts.append(Predicted(folder.name, ids, images, labels, det.mean, det.spread,
                               det.features, unselected_mask(folder.name, ids),
                               np.ones(len(ids), bool)))
    from galmorph.trust.fit import _concat

    both = _concat(parts)
    assert len(both.ids) == 800
    return both


def test_90_percent_intervals_cover_held_out_galaxies(held_out):
    from galmorph.trust.fit import cross_fitted_coverage

    cov = cross_fitted_coverage(held_out, "members", levels=(0.9,))["0.9"]
    assert 0.87 <= cov["all"]["coverage"] <= 0.93
    assert min(q["coverage"] for q in cov["all"]["per_question"].values()) >= 0.83
    assert cov["unselected"]["coverage"] >= 0.85
    assert cov["rmse_ratio_widest_to_narrowest"] >= 1.5


def test_the_shipped_calibration_is_the_one_fitted_on_these_galaxies(shipped, held_out):
    from galmorph.trust import TrustCalibration

    trust = TrustCalibration.from_dict(shipped.meta["trust"])
    known = np.isfinite(held_out.labels).sum(0)
    assert trust.intervals.n.tolist() == known.tolist()


def test_merger_prob_finds_mergers_among_held_out_kaggle_galaxies(shipped, held_out):
    from galmorph.trust import TrustCalibration, merger_prob, merger_scores

    cal = TrustCalibration.from_dict(shipped.meta["trust"]).mergers
    assert cal.fitted_on["galaxies"] == "trained on"      # so these 800 are held out of it
    prob = merger_prob(cal, held_out.mean[:, _J])
    s = merger_scores(prob >= cal.flag_threshold, prob, held_out.labels[:, _J])
    paper = merger_scores(held_out.mean[:, _J] >= 0.54, prob, held_out.labels[:, _J])
    assert s["n_mergers"] == 5
    assert s["recall"] >= 0.6 and s["recall"] > paper["recall"]
    assert 0.7 <= s["sum_merger_prob"] / s["n_mergers"] <= 1.4
    # Issue 26's targets, met here on only 5 mergers (4 found, 8 flagged): the flag's
    # threshold was set without labels, to find an expected 70 % of the mergers of
    # gz-kaggle-unlabelled-22k (expected precision there 0.41).
    assert s["precision"] >= 0.35


@pytest.fixture(scope="module")
def gz2_predicted(shipped, gz2_1k):
    """gz2-1k predicted once: (asset_ids, predicted Class8.6, release odd x merger)."""
    import pandas as pd

    table = pd.read_csv(gz2_1k / "gz2_labels_1k.csv")
    odd = table["t06_odd_a14_yes_weighted_fraction"].to_numpy()
    merger = table["t08_odd_feature_a24_merger_weighted_fraction"].to_numpy()
    paths = [gz2_1k / "images" / f"{a}.jpg" for a in table["asset_id"]]
    _, det = _predict(shipped, paths)
    return table["asset_id"].to_numpy(), det.mean[:, _J], odd * merger


def test_merger_flags_on_gz2_release_mergers(shipped, gz2_predicted):
    from galmorph.trust import TrustCalibration, merger_prob, merger_scores

    _, p_merger, truth = gz2_predicted
    cal = TrustCalibration.from_dict(shipped.meta["trust"]).mergers
    prob = merger_prob(cal, p_merger)
    s = merger_scores(prob >= cal.flag_threshold, prob, truth)
    assert s["n_mergers"] >= 80
    assert s["recall"] >= 0.6 and s["precision"] >= 0.35


def test_prior_shift_counts_gz2_release_mergers_with_the_shipped_calibration(shipped,
                                                                            gz2_predicted,
                                                                            held_out):
    """gz2-1k holds 9 % release mergers where the real population holds about 1 %: the mean
    merger_prob (calibrated on that population) undercounts it 2.5x, and its interval
    misses. ``merger_fraction(method="prior-shift")`` re-estimates the sample's own rate
    from the same probabilities, without labels; its 95 % interval holds the release's
    fraction in the whole set and in each half, and the real population's on the 800
    held-out Kaggle galaxies (issue 26)."""
    from galmorph.astro.mergers import merger_fraction
    from galmorph.trust import TrustCalibration, merger_prob
    from galmorph.trust.fit import _folds

    cal = TrustCalibration.from_dict(shipped.meta["trust"]).mergers
    ids, p_merger, truth = gz2_predicted
    prob = merger_prob(cal, p_merger)
    for part in (np.ones(len(ids), bool), _folds(ids, 2) == 0, _folds(ids, 2) == 1):
        true = np.mean(truth[part] >= 0.54)
        plain = merger_fraction(prob[part], method="prob", confidence=0.95, seed=0)
        got = merger_fraction(prob[part], method="prior-shift", prior=cal.prior,
                              confidence=0.95, seed=0)
        assert plain.high < true, plain
        assert got.low <= true <= got.high, (true, got)
    prob = merger_prob(cal, held_out.mean[:, _J])
    true = np.mean(held_out.labels[:, _J] >= 0.54)
    got = merger_fraction(prob, method="prior-shift", prior=cal.prior, confidence=0.95, seed=0)
    assert got.low <= true <= got.high, (true, got)


def test_merger_prob_fitted_on_release_labels_counts_release_mergers(gz2_predicted):
    """merger_prob follows the labels it was fitted on. Fitted on GZ2 release fractions
    (as ``galmorph calibrate MODEL GZ2_FOLDER`` fits it), 2-fold cross-fitted so that no
    galaxy scores a fit it took part in, ``merger_fraction``'s interval holds each half's
    true release merger fraction, and the flags find the release's mergers (issue 26). The
    Kaggle-fitted calibration undercounts them about 2.5x (0.037 against 0.092)."""
    from galmorph.trust.fit import merger_cross_fit

    ids, p_merger, truth = gz2_predicted
    got = merger_cross_fit(ids, p_merger, truth)
    for fold in got["folds"]:
        estimate, low, high = fold["merger_fraction_0.95"]
        assert fold["holds_truth_0.95"] and low <= fold["true_fraction"] <= high, fold
        assert abs(estimate - fold["true_fraction"]) < 0.03   # the Kaggle one is 0.055 off
    s = got["cross_fitted"]
    assert s["n"] == len(ids) and s["n_mergers"] >= 80
    assert s["recall"] >= 0.6 and s["precision"] >= 0.35, s
    assert 0.7 <= s["sum_merger_prob"] / s["n_mergers"] <= 1.4, s


def test_few_real_galaxies_are_flagged_out_of_distribution(shipped, held_out, unlabelled_22k):
    from galmorph.trust import TrustCalibration, score_ood
    from galmorph.trust.fit import _folds

    ood = TrustCalibration.from_dict(shipped.meta["trust"]).ood
    score, _ = score_ood(ood, held_out.images, held_out.features, held_out.spread)
    assert np.mean(score > ood.threshold) <= 0.05
    files = sorted((unlabelled_22k / "images").glob("*.jpg"))
    ids = np.array([f.stem for f in files])
    rest = [f for f, k in zip(files, _folds(ids, 4)) if k != 0][::40]   # not the fitting quarter
    images, det = _predict(shipped, rest)
    score, _ = score_ood(ood, images, det.features, det.spread)
    assert len(score) > 400 and np.mean(score > ood.threshold) <= 0.08


@pytest.fixture(scope="module")
def junk_files(tmp_path_factory, kaggle_5k, shipped):
    """10 JPEG files of each junk kind, the galaxy-based ones from held-out galaxies."""
    from PIL import Image

    from galmorph.data.images import load_image
    from galmorph.synth.junk import JUNK_KINDS, NEEDS_GALAXY, junk_image

    folder = tmp_path_factory.mktemp("junk")
    val = sorted(str(v) for v in shipped.meta["val_ids"])
    galaxies = [load_image(kaggle_5k / "images_training_rev1" / f"{i}.jpg")
                for i in val if (kaggle_5k / "images_training_rev1" / f"{i}.jpg").is_file()][:10]
    files = {}
    for kind in JUNK_KINDS:
        files[kind] = []
        for k, galaxy in enumerate(galaxies):
            path = folder / f"{kind}_{k}.jpg"
            Image.fromarray(junk_image(kind, galaxy if kind in NEEDS_GALAXY else None,
                                       seed=k)).save(path, quality=90)
            files[kind].append(str(path))
    return files


def test_junk_is_flagged_through_the_classifier(junk_files):
    from astropy.table import Table

    from galmorph import MorphologyClassifier

    kinds = list(junk_files)
    table = Table({"path": [p for k in kinds for p in junk_files[k]],
                   "kind": [k for k in kinds for _ in junk_files[k]]})
    out = MorphologyClassifier(progress=False, precision="fp32").predict(table)
    for kind in kinds:
        rows = out[out["kind"] == kind]
        flagged = np.asarray(rows["is_ood"]).mean()
        assert flagged >= 0.9, (kind, flagged, list(rows["input_note"][:2]))
    assert all("out of distribution" in n for n in out["input_note"][out["is_ood"]])


def test_a_run_folder_calibrates_on_its_held_out_galaxies_only(tmp_path):
    """A ``galmorph train`` checkpoint keeps its data and split beside it (config.json,
    split.json): calibrate must use only the galaxies it held out."""
    import json

    import torch

    from galmorph.models import build_model, save_checkpoint
    from galmorph.synth import make_synthetic
    from galmorph.trust.fit import calibrate

    data = make_synthetic(tmp_path / "data", n=60, seed=1, workers=1, progress=False)
    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    save_checkpoint(run / "best.pt", model, preprocessing={"crop": 224, "size": 32})
    ids = sorted(p.stem for p in (data / "images_training_rev1").glob("*.jpg"))
    (run / "config.json").write_text(json.dumps({"data": str(data)}))
    (run / "split.json").write_text(json.dumps({"val_ids": ids[:24]}))
    trust = calibrate(run / "best.pt", data, progress=False)
    assert trust.measured["n_held_out"] == 24
    assert trust.intervals.fitted_on["n"] == 24
    (run / "split.json").unlink()
    with pytest.raises(Exception, match="says which of its galaxies were held out"):
        calibrate(run / "best.pt", data, progress=False)
