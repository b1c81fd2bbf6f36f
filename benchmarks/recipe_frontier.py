"""Validation RMSE per CPU-second: train candidate recipes for a fixed wall-clock budget.

Each candidate trains with ``galmorph.training.train()`` on gz-kaggle-5k plus
gz-kaggle-partial-3k (one split stratified by folder, the same for every
candidate) for ``--budget`` seconds, then its ``best.pt`` is scored on the
validation split over the known labels: overall and on the unselected part
(gz-kaggle-5k IDs <= 115091 plus every partial-3k galaxy), with 95 % bootstrap
intervals. The table also gives each network's compute (GMAC per image,
measured with ``torch.utils.flop_counter``) and its training speed (images/s).

    python benchmarks/recipe_frontier.py --budget 1800          # the issue's 30 minutes
    python benchmarks/recipe_frontier.py --budget 300 --only resnet18-cpu cnn

Run it on idle cores: a second busy process halves every figure. A rerun resumes
each unfinished candidate with what is left of its budget.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

#: name -> (model, model options, input size)
CANDIDATES = {
    "cnn": ("cnn", {}, 80),
    "resnet18": ("resnet18", {}, 80),
    "resnet18-tailored": ("resnet18-tailored", {}, 80),
    "resnet18-cpu": ("resnet18-cpu", {}, 80),                      # half width, tree head
    "resnet18-cpu@64": ("resnet18-cpu", {"input_size": 64}, 64),   # and 64 px input
    "resnet18@64": ("resnet18", {"input_size": 64}, 64),
}


def gmac_per_image(model, size):
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, size, size))
    return counter.get_total_flops() / 2e9


def plain_loop_images_per_s(name, seconds=12.0, batch=64):
    """Training images/s of a plain loop: Adam steps on one fixed in-memory batch.

    The same network, precision and memory layout as ``galmorph train``, but no
    data reading and no augmentation: the network's compute limit on this machine.
    """
    from galmorph.models import build_model
    from galmorph.runtime import (autocast, maybe_channels_last, resolve_device,
                                  resolve_precision)

    model_name, options, size = CANDIDATES[name]
    device = resolve_device("auto")
    precision = resolve_precision(device, "auto")
    torch.manual_seed(0)
    model = build_model(model_name, **options).to(device).train()
    x = torch.rand(batch, 3, size, size, device=device)       # (B, 3, H, W)
    model, x = maybe_channels_last(model, x, device, precision)
    y = torch.rand(batch, 37, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        with autocast(device, precision):
            loss = (model(x).float() - y).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):                                         # warm-up: oneDNN primitives
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return n * batch / (time.perf_counter() - start)


def cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set(next(l for l in text.splitlines() if l.startswith("flags")).split(":")[1].split())
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags)


def run_candidate(name, budget, out, folders, unselected, seed, batches_per_epoch):
    from galmorph.models import build_model
    from galmorph.runtime import resolve_device, resolve_precision
    from galmorph.training.config import TrainConfig, read_metrics
    from galmorph.inference.evaluation import evaluate
    from galmorph.training import train

    model, options, size = CANDIDATES[name]
    run = out / name
    resume = (run / "config.json").is_file()
    # A rerun resumes where the last one stopped, with what is left of the budget
    # (elapsed_s counts training time over every resume).
    done = max((r["elapsed_s"] for r in read_metrics(run)), default=0.0) if resume else 0.0
    left = max(budget - done, 0.0)
    config = TrainConfig(data=[str(f) for f in folders], out=str(run), model=model,
                         model_options=options, size=size, epochs=100_000, seed=seed,
                         batches_per_epoch=batches_per_epoch,
                         time_limit=left, progress=False, plateau_patience=5,
                         resume=resume)
    start = time.perf_counter()
    if left > 0:
        train(config)
    wall = time.perf_counter() - start
    # galmorph train stops at its time limit or on SIGINT/SIGTERM: only a signal ends it
    # short of the budget.
    stopped_early = wall < left
    if not (run / "best.pt").is_file():
        return {"candidate": name, "model": model, "size": size, "epochs": 0, "rmse": None,
                "stopped_early": stopped_early,
                "note": f"no epoch of {batches_per_epoch} batches finished in {wall:.0f} s"}
    result = evaluate(run / "best.pt", subsets={"unselected": unselected})
    rows = read_metrics(run)
    part = result["subsets"]["unselected"]
    return {
        "candidate": name, "model": model, "options": options, "size": size,
        "gmac_per_image": gmac_per_image(build_model(model, **options), size),
        "train_images_per_s": statistics.median(r["images_per_s"] for r in rows) if rows else None,
        "plain_loop_images_per_s": plain_loop_images_per_s(name),
        "epochs": len(rows), "wall_s": done + wall,
        "precision": resolve_precision(resolve_device("auto"), "auto"),
        "rmse": result["rmse"], "rmse_ci95": result["rmse_ci95"],
        "unselected_rmse": part["rmse"], "unselected_ci95": part["rmse_ci95"],
        "n_val": result["n_galaxies"], "n_unselected": part["n_galaxies"],
        "mean_baseline": result["baselines"]["mean"], "stopped_early": stopped_early,
    }


def save(path, result):
    """Add one candidate's result to the budget's JSON file, so separate runs accumulate."""
    rows = json.loads(path.read_text()) if path.is_file() else []
    rows = [r for r in rows if r["candidate"] != result["candidate"]] + [result]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1))


def add_plain_loops(path, names):
    """Time the plain loop of ``names`` in this one run and store it beside their results."""
    rows = {r["candidate"]: r for r in json.loads(path.read_text())} if path.is_file() else {}
    for name in names:
        speed = plain_loop_images_per_s(name)
        train_speed = rows.get(name, {}).get("train_images_per_s")
        ratio = f"  galmorph train / plain loop {train_speed / speed:.2f}" if train_speed else ""
        print(f"{name:20s} plain loop {speed:6.0f} img/s{ratio}", flush=True)
        if name in rows:
            save(path, {**rows[name], "plain_loop_images_per_s": speed})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=1800.0,
                        help="training seconds per candidate (default: 1800)")
    parser.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), default=None,
                        help="candidates to run (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "frontier",
                        help="run folders (default: runs/frontier; reruns resume them)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plain-loop-only", action="store_true",
                        help="only time each candidate's plain loop (fixed batch, no data) "
                             "and add it to the budget's saved results")
    parser.add_argument("--batches-per-epoch", type=int, default=25,
                        help="validate (and step the schedule) every N batches, so short "
                             "budgets still see several validations (default: 25)")
    args = parser.parse_args()

    print(f"recipe frontier: {args.budget:g} s per candidate, CPU flags: {cpu_flags()}, "
          f"{torch.get_num_threads()} threads", flush=True)
    if args.plain_loop_only:                  # no data needed: skip reading the catalogues
        return add_plain_loops(args.out / f"frontier-{int(args.budget)}s.json",
                               args.only or list(CANDIDATES))
    from galmorph.data.catalogs import read_kaggle

    folders = [args.data / "gz-kaggle-5k", args.data / "gz-kaggle-partial-3k"]
    ids5k = read_kaggle(folders[0], check_images=False).ids
    unselected = [int(i) for i in ids5k if i <= 115091]
    unselected += [int(i) for i in read_kaggle(folders[1], check_images=False).ids]
    results = []
    for name in args.only or list(CANDIDATES):
        r = run_candidate(name, args.budget, args.out, folders, unselected, args.seed,
                          args.batches_per_epoch)
        save(args.out / f"frontier-{int(args.budget)}s.json", r)
        if r["rmse"] is None:
            print(f"{name:20s} {r['note']}", flush=True)
        else:
            results.append(r)
            print(f"{name:20s} {r['gmac_per_image']:6.3f} GMAC  "
                  f"{r['train_images_per_s']:6.0f} img/s  "
                  f"(plain loop {r['plain_loop_images_per_s']:.0f})  "
                  f"{r['epochs']:4d} ep  RMSE {r['rmse']:.4f} ({r['rmse_ci95'][0]:.4f}-"
                  f"{r['rmse_ci95'][1]:.4f})  unselected {r['unselected_rmse']:.4f} "
                  f"({r['unselected_ci95'][0]:.4f}-{r['unselected_ci95'][1]:.4f})  "
                  f"mean {r['mean_baseline']:.4f}  [{r['precision']}]", flush=True)
        if r["stopped_early"]:
            print(f"{name} was stopped before its {args.budget:g} s (a signal): not starting "
                  f"the next candidates; rerun to resume it", flush=True)
            break
    if results:
        best = min(results, key=lambda r: r["rmse"])
        print(f"best at {args.budget:g} s: {best['candidate']} (RMSE {best['rmse']:.4f})")


if __name__ == "__main__":
    main()
