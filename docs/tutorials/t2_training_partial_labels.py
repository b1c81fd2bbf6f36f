"""
2. Training on the Kaggle data, with partial labels
===================================================

The shipped model was trained on two folders in the Kaggle layout: 5,000
galaxies with all 37 answers, and 3,000 labelled for 5 of the 11 questions
only (a catalogue that has, say, smoothness and mergers but no spiral-arm
counts). A question unknown for a galaxy is NaN in all its answer cells, and
the loss, every metric and every baseline count only the known cells.

The real run took 68 minutes on two CPU cores, so this page runs the same
steps on a tiny synthetic stand-in (executed when the docs were built), then
shows the saved results of the real run.
"""

# %%
# Two folders: full labels and partial labels
# --------------------------------------------
# The Kaggle layout is ``images_training_rev1/<GalaxyID>.jpg`` plus a table
# ``training_solutions_rev1.csv`` with ``GalaxyID`` and ``Class1.1`` ...
# ``Class11.6``. A folder labelled for some questions only holds one
# ``training_solutions_*.csv`` with the columns of those questions, whole
# questions only. Here one synthetic set of 240 galaxies is split in two: 160
# keep all their labels, 80 keep Q1, Q2, Q6, Q7 and Q8 (the columns of the
# real ``gz-kaggle-partial-3k``).
import tempfile
from pathlib import Path

from astropy.table import Table

from galmorph.labels import known_questions
from galmorph.schema import QUESTIONS
from galmorph.synth import make_synthetic

work = Path(tempfile.mkdtemp(prefix="galmorph-partial-"))
full = make_synthetic(work / "full", n=240, seed=1, progress=False)
labels = Table.read(full / "training_solutions_rev1.csv", format="ascii.csv")

partial = work / "partial"
(partial / "images_training_rev1").mkdir(parents=True)
moved = labels[160:]
for galaxy_id in moved["GalaxyID"]:
    name = f"{galaxy_id}.jpg"
    (full / "images_training_rev1" / name).rename(partial / "images_training_rev1" / name)
known = [q for q in QUESTIONS if q.number in (1, 2, 6, 7, 8)]
columns = ["GalaxyID"] + [a.kaggle for q in known for a in q.answers]
moved[columns].write(partial / "training_solutions_partial.csv", format="ascii.csv")
labels[:160].write(full / "training_solutions_rev1.csv", format="ascii.csv",
                   overwrite=True)
print(len(columns) - 1, "of 37 columns in", partial.name, ":", " ".join(columns[1:6]), "...")

# %%
# galmorph reads both folders into one catalogue; the unknown questions are
# NaN (:func:`galmorph.labels.known_questions` says which are known per galaxy):
import numpy as np

from galmorph.data.catalogs import open_catalog

for folder in (full, partial):
    catalog = open_catalog(folder)
    print(f"{folder.name:8s} {len(catalog.ids)} galaxies, layout {catalog.layout}, "
          f"known questions per galaxy: {known_questions(catalog.labels)[0].sum()} "
          f"(NaN cells: {int(np.isnan(catalog.labels).sum())})")

# %%
# Train on both
# -------------
# ``galmorph train FULL PARTIAL --model resnet18-cpu ...`` on the command line;
# from Python, a list of folders. The validation split takes the same share of
# every folder, so both kinds of galaxy are scored. A tiny CNN for three
# epochs here; the real recipe is below.
from galmorph.training import TrainConfig, train

run = train(TrainConfig(data=[full, partial], out=work / "run", model="cnn", epochs=3,
                        batch_size=32, progress=False))

# %%
# The run folder holds ``best.pt`` and ``last.pt`` (for ``--resume``),
# ``metrics.csv`` (one row per epoch), ``config.json`` (the resolved settings)
# and ``split.json`` (the held-out IDs):
import json

from galmorph.training.config import read_metrics

config = json.loads((run / "config.json").read_text())
print({k: config[k] for k in ("model", "epochs", "batch_size", "size", "val_fraction")})
print(Table(read_metrics(run))["epoch", "train_rmse", "val_rmse", "lr"])

# %%
# Reading the evaluation report
# -----------------------------
# ``galmorph evaluate RUN/best.pt`` scores the run's validation galaxies. The
# RMSE counts known cells only; ``(galaxies scored)`` after each question says
# how many held-out galaxies had it labelled, so the questions the partial
# folder lacks are scored on fewer galaxies. The baselines are fitted on the
# training part and scored on the same cells as the model.
from galmorph.inference.evaluation import evaluate, format_report

report = evaluate(run / "best.pt")
print(format_report(report))

# %%
# The same numbers as data (``galmorph evaluate --json``):
print(f"RMSE {report['rmse']:.4f}, 95 % interval {report['rmse_ci95']}, "
      f"mean baseline {report['baselines']['mean']:.4f}")
print({q: round(v, 4) for q, v in list(report["per_question"].items())[:4]})

# %%
# The run at a glance: ``galmorph report``
# ----------------------------------------
# ``galmorph report RUN_DIR`` writes one self-contained HTML page (figures
# embedded, nothing fetched): the resolved config and data, the learning
# curves, this evaluation table, predicted against true for all 37 answers,
# true and predicted prototypes, the first-layer kernels and the GZ2 decision
# tree, each figure with a caption that says what to read from it (see
# :doc:`/report`). Run here as a real subprocess; its sections and first
# captions:
import html
import re
import subprocess
import sys

subprocess.run([sys.executable, "-m", "galmorph", "report", str(run),
                "--out", str(work / "report.html")], check=True, capture_output=True)
page = (work / "report.html").read_text()
print(f"report.html: {len(page) / 1e6:.1f} MB, sections:",
      re.findall(r"<h2[^>]*>(.*?)</h2>", page))
for caption in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", page, flags=re.S)[:2]:
    print("-", html.unescape(re.sub(r"<[^>]+>", "", caption)).strip()[:300])

# %%
# The real run (saved output)
# ---------------------------
# The shipped model is the mean of five networks (not run here). Four are
# half-width runs of 35 minutes each::
#
#     galmorph train ../shared/data/gz-kaggle-5k ../shared/data/gz-kaggle-partial-3k \
#         --model resnet18-cpu --seed K --split-seed 0 --plateau-patience P \
#         --batches-per-epoch 100 --epochs 100000 --time-limit 2100 --out runs/mK
#
# for ``K`` = 0, 1 and 2 with ``P`` = 5 and ``K`` = 4 with ``P`` = 8. The fifth is
# one full-width run of 83 minutes (``--model-option width=64``, the model
# galmorph shipped before). They were averaged into one checkpoint with
# ``python tools/ship_model.py runs/m0 runs/m1 runs/m2 runs/m4 --command ...
# --shipped-member d6387c5 --dtype int8``
# (:mod:`galmorph.models.ensemble`). All five hold out the same validation
# galaxies: ``--split-seed 0``, the default for seed 0, fixes the split.
#
# Its scores on the validation split, from ``BENCHMARKS.md`` (computed by
# ``tools/ship_model.py`` on the shipped int8 file, 95 % bootstrap
# intervals):
#
# ========================  ===  =============  =============  ======  =============
# galaxies                  N    RMSE (no TTA)  95 %           d8 TTA  mean baseline
# ========================  ===  =============  =============  ======  =============
# whole validation split    800  0.0799         0.0770-0.0827  0.0796  0.1826
# unselected part           349  0.0907         0.0856-0.0959  0.0902  0.1734
# ========================  ===  =============  =============  ======  =============
#
# The model card (:doc:`/model_card`) has the per-question scores and the
# merger flag's precision; :doc:`/benchmarks` the whole record.
import shutil

shutil.rmtree(work)
