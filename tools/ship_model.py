"""Turn a finished training run into the model shipped in the package, with its card.

    python tools/ship_model.py /work/runs/shipped --data-root ../shared/data \\
        --command "galmorph train ... " [--command "galmorph train --resume ..."]

Several run folders (trained on the same data and split) ship as one ensemble,
the mean of their ``best.pt`` (:mod:`galmorph.models.ensemble`).
``--shipped-member COMMIT`` adds the model shipped at an earlier commit (read
from git, with its card) as a member; ``--dtype int8`` stores the weights as
int8 with one scale per output channel, half the size of float16.

1. Writes ``galmorph/weights/gz2_resnet18_cpu.pt``: the run's ``best.pt`` (or
   the ensemble of the runs') as float16 (or int8) weights with its preprocessing, the
   exact commands, git commit, data and split in its meta (no optimizer state).
2. Scores *that file* (its stored weights, as users get them) on the run's
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
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from galmorph._util._text import count
from galmorph.data.cache import combine, prepare
from galmorph.inference.evaluation import evaluate
from galmorph.inference.engine import predict_arrays
from galmorph.data.populations import unselected_mask
from galmorph.metrics import rmse
from galmorph.models.card import format_card
from galmorph.models.checkpoint import load_checkpoint, save_checkpoint, sha256_of
from galmorph.models.ensemble import ensemble_checkpoints
from galmorph.paths import SHIPPED_MODEL, WEIGHTS_DIR
from galmorph.schema import column_index

ROOT = Path(__file__).resolve().parents[1]
MERGER_THRESHOLD = 0.54

INTENDED = ("SDSS gri colour composites (JPEG, PNG or FITS) centred on one galaxy at the GZ2 "
            "scale: 424 x 424 pixels at 0.02 x petroR90_r arcsec per pixel, as the Galaxy Zoo 2 "
            "and Kaggle images are, and as galmorph's SDSS cutouts are made. The model keeps the "
            "central 224 pixels and resizes them to 80. Other surveys, bands, scales or "
            "off-centre galaxies are outside what it was trained on.")
LIMITS = [
    "The validation scores are slightly optimistic: the best epoch of each run and the members "
    "of the ensemble were chosen on the same validation split, each by a rule written down "
    "before it was scored (BENCHMARKS.md, \"The shipped model\").",
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
]
CIGAR = ("At 80 px, smooth cigar-shaped galaxies can be taken for edge-on disks. The {n} "
         "validation galaxies that volunteers called smooth and mostly cigar-shaped get "
         "{val_model:.2f} for features or disk where their Kaggle labels give {val_label:.2f} (an "
         "excess of {excess:+.2f}, 95 % interval {lo:+.2f} to {hi:+.2f}, against {others} for round "
         "and in-between smooth galaxies; benchmarks/smooth_shapes.py), and `galmorph demo`'s "
         "two cigar-shaped (Ec) examples get {model} for features or disk, where the GZ2 "
         "release gives {release} (part of that gap is the difference between the two label "
         "sets, above).")
CITE = ("Cite galmorph (CITATION.cff), Willett et al. (2013, MNRAS 435, 2835) for Galaxy Zoo 2 "
        "and its classifications, Dieleman, Willett & Dambre (2015, MNRAS 450, 1441) for the "
        "tree normalisation and rotation augmentation, and He et al. (2016) for ResNet.")


def _network(model, config):
    """One network in words, its parenthesis left open for the head."""
    width = config.get("width", 64)
    if width == 32:
        return f"{model} (ResNet-18 at half width, 32-256 channels, a quarter of its compute"
    full = ", torchvision's full width" if width == 64 else ""
    return (f"{model} with --model-option width={width} (ResNet-18 at {width}-{8 * width} "
            f"channels{full}, with its max-pooled stem")


def _head(config):
    return (f"tailored head: Linear({8 * config.get('width', 64)}, {config['head_hidden']}), "
            f"ReLU, dropout {config['dropout']:g}, Linear({config['head_hidden']}, 37), "
            f"per-question softmax down the GZ2 tree)")


def _recipe_lead(members):
    """The networks of the recipe: one, several seeds of one, or groups of different widths."""
    groups = {}
    for m in members:
        groups.setdefault(m["width"], []).append(m)
    if len(members) == 1:
        m = members[0]
        return f"{_network(m['model'], m['net'])}; {_head(m['net'])}"
    if len(groups) == 1:
        m = members[0]
        return (f"the mean of {len(members)} runs with different --seed and the same split, "
                f"each {_network(m['model'], m['net'])}; {_head(m['net'])}")
    parts = [f"{len(g)} {'runs with different --seed' if len(g) > 1 else 'run'} of "
             f"{_network(g[0]['model'], g[0]['net'])}; {_head(g[0]['net'])}"
             for g in groups.values()]
    return f"the mean of {len(members)} runs with the same split: " + " and ".join(parts)


def _flag(command, flag, default):
    """The value of ``flag`` in a shell command, or ``default``."""
    words = shlex.split(command.split(" (")[0])
    return type(default)(words[words.index(flag) + 1]) if flag in words else default


def _run_member(run, commit):
    """A member from a training run folder: its config and split (the rest by :func:`_load_run`)."""
    config = json.loads((run / "config.json").read_text())
    split = json.loads((run / "split.json").read_text())
    return {"run": run, "model": config["model"], "data": [Path(d).name for d in config["data"]],
            "folders": [Path(d) for d in config["data"]], "cache": config["cache"],
            "config": config, "split": split, "val_ids": split["val_ids"],
            "seed": config["seed"], "plateau_patience": config["plateau_patience"],
            "git_commit": commit, "machine": _machine(config.get("resolved_precision", "fp32")),
            "command": None, "source": str(run)}


def _load_run(member):
    """Add a run member's best checkpoint, its time and its epochs (metrics.csv)."""
    run = member["run"]
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().split()[1:]]
    ckpt = load_checkpoint(run / "best.pt")
    member.update(ckpt=ckpt, net=ckpt.config, width=ckpt.config.get("width"),
                  seconds=float(rows[-1][5]) if rows else 0.0, epochs=len(rows),
                  best_epoch=ckpt.meta.get("epoch"))
    return member


def _shipped_member(commit, parser):
    """A member from the model shipped at an earlier galmorph commit (weights and card, from git)."""
    from galmorph.training.config import TrainConfig

    with tempfile.TemporaryDirectory(prefix="galmorph-member-") as tmp:
        files = {}
        for ext in ("pt", "json"):
            proc = subprocess.run(
                ["git", "show", f"{commit}:galmorph/weights/{SHIPPED_MODEL}.{ext}"],
                cwd=ROOT, capture_output=True)
            if proc.returncode != 0:
                parser.error(f"--shipped-member {commit}: {proc.stderr.decode().strip()}")
            files[ext] = Path(tmp) / f"member.{ext}"
            files[ext].write_bytes(proc.stdout)
        card = json.loads(files["json"].read_text())
        if sha256_of(files["pt"]) != card["sha256"]:
            parser.error(f"--shipped-member {commit}: its weights do not match its card's sha256")
        ckpt = load_checkpoint(files["pt"])
    if ckpt.name == "ensemble":
        parser.error(f"--shipped-member {commit}: that model is an ensemble; give its members")
    tr, command = card["training"], card["training"]["command"]
    commit = subprocess.run(["git", "rev-parse", commit], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    defaults = TrainConfig()
    return {"ckpt": ckpt, "model": ckpt.name, "net": ckpt.config,
            "width": ckpt.config.get("width"), "data": [d["name"] for d in tr["data"]],
            "config": None, "recipe": tr["recipe"], "split": card["split"],
            "val_ids": card["split"]["val_ids"],
            "seed": _flag(command, "--seed", defaults.seed),
            "plateau_patience": _flag(command, "--plateau-patience", defaults.plateau_patience),
            "seconds": float(tr["seconds"]), "epochs": int(tr["epochs"]),
            "best_epoch": ckpt.meta.get("epoch"), "git_commit": tr["git_commit"],
            "machine": tr["machine"],
            "command": f"{command} (the model shipped at galmorph commit {commit})",
            "source": f"--shipped-member {commit}"}


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


def _smooth_shape_excess(labels, pred, shape):
    """Smooth galaxies (``Class1.1 >= 0.5``) whose most voted Q7 answer is ``shape`` (0, 1, 2):
    their number, mean labelled and predicted ``Class1.2``, and the mean excess of the
    prediction with a 95 % bootstrap interval (as ``benchmarks/smooth_shapes.py``)."""
    from galmorph._util._stats import bootstrap_means

    q7 = labels[:, [column_index(c) for c in ("Class7.1", "Class7.2", "Class7.3")]]
    rows = (labels[:, column_index("Class1.1")] >= 0.5) & (np.nan_to_num(q7).argmax(1) == shape)
    disk = column_index("Class1.2")
    excess = pred[rows, disk] - labels[rows, disk]
    means = bootstrap_means(excess, 2000, np.random.default_rng(0))
    return {"n": int(rows.sum()), "val_label": labels[rows, disk].mean(),
            "val_model": pred[rows, disk].mean(), "excess": excess.mean(),
            "lo": np.percentile(means, 2.5), "hi": np.percentile(means, 97.5)}


def _cigar_limit(path, labels, pred):
    """The cigar-shaped limit: the validation split's smooth galaxies by shape (``labels`` and
    ``pred``, its rows), and what the model at ``path`` says of the demo's Ec examples."""
    from galmorph.astro.classifier import MorphologyClassifier
    from galmorph.data.examples import example_galaxies

    galaxies = example_galaxies()
    cigars = galaxies[galaxies["gz2_class"] == "Ec"]
    demo = MorphologyClassifier(path, progress=False).predict(cigars)

    def both(values):
        return " and ".join(f"{v:.2f}" for v in values)

    others = " and ".join(f"{_smooth_shape_excess(labels, pred, k)['excess']:+.2f}" for k in (0, 1))
    return CIGAR.format(**_smooth_shape_excess(labels, pred, 2), others=others,
                        model=both(demo["Class1.2"]), release=both(cigars["gz2_Class1.2"]))


def _part(result):
    return {k: result[k] for k in ("n_galaxies", "rmse", "rmse_ci95", "baselines")}


def _calibrate(target, data_root):
    """Fit the trust calibration of ``target`` in place (galmorph.trust.fit.calibrate) on the
    shared labelled folders, with gz-kaggle-unlabelled-22k for the OOD threshold, and run
    benchmarks/trust.py's held-out checks; returns the card's ``trust`` entry."""
    from galmorph.trust.fit import calibrate

    trust = calibrate(target, [data_root / "gz-kaggle-5k", data_root / "gz-kaggle-partial-3k"],
                      reference=data_root / "gz-kaggle-unlabelled-22k" / "images", out=target,
                      progress=False)
    m = trust.mergers
    entry = {"measured": trust.measured,
             "merger_prob": {"intercept": m.intercept, "slope": m.slope,
                             "flag_threshold": m.flag_threshold, "fitted_on": m.fitted_on},
             "ood_threshold": trust.ood.threshold, "ood_fitted_on": trust.ood.fitted_on}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trust.json"
        env = {**os.environ, "GALMORPH_MODEL": str(target)}
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "trust.py"), "--json",
                        str(out), "--n", "300", "--rounds", "1"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        checks = json.loads(out.read_text())
    entry.update({k: checks[k] for k in ("mergers_gz2", "junk", "ood_unlabelled")})
    return entry


def _trust_only(data_root):
    """``--trust-only``: recalibrate the shipped file and rewrite its card and card page."""
    final = WEIGHTS_DIR / f"{SHIPPED_MODEL}.pt"
    card_path = WEIGHTS_DIR / f"{SHIPPED_MODEL}.json"
    card = json.loads(card_path.read_text())
    target = final.with_name(f"{SHIPPED_MODEL}.candidate.pt")
    shutil.copyfile(final, target)
    card["trust"] = _calibrate(target, data_root)
    card["size_bytes"], card["sha256"] = target.stat().st_size, sha256_of(target)
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(target, final)
    (ROOT / "docs" / "model_card.rst").write_text(format_card(card))
    print(f"recalibrated {final}; card updated")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="*",
                        help="the training run folder; several ship as their ensemble")
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--command", action="append", default=[],
                        help="a command that trained the run, in order (repeat for resumes)")
    parser.add_argument("--trust-only", action="store_true",
                        help="only refit the shipped model's trust calibration (intervals, "
                             "merger_prob, OOD; galmorph.trust) and update its card")
    parser.add_argument("--commit", default=None, help="galmorph commit the run was trained "
                        "with (default: HEAD)")
    parser.add_argument("--shipped-member", action="append", default=[], metavar="COMMIT",
                        help="add the model shipped at this earlier galmorph commit as a member "
                             "(its weights and card are read from git; it must share the split)")
    parser.add_argument("--dtype", choices=("float16", "int8"), default="float16",
                        help="how the shipped file stores the weights (default: float16; int8 "
                             "keeps one scale per output channel and is half the size)")
    args = parser.parse_args()
    if args.trust_only:
        return _trust_only(args.data_root)
    if not args.run or not args.command:
        parser.error("give the training run folder(s) and --command (or --trust-only)")

    commit = args.commit or _git_commit()
    members = [_run_member(run, commit) for run in args.run]
    members += [_shipped_member(c, parser) for c in args.shipped_member]
    first = members[0]
    config, split = first["config"], first["split"]
    for m in members[1:]:
        if m["val_ids"] != first["val_ids"] or m["data"] != first["data"]:
            parser.error(f"{m['source']} was trained on other data or another split than "
                         f"{first['source']}; an ensemble's members must share both")
        if m["config"] is None and f"Adam lr {config['lr']:g}, batch {config['batch_size']}," \
                not in m["recipe"]:
            parser.error(f"{m['source']} was trained with another learning rate or batch than "
                         f"{first['source']}; this card's recipe could not describe it")
    members = [_load_run(m) if "run" in m else m for m in members]
    bests = [m["ckpt"] for m in members]
    best = bests[0]
    model = best.model if len(bests) == 1 else ensemble_checkpoints(bests)[0]
    epochs = [m["best_epoch"] for m in members]
    folders = first["folders"]
    commands = args.command + [m["command"] for m in members if m["command"]]
    machines = list(dict.fromkeys(m["machine"] for m in members))
    dtype = getattr(torch, args.dtype)
    WEIGHTS_DIR.mkdir(exist_ok=True)
    final = WEIGHTS_DIR / f"{SHIPPED_MODEL}.pt"
    target = WEIGHTS_DIR / f"{SHIPPED_MODEL}.candidate.pt"  # renamed once its card is written
    card_path = WEIGHTS_DIR / f"{SHIPPED_MODEL}.json"
    meta = {"commands": commands, "git_commit": commit,
            "data": [f.name for f in folders], "val_ids": split["val_ids"],
            "epoch": epochs if len(epochs) > 1 else epochs[0], "trained_on": "; ".join(machines)}
    save_checkpoint(target, model, preprocessing=best.preprocessing, meta=meta, dtype=dtype)
    shipped = load_checkpoint(target)

    datas = [prepare(f, crop=best.preprocessing["crop"], size=best.preprocessing["size"],
                     cache_dir=c, progress=False)
             for f, c in zip(folders, first["cache"])]
    data = combine(datas)
    ids = np.asarray(data.ids)
    unselected = ids[np.concatenate([unselected_mask(f, ids[data.folder_index == k])
                                     for k, f in enumerate(folders)])]
    scores = {}
    for tta in (None, "d8"):
        scores[tta] = evaluate(shipped, data, split=split["val_ids"], tta=tta,
                               subsets={"unselected": unselected.tolist()})
    plain = scores[None]
    val = np.flatnonzero(np.isin(ids, split["val_ids"]))
    labels = np.asarray(data.labels[val], float)
    pred = predict_arrays(shipped.model, data.images[val], batch_size=256)
    unrounded = predict_arrays(model, data.images[val], batch_size=256)  # before storage
    exact, drift = rmse(unrounded, labels), float(np.abs(pred - unrounded).max())
    merger = column_index("Class8.6")
    truth = labels[:, merger] >= MERGER_THRESHOLD
    flagged = pred[:, merger] >= MERGER_THRESHOLD
    hits = int((truth & flagged).sum())

    elapsed = sum(m["seconds"] for m in members)
    best_epochs = ", ".join(str(e) for e in epochs)
    patience = [m["plateau_patience"] for m in members]
    patience = (str(patience[0]) if len(set(patience)) == 1 else
                ", ".join(map(str, patience[:-1])) + f" and {patience[-1]} (by member)")
    storage = (f"Weights are stored as float16; predictions agree with the unrounded weights' "
               f"to {drift:.0e} at most." if args.dtype == "float16" else
               f"Weights are stored as int8 with one float32 scale per output channel (biases "
               f"and norms as float16), so that {count(len(members), 'network')} "
               f"fit{'s' if len(members) == 1 else ''} in 25 MB; "
               f"its vote fractions differ from the unrounded weights' by {drift:.3f} at most, "
               f"and the unrounded weights score {exact:.5f} overall, the stored ones "
               f"{plain['rmse']:.5f}.")
    limits = [storage if limit.startswith("Weights are stored") else limit for limit in LIMITS]
    limits.append(_cigar_limit(target, labels, pred))
    card = {
        "name": SHIPPED_MODEL, "model": shipped.name,
        "n_parameters": int(sum(p.numel() for p in shipped.model.parameters())),
        "dtype": args.dtype, "size_bytes": target.stat().st_size, "sha256": sha256_of(target),
        "preprocessing": shipped.preprocessing,
        "created": time.strftime("%Y-%m-%d"),
        "training": {
            "data": [{"name": folders[0].name, "n": len(datas[0]),
                      "labels": "all 37 answers; IDs <= 115091 are an unselected sample, the "
                                "rest confidently classified galaxies"},
                     {"name": folders[1].name, "n": len(datas[1]),
                      "labels": "unselected galaxies labelled for Q1, Q2, Q6, Q7 and Q8 only "
                                "(the other questions are unknown and left out of the loss)"}],
            "recipe": (f"{_recipe_lead(members)}, central 224 px resized to "
                       f"80 px, random rotations and flips, Adam lr {config['lr']:g}, batch "
                       f"{config['batch_size']}, learning rate halved after "
                       f"{patience} epochs without improvement of the "
                       f"validation RMSE, masked MSE over the known labels, best "
                       f"epoch{'s' if len(bests) > 1 else ''} ({best_epochs}) kept"),
            "seconds": elapsed, "epochs": sum(m["epochs"] for m in members),
            "machine": "; ".join(machines),
            "command": " && ".join(commands), "git_commit": commit},
        "members": None if len(members) == 1 else [
            {k: m[k] for k in ("seed", "plateau_patience", "seconds", "epochs", "best_epoch",
                               "width", "git_commit")} for m in members],
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
        "intended_inputs": INTENDED, "limits": limits, "cite": CITE,
    }
    card["trust"] = _calibrate(target, args.data_root)
    card["size_bytes"], card["sha256"] = target.stat().st_size, sha256_of(target)
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(target, final)
    (ROOT / "docs" / "model_card.rst").write_text(format_card(card))
    print(f"wrote {final} ({card['size_bytes'] / 1e6:.1f} MB), {card_path} and "
          f"docs/model_card.rst: RMSE {plain['rmse']:.4f} overall, "
          f"{card['evaluation']['unselected']['rmse']:.4f} unselected, d8 "
          f"{card['evaluation']['d8']['overall']:.4f} / {card['evaluation']['d8']['unselected']:.4f}")


if __name__ == "__main__":
    main()
