"""galmorph.trust.measure: a calibration measured by evaluate, against an independent count.

A 3-member ensemble of tiny untrained CNNs (so the members' spread is not zero) is
calibrated by :func:`galmorph.trust.fit.calibrate` on 80 synthetic galaxies, given a
hand-made merger calibration, and evaluated on 40 other synthetic galaxies.
"""
import json

import numpy as np
import pytest
import torch

from galmorph import schema
from galmorph.inference.evaluation import evaluate
from galmorph.trust import (REPORTED_LEVELS, MergerCalibration, TrustCalibration, TrustMeasure,
                            format_trust, interval_coverage, merger_prob, merger_scores,
                            predict_intervals)

_J = schema.column_index(schema.MERGER_COLUMN)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from galmorph.models import build_model, save_checkpoint
    from galmorph.models.checkpoint import load_checkpoint, update_meta
    from galmorph.models.ensemble import ensemble_of
    from galmorph.synth import make_synthetic
    from galmorph.trust.fit import calibrate

    root = tmp_path_factory.mktemp("measure")
    with pytest.MonkeyPatch.context() as mp:   # never touch the real user cache
        mp.setenv("GALMORPH_CACHE_DIR", str(root / "cache"))
        fit_on = make_synthetic(root / "fit", n=80, seed=0, workers=1, progress=False)
        new = make_synthetic(root / "new", n=40, seed=1, workers=1, progress=False)
        torch.manual_seed(0)
        members = [build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
                   for _ in range(3)]
        plain = save_checkpoint(root / "ensemble.pt", ensemble_of(members),
                                preprocessing={"crop": 224, "size": 32})
        calibrate(plain, fit_on, out=root / "calibrated.pt", progress=False)
        trust = load_checkpoint(root / "calibrated.pt").meta["trust"]
        # Too few synthetic mergers to fit merger_prob: a calibration by hand.
        trust["mergers"] = MergerCalibration(-1.0, 1.2, 0.08, fitted_on={"data": "by hand"}
                                             ).to_dict()
        path = update_meta(root / "calibrated.pt", root / "calibrated.pt", trust=trust)
        yield {"ckpt": load_checkpoint(path), "new": new, "root": root}


def _by_hand(setup):
    """The evaluated galaxies' one forward pass and labels, without evaluate."""
    from galmorph.data.cache import prepare
    from galmorph.inference.engine import predict_arrays

    prepared = prepare(setup["new"], crop=224, size=32, progress=False)
    det = predict_arrays(setup["ckpt"], np.asarray(prepared.images), device="cpu",
                         precision="fp32", details=True)
    return det, np.asarray(prepared.labels, np.float64)


def test_evaluate_measures_the_intervals_and_merger_flags(setup):
    ckpt = setup["ckpt"]
    result = evaluate(ckpt, setup["new"], split="all", device="cpu", precision="fp32",
                      extra=TrustMeasure(ckpt.meta["trust"]))
    trust = result["trust"]
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["trust"] == trust  # plain JSON
    cal = TrustCalibration.from_dict(ckpt.meta["trust"])
    det, labels = _by_hand(setup)
    assert det.spread.shape == (40, 3, schema.N_ANSWERS)
    assert trust["n_galaxies"] == 40 and trust["spread_outputs"] == 3
    assert trust["calibration_spread"] == "members"
    assert trust["calibration_fitted_on"] == cal.intervals.fitted_on
    assert trust["calibration_fitted_on"]["n"] == 80
    assert "in-sample" in trust["note"]
    assert trust["levels"] == list(REPORTED_LEVELS)
    assert list(trust["intervals"]) == ["0.5", "0.68", "0.9", "0.95"]
    widths = []
    for level in REPORTED_LEVELS:
        lo, hi = predict_intervals(cal.intervals, det.mean, det.spread, level)
        expected = interval_coverage(lo, hi, labels)
        got = trust["intervals"][f"{level:g}"]
        assert got["n_cells"] == expected["n_cells"] == 40 * schema.N_ANSWERS
        assert got["coverage"] == pytest.approx(expected["coverage"], abs=1e-9)
        assert got["width"] == pytest.approx(expected["width"], rel=1e-6)
        for q, part in expected["per_question"].items():
            assert got["per_question"][q]["coverage"] == pytest.approx(part["coverage"])
            assert got["per_question"][q]["width"] == pytest.approx(part["width"], rel=1e-6)
            assert got["per_question"][q]["n_cells"] == part["n_cells"]
        widths.append(got["width"])
    assert widths == sorted(widths) and widths[0] < widths[-1]     # wider for more coverage
    # The merger flags: the default (merger_prob >= flag_threshold) and the paper's rule.
    prob = merger_prob(cal.mergers, det.mean[:, _J])
    default = merger_scores(prob >= 0.08, prob, labels[:, _J])
    paper = merger_scores(det.mean[:, _J] >= 0.54, prob, labels[:, _J])
    got = trust["mergers"]
    assert got["flag_threshold"] == pytest.approx(0.08) and got["threshold"] == 0.54
    for name, want in (("default", default), ("paper_rule", paper)):
        for key in ("n", "n_mergers", "n_flagged", "true_positives"):
            assert got[name][key] == want[key], (name, key)
        assert got[name]["sum_merger_prob"] == pytest.approx(want["sum_merger_prob"], rel=1e-6)
    assert got["default"]["n_flagged"] > 0          # the hand-made threshold flags some


def test_format_trust_prints_the_tables(setup):
    det, labels = _by_hand(setup)
    trust = TrustMeasure(setup["ckpt"].meta["trust"]).measure(det, labels)
    text = format_trust(trust)
    lines = text.splitlines()
    assert lines[0] == "how far to trust an answer: 40 galaxies"
    for level in ("50%", "68%", "90%", "95%"):
        row = [ln for ln in lines if ln.strip().startswith(level)]
        assert len(row) == 1
        values = row[0].split()
        got = trust["intervals"][f"{float(level[:-1]) / 100:g}"]
        assert values[1:] == [f"{got['coverage']:.3f}", f"{got['width']:.3f}",
                              str(got["n_cells"])]
    q8 = [ln for ln in lines if ln.startswith("  Q8 ")][0]
    assert f"{trust['intervals']['0.9']['per_question']['Q8']['coverage']:.3f}" in q8
    assert "merger_prob >= 0.080" in text and "p_merger >= 0.54" in text
    assert format_trust(None) == ""


def test_measure_without_intervals_or_merger_labels(setup):
    det, labels = _by_hand(setup)
    stored = dict(setup["ckpt"].meta["trust"], intervals=None)
    labels = labels.copy()
    labels[:, _J] = np.nan                                 # Class8.6 unknown
    trust = TrustMeasure(stored).measure(det, labels)
    assert trust["intervals"] is None and trust["mergers"] is None
    assert trust["calibration_fitted_on"] is None
    assert "none: the model has no interval calibration" in format_trust(trust)
    # Partial labels: a question unknown everywhere has no coverage (None, not NaN).
    labels[:, schema.QUESTION_SLICES[11]] = np.nan
    trust = TrustMeasure(setup["ckpt"].meta["trust"], levels=(0.9,)).measure(det, labels)
    assert list(trust["intervals"]) == ["0.9"]
    assert trust["intervals"]["0.9"]["per_question"]["Q11"] == {"coverage": None,
                                                                 "width": None, "n_cells": 0}
    # A single-network spread against a members' calibration is said in the text.
    single = type(det)(det.mean, det.spread[:, :1], det.features)
    text = format_trust(TrustMeasure(setup["ckpt"].meta["trust"]).measure(single, labels))
    assert "calibrated with spread 'members' but evaluated over 1 output(s)" in text
