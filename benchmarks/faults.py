"""Fault benchmark: what kill -9, a full disk, a dropping network and bad rows cost.

Each scenario runs the real command line (``python -m galmorph ...``) in a
scratch folder, injects one fault and counts what survived. It prints a table
``fault -> outcome -> rows lost`` with the tracebacks seen on stderr; the goal
is 0 rows lost and 0 tracebacks everywhere (the exit code is 1 otherwise).

Faults:

- ``kill -9`` during ``galmorph prepare``, ``galmorph train`` (a tiny cnn) and
  ``galmorph predict``, then a rerun (``train --resume``) that must complete;
- an unwritable ``--out`` (a path under a regular file): one line, before any work;
- a disk that fills at the end of ``galmorph predict`` and ``galmorph classify``,
  simulated by the test-only ``$GALMORPH_FAULT_INJECT`` (see ``galmorph/_util/_atomic.py``):
  the rows must land in the fallback file in the temporary folder;
- a network that drops connections mid-download (``FakeSDSS.drop`` of
  ``tests/sdss_server.py``, a local server): retried, or reported per row;
- a catalogue of ``--rows`` image-path rows (small JPEGs written by PIL), 5 %
  of them missing or corrupt, classified with a tiny untrained cnn checkpoint.

Examples::

    python benchmarks/faults.py            # 400 galaxies, 10,000 rows: a few minutes
    python benchmarks/faults.py --quick    # 60 galaxies, 500 rows: about a minute
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Outcome:
    fault: str
    outcome: str
    lost: int
    tracebacks: int = 0
    seconds: float = 0.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="shrink everything (--n 60 --rows 500) to check that it works")
    p.add_argument("--n", type=int, default=None,
                   help="synthetic galaxies for prepare / train / predict (default: 400; 60 "
                        "with --quick)")
    p.add_argument("--rows", type=int, default=None,
                   help="catalogue rows of the bad-rows scenario (default: 10000; 500 with "
                        "--quick)")
    p.add_argument("--threads", type=int, default=1,
                   help="OMP/torch threads of each galmorph process (default: 1)")
    p.add_argument("--keep", action="store_true",
                   help="keep the scratch folder (default: removed at the end)")
    args = p.parse_args(argv)
    args.n = args.n or (60 if args.quick else 400)
    args.rows = args.rows or (500 if args.quick else 10000)
    return args


# -- running galmorph -------------------------------------------------------------------
class Runner:
    """Runs ``python -m galmorph`` with a private temporary folder; counts tracebacks."""

    def __init__(self, scratch, threads):
        self.tmp = scratch / "systmp"
        self.tmp.mkdir()
        self.env = {**os.environ, "TMPDIR": str(self.tmp), "OMP_NUM_THREADS": str(threads),
                    "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.env.pop("GALMORPH_FAULT_INJECT", None)
        self.tracebacks = 0

    def _cmd(self, args):
        return [sys.executable, "-m", "galmorph", *map(str, args)]

    def run(self, *args, env=None, timeout=600):
        proc = subprocess.run(self._cmd(args), capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})
        self.tracebacks += proc.stderr.count(TRACEBACK)
        return proc

    def kill_when(self, args, ready, timeout=600):
        """Start galmorph, ``kill -9`` it once ``ready()`` is true. -> killed mid-run?"""
        proc = subprocess.Popen(self._cmd(args), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=self.env)
        start = time.monotonic()
        while proc.poll() is None and time.monotonic() - start < timeout:
            if ready():
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        _, err = proc.communicate()
        self.tracebacks += err.count(TRACEBACK)
        return proc.returncode == -signal.SIGKILL

    def fallbacks(self, pattern):
        return sorted(self.tmp.glob(pattern))


def _rows(path):
    from astropy.table import Table

    return len(Table.read(path, format="ascii.csv" if str(path).endswith(".csv") else None))


# -- the scenarios ----------------------------------------------------------------------
def kill_prepare(ctx):
    cache = ctx.scratch / "cache-kill"
    done = cache / "done.npy"

    def ready():
        try:
            return done.is_file() and np.load(done).sum() >= 1
        except (OSError, ValueError):  # caught while being created
            return False

    args = ["prepare", ctx.data, "--cache", cache, "--size", 32, "--workers", 1, "--no-progress"]
    ctx.run.env["GALMORPH_PREPARE_CHUNK"] = "8"  # small chunks: something to resume
    killed = ctx.run.kill_when(args, ready)
    at = int(np.load(done).sum()) * 8 if done.is_file() else 0
    proc = ctx.run.run(*args)
    from galmorph.data.cache import open_prepared

    n = len(open_prepared(cache)) if proc.returncode == 0 else 0
    resumed = json.loads((cache / "meta.json").read_text()).get("resumed_from")
    how = f"killed after {min(at, ctx.n)} of {ctx.n} images" if killed else "not killed in time"
    return f"{how}; rerun resumed from {resumed}, {n}/{ctx.n} cached", ctx.n - n


def kill_train(ctx):
    run_dir, epochs = ctx.scratch / "run-kill", 3
    metrics = run_dir / "metrics.csv"
    args = ["train", ctx.data, "--model", "cnn", "--out", run_dir, "--epochs", epochs,
            "--batches-per-epoch", 3, "--batch-size", 8, "--size", 32,
            "--model-option", "input_size=32", "--cache", ctx.scratch / "cache-train",
            "--workers", 1, "--device", "cpu", "--no-progress", "--no-augment"]
    killed = ctx.run.kill_when(args, lambda: metrics.is_file())
    before = len(metrics.read_text().splitlines()) - 1 if metrics.is_file() else 0
    proc = ctx.run.run("train", "--resume", run_dir, "--no-progress")
    import pandas as pd

    seen = list(pd.read_csv(metrics)["epoch"]) if metrics.is_file() else []
    ok = proc.returncode == 0 and seen == list(range(1, epochs + 1))
    how = f"killed after {before} of {epochs} epochs" if killed else "not killed in time"
    return (f"{how}; --resume {'finished' if ok else 'FAILED'}: epochs {seen}",
            epochs - len(set(seen)))


def kill_predict(ctx):
    out = ctx.scratch / "kill" / "predictions.csv"
    partial = out.with_name(out.name + ".partial")

    def ready():
        return partial.is_file() and partial.stat().st_size > 0 and \
            partial.read_text().count("\n") > 9

    args = ["predict", ctx.ckpt, ctx.images, "--out", out, "--chunk-size", 4, "--workers", 0,
            "--device", "cpu", "--no-progress"]
    killed = ctx.run.kill_when(args, ready)
    kept = partial.read_text().count("\n") - 1 if partial.is_file() else 0
    passed_for_full = out.exists()
    proc = ctx.run.run(*args)
    n = _rows(out) if proc.returncode == 0 else 0
    how = (f"killed with {kept} rows in .partial{' (AND a final file!)' if passed_for_full else ''}"
           if killed else "not killed in time")
    return f"{how}; rerun wrote {n}/{ctx.n}", ctx.n - n + int(passed_for_full)


def unwritable_out(ctx):
    blocker = ctx.scratch / "a-file"
    blocker.write_text("not a folder")
    start = time.monotonic()
    proc = ctx.run.run("predict", ctx.ckpt, ctx.images, "--out", blocker / "p.csv")
    lines = proc.stderr.strip().splitlines()
    good = proc.returncode == 1 and len(lines) == 1 and "--out" in lines[0]
    return (f"exit {proc.returncode} in {time.monotonic() - start:.1f} s, "
            f"{'one line naming --out' if good else 'UNCLEAR: ' + proc.stderr[-80:]}"), 0


def _fallback_outcome(ctx, proc, pattern):
    """(outcome, rows lost) of a run whose --out failed: the rows must be in a fallback file
    matching ``pattern`` in the temporary folder, named on stderr."""
    saved = ctx.run.fallbacks(pattern)
    named = bool(saved) and str(saved[-1]) in proc.stderr
    n = _rows(saved[-1]) if saved else 0
    return (f"exit {proc.returncode}; {n} rows in the fallback"
            f"{', named on stderr' if named else ', NOT named'}"), ctx.n - n


def full_disk_predict(ctx):
    out = ctx.scratch / "full" / "predictions.csv"
    proc = ctx.run.run("predict", ctx.ckpt, ctx.images, "--out", out, "--device", "cpu",
                       "--no-progress", env={"GALMORPH_FAULT_INJECT": f"ENOSPC:{out.parent}/*"})
    return _fallback_outcome(ctx, proc, "galmorph-predictions-*.csv")


def full_disk_classify(ctx):
    out = ctx.scratch / "full" / "classified.ecsv"
    catalog = ctx.scratch / "synthetic-catalog.csv"
    catalog.write_text("path\n" + "".join(f"{p}\n" for p in sorted(ctx.images.glob("*.jpg"))))
    proc = ctx.run.run("classify", catalog, "--model", ctx.ckpt, "--out", out, "--device",
                       "cpu", "--no-progress", env={"GALMORPH_FAULT_INJECT": f"ENOSPC:{out}"})
    return _fallback_outcome(ctx, proc, "galmorph-classified-*.ecsv")


def dropping_network(ctx):
    sys.path.insert(0, str(REPO / "tests"))
    from astropy.table import Table
    from sdss_server import FakeSDSS

    from galmorph.astro.classifier import MorphologyClassifier

    n = 12 if ctx.quick else 40
    x = Table({"ra": 150.0 + 0.01 * np.arange(n), "dec": np.full(n, 2.0)})
    clf = MorphologyClassifier(str(ctx.ckpt), device="cpu", progress=False, cache_dir=False,
                               retries=3, timeout=10, workers=4)
    with FakeSDSS() as sdss, sdss.configure():
        for ra in x["ra"][::2]:
            sdss.drop(float(ra), 2.0, times=1)   # every other download is cut once
        sdss.drop(float(x["ra"][1]), 2.0)        # and one every time
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = clf.predict(x)
    failed = [str(e) for e in out["predict_error"] if e]
    reason = "dropped" if failed and all("dropped" in e for e in failed) else "?"
    return (f"{int(out['predict_ok'].sum())}/{n} classified after {n // 2} cut downloads; "
            f"{len(failed)} always cut: failed, reported ({reason})"), n - len(out)


def bad_rows(ctx):
    from PIL import Image

    folder, rng = ctx.scratch / "small", np.random.default_rng(0)
    folder.mkdir()
    good = []
    for k in range(8):
        pix = rng.integers(0, 60, (96, 96, 3), dtype=np.uint8)
        pix[32:64, 32:64] = rng.integers(100, 255, 3, dtype=np.uint8)
        good.append(folder / f"g{k}.jpg")
        Image.fromarray(pix).save(good[-1], quality=90)
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(good[0].read_bytes()[:300])
    n = ctx.rows
    bad = set(rng.choice(n, size=n // 20, replace=False).tolist())
    paths = [(folder / f"missing{i}.jpg" if i % 2 else corrupt) if i in bad else good[i % 8]
             for i in range(n)]
    catalog = ctx.scratch / "catalog.csv"
    catalog.write_text("objid,path\n" + "".join(f"{i},{p}\n" for i, p in enumerate(paths)))
    out, report = ctx.scratch / "classified.ecsv", ctx.scratch / "failed.json"
    proc = ctx.run.run("classify", catalog, "--model", ctx.small_ckpt, "--out", out, "--report",
                       report, "--device", "cpu", "--no-progress")
    from astropy.table import Table

    t = Table.read(out) if out.is_file() else Table({"predict_ok": []})
    rep = json.loads(report.read_text()) if report.is_file() else {"skipped": []}
    reported = {r["row"] for r in rep["skipped"]}
    failed = set(np.flatnonzero(~np.asarray(t["predict_ok"], bool)).tolist())
    return (f"exit {proc.returncode}; {int(np.sum(t['predict_ok']))} classified, "
            f"{len(failed)} failed ({len(bad)} bad), {len(reported & bad)} reported"),\
        n - len(t) + len(bad - reported)


SCENARIOS = [
    ("kill -9 during prepare, rerun", kill_prepare),
    ("kill -9 during train, --resume", kill_train),
    ("kill -9 during predict, rerun", kill_predict),
    ("unwritable --out (predict)", unwritable_out),
    ("full disk at end of predict", full_disk_predict),
    ("full disk at end of classify", full_disk_classify),
    ("network drops mid-download", dropping_network),
    ("catalogue rows, 5 % bad", bad_rows),
]


# -- set-up and the table ---------------------------------------------------------------
class Context:
    """The scratch folder, the synthetic data and the tiny checkpoints shared by scenarios."""

    def __init__(self, args, scratch):
        import torch

        from galmorph.models import build_model, save_checkpoint
        from galmorph.synth import IMAGE_DIR, make_synthetic

        self.scratch, self.quick, self.n, self.rows = scratch, args.quick, args.n, args.rows
        self.run = Runner(scratch, args.threads)
        self.data = make_synthetic(scratch / "data", n=args.n, seed=0, workers=1,
                                   progress=False)
        self.images = self.data / IMAGE_DIR
        torch.manual_seed(0)
        model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
        self.ckpt = save_checkpoint(scratch / "tiny.pt", model,
                                    preprocessing={"crop": 224, "size": 32})
        self.small_ckpt = save_checkpoint(scratch / "tiny-small.pt", model,
                                          preprocessing={"crop": 64, "size": 32})


def run_scenario(ctx, name, scenario):
    before, start = ctx.run.tracebacks, time.monotonic()
    try:
        outcome, lost = scenario(ctx)
        extra = 0
    except Exception as exc:  # the benchmark must print its table whatever happens
        outcome, lost, extra = f"BENCHMARK ERROR {type(exc).__name__}: {exc}"[:90], -1, 1
    return Outcome(name, outcome, lost, ctx.run.tracebacks - before + extra,
                   time.monotonic() - start)


def print_table(rows):
    width = max(len(r.outcome) for r in rows)
    print(f"{'fault':32s} {'outcome':{width}s} {'rows lost':>9s} {'tracebacks':>10s} "
          f"{'seconds':>7s}")
    for r in rows:
        lost = "?" if r.lost < 0 else str(r.lost)
        print(f"{r.fault:32s} {r.outcome:{width}s} {lost:>9s} {r.tracebacks:>10d} "
              f"{r.seconds:7.1f}")


def main(argv=None):
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="galmorph-faults-"))
    start = time.monotonic()
    try:
        ctx = Context(args, scratch)
        rows = [run_scenario(ctx, name, fn) for name, fn in SCENARIOS]
    finally:
        if args.keep:
            print(f"scratch folder kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"galmorph fault benchmark: {args.n} synthetic galaxies, {args.rows} catalogue rows, "
          f"{time.monotonic() - start:.0f} s in all\n")
    print_table(rows)
    return 0 if all(r.lost == 0 and r.tracebacks == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
