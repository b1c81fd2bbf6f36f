"""The readable summaries of a classified table (galmorph.astro.summary)."""
import numpy as np
from astropy.table import MaskedColumn, Table

from galmorph import schema
from galmorph.astro.summary import catalog_summary, position_summary


def _calibrated_output():
    """What MorphologyClassifier.predict writes for a calibrated model with intervals=0.9:
    a galaxy, a merger flagged out of distribution, and a failed row (masked)."""
    failed = np.array([False, False, True])
    t = Table({"objid": [1, 2, 3]})
    for name in schema.KAGGLE_COLUMNS:
        t[name] = np.where(failed, np.nan, 0.5).astype(np.float32)
    t["Class1.1"][0] = 0.612
    for name in schema.KAGGLE_COLUMNS:
        for end, value in (("lo", 0.4), ("hi", 0.6)):
            t[f"{name}_{end}"] = MaskedColumn(np.full(3, value, np.float32), mask=failed)
    t["Class1.1_lo"][0], t["Class1.1_hi"][0] = 0.51, 0.70
    columns = {"p_merger": [0.2, 0.4, np.nan], "merger_prob": [0.31, 0.72, np.nan],
               "is_merger": [False, True, False], "ood_score": [0.8, 4.2, np.nan],
               "is_ood": [False, True, False]}
    for name, values in columns.items():
        t[name] = MaskedColumn(values, mask=failed)
    t["predict_ok"] = ~failed
    t["predict_error"] = ["", "", "row 2: image x.jpg does not exist"]
    t["input_note"] = ["", "out of distribution (ood_score 4.2): a blank frame", ""]
    t.meta.update({"model_name": "ensemble", "model_path": "model.pt", "merger_rule": "prob",
                   "merger_threshold": 0.54, "merger_flag_threshold": 0.3, "intervals": 0.9,
                   "n_ood": 1})
    return t


def test_summaries_say_the_intervals_the_rule_and_why_a_row_is_flagged():
    t = _calibrated_output()
    one = "\n".join(position_summary(t[0], t.meta))
    assert "(Galaxy Zoo 2 decision tree; [90 % interval] after each)" in one
    assert "smooth 0.612 [0.51, 0.70], features or disk 0.500 [0.40, 0.60]" in one
    assert "p_merger = 0.200 (Class8.6" in one
    assert "merger_prob = 0.310 (calibrated probability that volunteers give Class8.6 >= " \
           "0.54)" in one
    assert "-> not a merger (merger rule 'prob': merger_prob >= 0.3000, the model's " \
           "calibrated flag threshold)" in one
    assert "in distribution (ood_score 0.8)" in one
    two = "\n".join(position_summary(t[1], t.meta))
    assert "-> MERGER (merger rule 'prob'" in two
    assert "OUT OF DISTRIBUTION, treat the answers with care: out of distribution (ood_score " \
           "4.2): a blank frame" in two
    assert position_summary(t[2], t.meta)[-1] == "FAILED: row 2: image x.jpg does not exist"
    lines = catalog_summary(t)
    assert lines[0] == "classified 2 of 3 rows with model ensemble (model.pt)"
    assert lines[1].startswith("merger fraction 0.5150 [") and "mean merger_prob of 2" in lines[1]
    assert "paper rule: 0 of 2 galaxies with p_merger >= 0.54" in lines[2]
    assert "1 row without a probability skipped" in lines[2]
    # The failed row's masked flag is not counted, as a merger or as a galaxy.
    assert lines[3] == ("is_merger flags 1 of 2 rows (merger rule 'prob': merger_prob >= 0.3000, "
                        "the model's calibrated flag threshold)")
    assert lines[4] == "1 of 2 rows flagged out of distribution (is_ood; the reason is in " \
                       "input_note)"
    assert lines[5] == "  failed: row 2: image x.jpg does not exist"
    # A model without a merger or OOD calibration: the paper's rule, said so.
    t["merger_prob"].mask = t["is_ood"].mask = True
    t.meta.update(merger_rule="paper", merger_rule_note="the model has no merger "
                  "calibration: the paper's rule used")
    del t.meta["merger_flag_threshold"]
    one = "\n".join(position_summary(t[0], t.meta))
    assert "merger_prob: not available" in one and "out of distribution: not checked" in one
    assert "(merger rule 'paper': p_merger >= 0.54, the paper's rule)\n   (the model has no " \
           "merger calibration" in one
    lines = catalog_summary(t)
    assert lines[1] == "merger_prob: not available (the model has no merger calibration)"
    assert "out of distribution: not checked (the model has no OOD calibration)" in lines
