"""The offline end-to-end demo: real galaxies with the shipped model, then synthetic
galaxies -> cache -> train -> evaluate -> predict.

:func:`run_demo` (``galmorph demo``) needs no network and no data of your own.
In under three minutes on two CPU cores (``full=True``: about 12) it

1. classifies the 24 real GZ2 galaxies shipped with galmorph with the shipped
   model (:mod:`galmorph.workflows.examples`), printing the model's answers
   beside the volunteers' and writing a figure of them;
2. writes a synthetic GZ2-like data set in the Kaggle layout
   (:func:`galmorph.synth.make_synthetic`);
3. prepares its preprocessing cache (:func:`galmorph.data.cache.prepare`);
4. trains a small network within a time budget (:func:`galmorph.training.train`);
5. evaluates it on the held-out (validation) synthetic galaxies next to the
   predict-the-training-mean baseline (:func:`galmorph.inference.evaluation.evaluate`);
6. predicts a few of them from their JPEG files
   (:func:`galmorph.inference.files.predict_files`);
7. writes the HTML report of the run (:func:`galmorph.workflows.report.run.report_run`)
   and prints what it found and where everything was written.

Running it again in the same folder reuses the synthetic data and the cache
when ``n`` and ``seed`` are unchanged (they are regenerated otherwise) and
trains a *fresh* run in the next free ``runs/run-NNN`` folder; earlier runs
are kept. The demo folder is checked for writing before step 1; should the
evaluation or the predictions fail to be written at the end (a full disk),
they are saved in the system temporary folder and the summary names the file.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from galmorph.models import preprocessing_of
from galmorph.rundir import RunDir
from galmorph.schema import KAGGLE_IMAGE_DIRS

__all__ = ["DemoConfig", "DemoResult", "run_demo", "format_summary"]


@dataclass
class DemoConfig:
    """Settings of :func:`run_demo` (``galmorph demo`` flags map one to one).

    The defaults were chosen so that the whole demo takes under three minutes
    on two CPU cores without AVX-512 and the model clearly beats the mean
    baseline; :meth:`full` gives the longer synthetic training of earlier
    versions (about 12 minutes there, 3 on AVX-512 cores).

    Attributes
    ----------
    out : str or Path
        Demo folder (created); ``./galmorph-demo`` by default.
    n : int
        Synthetic galaxies (a fifth are held out for evaluation).
    epochs : int
        Training epochs (one pass over the training galaxies each).
    seed : int
        Seeds the synthetic data, the split and the training.
    model : str
        ``"resnet18"`` (default: with batch normalisation it learns the
        synthetic set several times faster per CPU second than ``"cnn"``),
        ``"cnn"`` or ``"resnet18-tailored"``.
    size : int
        Side of the network input in pixels, after the central 224-pixel crop.
    lr : float
        Adam learning rate.
    time_limit : float or None
        Stop training after this many seconds (at a batch boundary).
    n_predict : int
        Held-out galaxies predicted from their JPEG files in step 6.
    examples : bool
        Step 1: classify the shipped real galaxies with the shipped model.
    progress : bool
        Progress bars and per-epoch lines.
    """

    out: str | Path = "galmorph-demo"
    n: int = 1500
    epochs: int = 8
    seed: int = 0
    model: str = "resnet18"
    size: int = 48
    lr: float = 1e-3
    time_limit: float | None = 75.0
    n_predict: int = 8
    examples: bool = True
    progress: bool = True

    @classmethod
    def full(cls, **overrides):
        """The longer synthetic training: 4,000 galaxies, 12 epochs, no time limit."""
        return cls(**{"n": 4000, "epochs": 12, "time_limit": None, **overrides})


@dataclass
class DemoResult:
    """What :func:`run_demo` did and wrote.

    ``rmse`` and ``mean_baseline`` are the Kaggle RMSE of the model and of
    predicting the training mean, on ``n_heldout`` held-out galaxies.
    """

    out: Path
    data: Path
    cache: Path
    run: Path
    checkpoint: Path
    evaluation_path: Path
    predictions_path: Path
    rmse: float
    mean_baseline: float
    n_heldout: int
    data_reused: bool
    seconds: float
    evaluation: dict = field(repr=False, default_factory=dict)
    predictions: object = field(repr=False, default=None)
    examples: object = field(repr=False, default=None)
    report_path: Path | None = None


def _say(text):
    print(text, flush=True)


def _synthetic_data(config, folder):
    """Write the synthetic set, or reuse it when ``n`` and ``seed`` match. -> reused?"""
    from galmorph.synth import make_synthetic

    info = folder / "synth.json"
    if info.is_file():
        try:
            old = json.loads(info.read_text())
        except ValueError:
            old = {}
        if old.get("n") == config.n and old.get("seed") == config.seed:
            return True
    make_synthetic(folder, n=config.n, seed=config.seed, progress=config.progress,
                   overwrite=True)
    return False


def _save_json(doc, path):
    """Write ``doc`` as JSON atomically; on an OSError save it in the temporary folder and
    say so. -> the path written (None if nowhere)."""
    from galmorph._util._atomic import write_text_atomic
    from galmorph._util._io import save_with_fallback

    text = json.dumps(doc, indent=2) + "\n"
    saved, reason = save_with_fallback(lambda p: write_text_atomic(p, text), path)
    if reason is not None:
        where = f"saved to {saved} instead" if saved is not None else "kept in memory only"
        _say(f"      cannot write {path} ({reason}); {where}")
    return saved


def _next_run_dir(runs):
    runs.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[4:]) for p in runs.glob("run-[0-9][0-9][0-9]") if p.name[4:].isdigit()]
    return runs / f"run-{max(taken, default=0) + 1:03d}"


def _train(config, data, cache, run_dir):
    from galmorph.training import TrainConfig, train

    options = {"input_size": config.size}
    run_dir = train(TrainConfig(
        data=str(data), out=str(run_dir), model=config.model, model_options=options,
        epochs=config.epochs, batch_size=32, lr=config.lr, val_fraction=0.2,
        seed=config.seed, time_limit=config.time_limit, size=config.size,
        cache=str(cache), progress=config.progress))
    if not RunDir(run_dir).best.is_file():
        # The budget ended inside the first epoch (a slow or busy CPU): finish that epoch,
        # so that there is a checkpoint to evaluate, rather than stop with no result.
        _say("      the time budget ended inside epoch 1; finishing that epoch")
        train(TrainConfig.from_run(run_dir, epochs=1, time_limit=None,
                                   progress=config.progress))
    return run_dir


def run_demo(config=None, **overrides):
    """Run the offline end-to-end demo; see the module docstring.

    Parameters
    ----------
    config : DemoConfig, optional
    **overrides
        Fields of :class:`DemoConfig`, e.g. ``out="demo", n=600, epochs=2``.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> result = run_demo(out="galmorph-demo")        # doctest: +SKIP
    >>> result.rmse < result.mean_baseline            # doctest: +SKIP
    True
    """
    from galmorph.data.cache import prepare
    from galmorph.inference.evaluation import evaluate
    from galmorph.inference.files import predict_files

    from galmorph._util._io import check_writable

    config = config or DemoConfig()
    if overrides:
        config = DemoConfig(**{**asdict(config), **overrides})
    start = time.perf_counter()
    out = check_writable(config.out, "out", folder=True)  # before any work
    data, cache = out / "data", out / "cache"

    examples = _examples(config, out)
    _say(f"[2/6] synthetic data: {config.n} galaxies (seed {config.seed}) in {data}")
    reused = _synthetic_data(config, data)
    if reused:
        _say("      reusing the synthetic set written by an earlier demo")

    prep = preprocessing_of(config.model, config.size)   # the crop and size training uses
    _say(f"[3/6] preparing the cache (crop {prep['crop']}, resize {prep['size']}) in {cache}")
    prepared = prepare(data, cache_dir=cache, crop=prep["crop"], size=prep["size"],
                       progress=config.progress)

    run_dir = _next_run_dir(out / "runs")
    budget = "" if config.time_limit is None else f" (at most {config.time_limit:g} s)"
    _say(f"[4/6] training a fresh {config.model} run for {config.epochs} epochs{budget} "
         f"in {run_dir}")
    run_dir = _train(config, data, cache, run_dir)
    checkpoint = RunDir(run_dir).best

    _say("[5/6] evaluating on the held-out galaxies (the run's validation split)")
    result = evaluate(checkpoint, prepared, split="validation")
    evaluation_path = _save_json(result.to_dict(), run_dir / "evaluation.json")

    val_ids = RunDir(run_dir).split()["val_ids"][:config.n_predict]
    files = [data / KAGGLE_IMAGE_DIRS["training"] / f"{gid}.jpg" for gid in val_ids]
    predictions_path = run_dir / "predictions.ecsv"
    _say(f"[6/6] predicting {len(files)} held-out galaxies from their JPEG files")
    table = predict_files(checkpoint, files, out=predictions_path, progress=False)
    if table.meta.get("out_error"):  # predict_files saved them elsewhere and warned
        predictions_path = table.meta["out"] and Path(table.meta["out"])
    report_path = _write_report(run_dir, result)

    return DemoResult(
        out=out, data=data, cache=Path(prepared.path), run=run_dir, checkpoint=checkpoint,
        evaluation_path=evaluation_path, predictions_path=predictions_path,
        rmse=result["rmse"], mean_baseline=result["baselines"]["mean"],
        n_heldout=result["n_galaxies"], data_reused=reused,
        seconds=time.perf_counter() - start, evaluation=result.to_dict(), predictions=table,
        examples=examples, report_path=report_path)


def _write_report(run_dir, evaluation):
    """The run's HTML report (a few seconds: the evaluation and its predictions are reused);
    None if unwritable."""
    from galmorph._util._io import describe_error
    from galmorph.workflows.report.run import report_run

    try:
        path = report_run(run_dir, evaluation=evaluation)
    except OSError as err:
        _say(f"      cannot write the report in {run_dir} ({describe_error(err)})")
        return None
    _say(f"      report {path}")
    return path


def _examples(config, out):
    """Step 1: the shipped galaxies with the shipped model (skipped, with a note, without it)."""
    from galmorph.paths import shipped_model_path
    from galmorph.workflows.examples import classify_examples, format_examples

    if not config.examples:
        return None
    if shipped_model_path() is None:
        _say("[1/6] no shipped model in this installation: skipping the real galaxies")
        return None
    _say("[1/6] classifying 24 real GZ2 galaxies (shipped with galmorph) with the shipped model")
    table = classify_examples(out / "examples")
    _say(format_examples(table))
    _say(f"      table {table.meta['table']}, figure {table.meta['figure']}")
    return table


def _truth_rows(result):
    """(GalaxyID, predicted, true) for the predicted galaxies, from the cache."""
    from galmorph.data.cache import open_prepared

    prepared = open_prepared(result.cache)
    row = {int(g): i for i, g in enumerate(prepared.ids)}
    table = result.predictions
    from galmorph.schema import KAGGLE_COLUMNS

    pred = np.array([table[c] for c in KAGGLE_COLUMNS]).T            # (n, 37)
    return [(int(g), p, prepared.labels[row[int(g)]])
            for g, p in zip(table["GalaxyID"], pred)]


def format_summary(result, n_show=3):
    """The closing summary :func:`run_demo`'s command line prints.

    Parameters
    ----------
    result : DemoResult
        What :func:`run_demo` returned; its cache is read for the true labels.
    n_show : int
        Predicted galaxies whose Q1 fractions are shown next to the true ones
        (default 3).

    Returns
    -------
    str
        The summary, several lines.
    """
    from galmorph.schema import ANSWER_LABELS, QUESTION_SLICES

    gain = 1.0 - result.rmse / result.mean_baseline
    verdict = (f"{gain:.0%} lower than the baseline" if gain > 0 else
               "NOT better than the baseline: train longer (--epochs) or on more galaxies (--n)")
    lines = [
        "",
        f"galmorph demo finished in {result.seconds / 60:.1f} min",
        *([f"  24 real GZ2 galaxies classified by the shipped model: "
           f"{result.examples.meta['table']}"] if result.examples is not None else []),
        f"  model RMSE on {result.n_heldout} held-out synthetic galaxies: {result.rmse:.4f}",
        f"  predict-the-training-mean baseline:                {result.mean_baseline:.4f}"
        f"   ({verdict})",
        "",
        "  Q1 (smooth / features or disk / star or artifact), predicted vs true:",
    ]
    q1 = QUESTION_SLICES[1]
    for gid, pred, true in _truth_rows(result)[:n_show]:
        pair = "  ".join(f"{ANSWER_LABELS[j].split()[0]} {pred[j]:.2f}/{true[j]:.2f}"
                         for j in range(q1.start, q1.stop))
        lines.append(f"    GalaxyID {gid}: {pair}")
    lines += [
        "",
        "  written:",
        *([f"    examples     {Path(result.examples.meta['figure']).parent}  (examples.ecsv, "
           f"examples.png)"] if result.examples is not None else []),
        f"    data         {result.data}"
        f"{'  (reused)' if result.data_reused else ''}",
        f"    cache        {result.cache}",
        f"    run          {result.run}  (best.pt, last.pt, metrics.csv, config.json, split.json)",
        f"    evaluation   {result.evaluation_path}",
        f"    predictions  {result.predictions_path}",
        *([f"    report       {result.report_path}  (open it in a browser)"]
          if result.report_path is not None else []),
        "",
        "  next steps:",
        "    galmorph classify --ra 150.1 --dec 2.2       # any SDSS position (needs the network)",
        "    galmorph models --card                        # what the shipped model can do",
        f"    galmorph evaluate {result.checkpoint}",
        f"    galmorph predict {result.checkpoint} {result.data / KAGGLE_IMAGE_DIRS['training']} "
        f"--out predictions.csv",
    ]
    return "\n".join(lines)
