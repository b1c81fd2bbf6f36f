"""How far to trust the shipped model's answers, measured (issue 26), and what it costs.

Prints one JSON object (``--json FILE`` also writes it) with:

- ``intervals``: the coverage the shipped calibration recorded when it was fitted
  (2-fold cross-fitting on the 800 held-out validation galaxies; ``galmorph calibrate``);
- ``mergers_gz2``: ``is_merger`` and ``merger_prob`` against the GZ2 release's odd x
  merger fraction (>= 0.54) on the 1,000 gz2-1k galaxies, none of which the networks or
  ``merger_prob`` saw, with ``merger_fraction``'s estimate and interval against the true
  fraction, the same for ``merger_fraction(method="prior-shift")`` (the sample's own
  merger rate re-estimated from the same probabilities), and, as ``release_calibrated``,
  the same galaxies with ``merger_prob`` fitted on GZ2 release labels instead of Kaggle
  ones, as ``galmorph calibrate MODEL GZ2_FOLDER`` does, by 2-fold cross-fitting
  (``galmorph.trust.fit.merger_cross_fit``: the galaxies split by CRC-32 of their asset_id;
  each half scored by the calibration fitted on the other half), with
  ``merger_fraction``'s 68 % and 95 % intervals against each half's true fraction;
- ``junk``: the share of each kind of junk image (:mod:`galmorph.synth.junk`, made from
  ``--junk`` held-out galaxies, written as JPEG files) that ``is_ood`` flags, through
  ``MorphologyClassifier``;
- ``ood_real``: the share of real galaxies flagged: held-out labelled ones (recorded by
  calibrate) and ``--unlabelled`` galaxies of gz-kaggle-unlabelled-22k outside the quarter
  the threshold was fitted on;
- ``cost``: ``MorphologyClassifier.predict`` on ``--n`` JPEG files with
  ``intervals=0.9`` against without, interleaved over ``--rounds`` rounds in this
  process (best round each), and the ratio.

Run::

    python benchmarks/trust.py [--junk 30] [--unlabelled 2000] [--n 1000] [--rounds 3]
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--junk", type=int, default=30, help="images of each junk kind (default 30)")
    p.add_argument("--unlabelled", type=int, default=2000,
                   help="gz-kaggle-unlabelled-22k galaxies for the flag rate (default 2000)")
    p.add_argument("--n", type=int, default=1000, help="files for the cost (default 1000)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--json", default=None, help="also write the JSON here")
    return p.parse_args(argv)


def _classify(paths, **kw):
    from astropy.table import Table

    from galmorph import MorphologyClassifier

    return MorphologyClassifier(progress=False, precision="fp32", **kw).predict(
        Table({"path": [str(p) for p in paths]}))


def mergers_gz2(trust):
    import pandas as pd

    from galmorph.astro.mergers import merger_fraction
    from galmorph.trust import merger_scores

    table = pd.read_csv(DATA / "gz2-1k" / "gz2_labels_1k.csv")
    truth = (table["t06_odd_a14_yes_weighted_fraction"]
             * table["t08_odd_feature_a24_merger_weighted_fraction"]).to_numpy()
    out = _classify([DATA / "gz2-1k" / "images" / f"{a}.jpg" for a in table["asset_id"]])
    prob = np.ma.filled(out["merger_prob"], np.nan)
    scores = merger_scores(out["is_merger"], prob, truth)
    paper = merger_scores(np.ma.filled(out["p_merger"], np.nan) >= 0.54, prob, truth)
    mf = merger_fraction(out, method="prob", confidence=0.95, seed=0)
    shifted = merger_fraction(out, method="prior-shift", confidence=0.95, seed=0)
    rule = merger_fraction(out, method="rule", confidence=0.95)
    true = float(np.mean(truth >= 0.54))
    return {"scores": scores, "paper_rule": paper, "true_fraction": true,
            "merger_fraction_prob": [mf.fraction, mf.low, mf.high],
            "holds_truth": bool(mf.low <= true <= mf.high),
            "merger_fraction_prior_shift": [shifted.fraction, shifted.low, shifted.high],
            "prior_shift_holds_truth": bool(shifted.low <= true <= shifted.high),
            "merger_fraction_paper_rule": [rule.fraction, rule.low, rule.high],
            "release_calibrated": release_calibrated(table["asset_id"].to_numpy(),
                                                     np.ma.filled(out["p_merger"], np.nan),
                                                     truth)}


def release_calibrated(ids, p_merger, truth):
    """``merger_prob`` fitted on release labels, 2-fold cross-fitted (per fold and in all), as
    ``galmorph calibrate MODEL GZ2_FOLDER`` measures it."""
    from galmorph.trust.fit import merger_cross_fit

    return merger_cross_fit(ids, p_merger, truth)


def junk(ckpt, n):
    from PIL import Image

    from galmorph.data.images import load_image
    from galmorph.synth.junk import JUNK_KINDS, NEEDS_GALAXY, junk_image

    folder = Path(tempfile.mkdtemp(prefix="galmorph-junk-"))
    images = DATA / "gz-kaggle-5k" / "images_training_rev1"
    val = [i for i in sorted(str(v) for v in ckpt.meta["val_ids"])
           if (images / f"{i}.jpg").is_file()][:n]
    galaxies = [load_image(images / f"{i}.jpg") for i in val]
    paths, kinds = [], []
    for kind in JUNK_KINDS:
        for k, g in enumerate(galaxies):
            path = folder / f"{kind}_{k}.jpg"
            Image.fromarray(junk_image(kind, g if kind in NEEDS_GALAXY else None,
                                       seed=k)).save(path, quality=90)
            paths.append(path)
            kinds.append(kind)
    out = _classify(paths)
    kinds = np.array(kinds)
    flagged = np.ma.filled(out["is_ood"], False)
    return {kind: {"n": int((kinds == kind).sum()),
                   "flagged": float(flagged[kinds == kind].mean())} for kind in JUNK_KINDS}


def ood_unlabelled(n):
    from galmorph.trust.fit import _folds

    files = sorted((DATA / "gz-kaggle-unlabelled-22k" / "images").glob("*.jpg"))
    keep = _folds(np.array([f.stem for f in files]), 4) != 0   # not the fitting quarter
    files = [f for f, k in zip(files, keep) if k]
    files = files[::max(1, len(files) // n)][:n]
    out = _classify(files)
    return {"n": len(out), "flagged": float(np.ma.filled(out["is_ood"], False).mean())}


def cost(n, rounds):
    files = sorted((DATA / "gz-kaggle-5k" / "images_training_rev1").glob("*.jpg"))[:n]
    best = {None: np.inf, 0.9: np.inf}
    for _ in range(rounds):
        for level in best:
            start = time.perf_counter()
            _classify(files, intervals=level)
            best[level] = min(best[level], time.perf_counter() - start)
    return {"n": n, "seconds_without": best[None], "seconds_with_intervals": best[0.9],
            "ratio": best[0.9] / best[None]}


def main(argv=None):
    args = parse_args(argv)
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.paths import resolve_model_path
    from galmorph.trust import TrustCalibration

    ckpt = load_checkpoint(resolve_model_path(None))   # $GALMORPH_MODEL, else the shipped one
    trust = TrustCalibration.from_dict(ckpt.meta.get("trust"))
    result = {"measured_at_calibration": trust.measured,
              "mergers_gz2": mergers_gz2(trust), "junk": junk(ckpt, args.junk),
              "ood_unlabelled": ood_unlabelled(args.unlabelled),
              "cost": cost(args.n, args.rounds)}
    from galmorph._util._jsonable import jsonable

    text = json.dumps(jsonable(result), indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
