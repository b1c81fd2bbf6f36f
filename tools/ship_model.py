"""Turn a finished training run into the model shipped in the package, with its card.

    python tools/ship_model.py /work/runs/shipped --data-root ../shared/data \\
        --command "galmorph train ... " [--command "galmorph train --resume ..."]

Several run folders (trained on the same data and split) ship as one ensemble,
the mean of their ``best.pt`` (:mod:`galmorph.models.ensemble`).

1. Writes ``galmorph/weights/gz2_resnet18_cpu.pt``: the run's ``best.pt`` (or
   the ensemble of the runs') as float16 weights with its preprocessing, the
   exact commands, git commit, data and split in its meta (no optimizer state).
2. Scores *that file* (float16 weights, as users get them) on the run's
   validation split, over the known cells: overall, on the unselected part
   (gz-kaggle-5k IDs <= 115091 plus every gz-kaggle-partial-3k galaxy), per
   question, with intervals and baselines, without and with d8 TTA; and the
   precision and recall of ``Class8.6 >= 0.54`` as a merger flag.
3. Writes the card ``galmorph/weights/gz2_resnet18_cpu.json`` (with the sha256
   of the weights) and ``docs/model_card.rst`` (:func:`galmorph.models.card.format_card`).
"""
import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from galmorph.data.cache import combine, prepare
from galmorph.inference.evaluation import evaluate
from galmorph.inference.engine import predict_arrays
from galmorph.models.card import format_card
from galmorph.models.checkpoint import load_checkpoint, save_checkpoint, sha256_of
from galmorph.models.ensemble import ensemble_checkpoints
from galmorph.paths import SHIPPED_MODEL, WEIGHTS_DIR
from galmorph.schema import column_index

ROOT = Path(__file__).resolve().parents[1]
UNSELECTED_ID_MAX = 115091  # gz-kaggle-5k: IDs up to here are an unselected sample
MERGER_THRESHOLD = 0.54

INTENDED = ("SDSS gri colour composites (JPEG, PNG or FITS) centred on one galaxy at the GZ2 "
            "scale: 424 x 424 pixels at 0.02 x petroR90_r arcsec per pixel, as the Galaxy Zoo 2 "
            "and Kaggle images are, and as galmorph's SDSS cutouts are made. The model keeps the "
            "central 224 pixels and resizes them to 80. Other surveys, bands, scales or "
            "off-centre galaxies are outside what it was trained on.")
LIMITS = [
    "Trained on 7,200 galaxies: about 2 % of GZ2. Zoobot and the 2014 Kaggle winner (0.0749) "
    "trained on tens of thousands to millions; expect their figures to be better.",
    "About 4,500 of the gz-kaggle-5k galaxies are confidently classified ones, so the "
    "unselected figure is the one to expect on a real catalogue.",
    "Questions 3-5 and 9-11 (bar, spiral, bulge, arms) were learnt from gz-kaggle-5k only; "
    "gz-kaggle-partial-3k labels only Q1, Q2, Q6, Q7 and Q8.",
    "The outputs are the Kaggle challenge's weighted vote fractions (what volunteers would "
    "say, weighted down the tree), and those are not the GZ2 release's (gz2_hart16): on the 33 "
    "gz2-1k galaxies whose images are also in the Kaggle data, the Kaggle labels and the "
    "release's weighted fractions differ by RMSE 0.100 (Class1.1 averages 0.40 in one and 0.61 "
    "in the other), and its debiased fractions by 0.101. Against the weighted fractions of 987 "
    "gz2-1k galaxies the model scores 0.116 (their mean: 0.154) and gives Class1.1 0.45 on "
    "average where the release gives 0.65 (benchmarks/gz2_release.py). Compare it with "
    "Kaggle-encoded labels, or train on your own catalogue's (galmorph train).",
    "The outputs are not calibrated probabilities; the classification bias with redshift that "
    "GZ2 shows is learnt with them.",
    "Weights are stored as float16; predictions agree with the float32 weights to about 1e-3.",
    "At 80 px, smooth cigar-shaped galaxies can be taken for edge-on disks: `galmorph demo`'s "
    "two cigar-shaped (Ec) examples get 0.60 and 0.74 for features or disk, where the GZ2 "
    "release gives 0.39 and 0.43 (part of that gap is the difference between the two label "
    "sets, above).",
]
CITE = ("Cite galmorph (CITATION.cff), Willett et al. (2013, MNRAS 435, 2835) for Galaxy Zoo 2 "
        "and its classifications, Dieleman, Willett & Dambre (2015, MNRAS 450, 1441) for the "
        "tree normalisation and rotation augmentation, and He et al. (2016) for ResNet.")


def _shape(config):
    """The network's widths in words: resnet18-cpu is half width unless --model-option says."""
    width = (config.get("model_options") or {}).get("width", 32)
    if width == 32:
        return " (ResNet-18 at half width, 32-256 channels, a quarter of its compute"
    full = ", torchvision's full width" if width == 64 else ""
    return (f" with --model-option width={width} (ResNet-18 at {width}-{8 * width} "
            f"channels{full}, with its max-pooled stem")


def _machine(precision):
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = "AVX-512 BF16" if "avx512_bf16" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
    return f"{torch.get_num_threads()} CPU threads of an {model} ({simd}, {precision})"


def _git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _part(result):
    return {k: result[k] for k in ("n_galaxies", "rmse", "rmse_ci95", "baselines")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="+",
                        help="the training run folder; several ship as their ensemble")
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--command", action="append", required=True,
                        help="a command that trained the run, in order (repeat for resumes)")
    parser.add_argument("--commit", default=None, help="galmorph commit the run was trained "
                        "with (default: HEAD)")
    args = parser.parse_args()

    configs = [json.loads((run / "config.json").read_text()) for run in args.run]
    splits = [json.loads((run / "split.json").read_text()) for run in args.run]
    for run, config, split in zip(args.run[1:], configs[1:], splits[1:]):
        if split["val_ids"] != splits[0]["val_ids"] or config["data"] != configs[0]["data"]:
            parser.error(f"{run} was trained on other data or another split than "
                         f"{args.run[0]}; an ensemble's members must share both")
    config, split = configs[0], splits[0]
    metrics = [[line.split(",") for line in (run / "metrics.csv").read_text().split()[1:]]
               for run in args.run]
    bests = [load_checkpoint(run / "best.pt") for run in args.run]
    best = bests[0]
    model = best.model if len(bests) == 1 else ensemble_checkpoints(bests)[0]
    epochs = [b.meta.get("epoch") for b in bests]
    folders = [Path(d) for d in config["data"]]
    WEIGHTS_DIR.mkdir(exist_ok=True)
    final = WEIGHTS_DIR / f"{SHIPPED_MODEL}.pt"
    target = WEIGHTS_DIR / f"{SHIPPED_MODEL}.candidate.pt"  # renamed once its card is written
    card_path = WEIGHTS_DIR / f"{SHIPPED_MODEL}.json"
    meta = {"commands": args.command, "git_commit": args.commit or _git_commit(),
            "data": [f.name for f in folders], "val_ids": split["val_ids"],
            "epoch": epochs if len(epochs) > 1 else epochs[0],
            "trained_on": _machine(config.get("resolved_precision", "fp32"))}
    save_checkpoint(target, model, preprocessing=best.preprocessing, meta=meta,
                    dtype=torch.float16)
    shipped = load_checkpoint(target)

    datas = [prepare(f, crop=best.preprocessing["crop"], size=best.preprocessing["size"],
                     cache_dir=c, progress=False)
             for f, c in zip(folders, config["cache"])]
    data = combine(datas)
    ids = np.asarray(data.ids)
    partial = [k for k, f in enumerate(folders) if f.name == "gz-kaggle-partial-3k"]
    unselected = ids[np.isin(data.folder_index, partial) | (ids <= UNSELECTED_ID_MAX)]
    scores = {}
    for tta in (None, "d8"):
        scores[tta] = evaluate(shipped, data, split=split["val_ids"], tta=tta,
                               subsets={"unselected": unselected.tolist()})
    plain = scores[None]
    val = np.flatnonzero(np.isin(ids, split["val_ids"]))
    pred = predict_arrays(shipped.model, data.images[val], batch_size=256)
    merger = column_index("Class8.6")
    truth = data.labels[val, merger] >= MERGER_THRESHOLD
    flagged = pred[:, merger] >= MERGER_THRESHOLD
    hits = int((truth & flagged).sum())

    elapsed = sum(float(m[-1][5]) for m in metrics if m)
    ensemble_words = ("" if len(bests) == 1 else f"the mean of {len(bests)} runs with "
                      f"different --seed and the same split, each ")
    best_epochs = ", ".join(str(e) for e in epochs)
    patience = [c["plateau_patience"] for c in configs]
    patience = (str(patience[0]) if len(set(patience)) == 1 else
                ", ".join(map(str, patience[:-1])) + f" and {patience[-1]} (by member)")
    card = {
        "name": SHIPPED_MODEL, "model": shipped.name,
        "n_parameters": int(sum(p.numel() for p in shipped.model.parameters())),
        "dtype": "float16", "size_bytes": target.stat().st_size, "sha256": sha256_of(target),
        "preprocessing": shipped.preprocessing,
        "created": time.strftime("%Y-%m-%d"),
        "training": {
            "data": [{"name": folders[0].name, "n": len(datas[0]),
                      "labels": "all 37 answers; IDs <= 115091 are an unselected sample, the "
                                "rest confidently classified galaxies"},
                     {"name": folders[1].name, "n": len(datas[1]),
                      "labels": "unselected galaxies labelled for Q1, Q2, Q6, Q7 and Q8 only "
                                "(the other questions are unknown and left out of the loss)"}],
            "recipe": (f"{ensemble_words}{config['model']}{_shape(config)}; "
                       f"tailored head: Linear(256, 256), ReLU, dropout 0.3, Linear(256, 37), "
                       f"per-question softmax down the GZ2 tree), central 224 px resized to "
                       f"80 px, random rotations and flips, Adam lr {config['lr']:g}, batch "
                       f"{config['batch_size']}, learning rate halved after "
                       f"{patience} epochs without improvement of the "
                       f"validation RMSE, masked MSE over the known labels, best "
                       f"epoch{'s' if len(bests) > 1 else ''} ({best_epochs}) kept"),
            "seconds": elapsed, "epochs": sum(len(m) for m in metrics),
            "machine": _machine(config.get("resolved_precision", "fp32")),
            "command": " && ".join(args.command), "git_commit": meta["git_commit"]},
        "members": None if len(bests) == 1 else [
            {"seed": c["seed"], "plateau_patience": c["plateau_patience"],
             "seconds": float(m[-1][5]), "epochs": len(m), "best_epoch": e}
            for c, m, e in zip(configs, metrics, epochs)],
        "split": {"seed": split["seed"], "val_fraction": split["val_fraction"],
                  "n_val": split["n_val"], "val_ids": split["val_ids"]},
        "evaluation": {
            "tta": None, "overall": _part(plain), "unselected": _part(plain["subsets"]["unselected"]),
            "unselected_rule": "the gz-kaggle-5k galaxies with IDs <= 115091 plus every "
                               "gz-kaggle-partial-3k galaxy of the split",
            "folders": {k: _part(v) for k, v in plain["subsets"].items() if k.startswith("folder:")},
            "per_question": plain["per_question"], "questions": plain["questions"],
            "per_answer": plain["per_answer"],
            "d8": {"overall": scores["d8"]["rmse"],
                   "unselected": scores["d8"]["subsets"]["unselected"]["rmse"]}},
        "merger": {"threshold": MERGER_THRESHOLD, "n_true": int(truth.sum()),
                   "n_flagged": int(flagged.sum()),
                   "precision": hits / max(int(flagged.sum()), 1),
                   "recall": hits / max(int(truth.sum()), 1)},
        "intended_inputs": INTENDED, "limits": LIMITS, "cite": CITE,
    }
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(target, final)
    (ROOT / "docs" / "model_card.rst").write_text(format_card(card))
    print(f"wrote {final} ({card['size_bytes'] / 1e6:.1f} MB), {card_path} and "
          f"docs/model_card.rst: RMSE {plain['rmse']:.4f} overall, "
          f"{card['evaluation']['unselected']['rmse']:.4f} unselected, d8 "
          f"{card['evaluation']['d8']['overall']:.4f} / {card['evaluation']['d8']['unselected']:.4f}")


if __name__ == "__main__":
    main()
