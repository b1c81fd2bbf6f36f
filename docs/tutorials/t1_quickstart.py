"""
1. Quick start: the shipped model and the synthetic default
===========================================================

galmorph ships a trained model and 24 real Galaxy Zoo 2 (GZ2) galaxies, so it
can classify galaxies the moment it is installed, with no data and no
network. This page does that, then runs the synthetic workflow that ``galmorph
demo`` runs (synthetic data, training, evaluation), cut down to seconds.

Everything below ran when these docs were built, on the CPU of the build
machine.
"""

# %%
# The shipped model
# -----------------
# With no model given, galmorph uses the one in ``galmorph/weights`` (a
# checkpoint given explicitly, ``$GALMORPH_MODEL`` or one registered with
# ``galmorph train --set-default`` take precedence). Its card says how it was
# trained and how well it does; ``galmorph models --card`` prints the same.
from galmorph.models.card import format_card, read_card
from galmorph.paths import model_source

path, origin = model_source()
print(path.name, "--", origin)
print("\n".join(format_card(read_card()).splitlines()[:12]))

# %%
# The 24 bundled galaxies
# -----------------------
# :func:`~galmorph.data.examples.example_galaxies` returns a table of them: the
# image file, the GZ2 class string (``Er`` round elliptical, ``Sb`` spiral with
# a bulge, ``(m)`` merger, ``A`` star or artifact, ...) and the volunteers' 37
# vote fractions as ``gz2_Class1.1`` ... ``gz2_Class11.6``.
from galmorph.data.examples import EXAMPLES_DIR, example_galaxies

galaxies = example_galaxies()
print(galaxies["asset_id", "gz2_class", "shows", "file"][::4])

# %%
# Classify them
# -------------
# :class:`~galmorph.astro.classifier.MorphologyClassifier` takes a table with an
# image-path column (here ``file``, relative to ``image_dir``) and returns it
# with the 37 predicted fractions ``Class1.1`` ... ``Class11.6`` added, plus
# ``p_merger``, ``is_merger`` and a per-row ``predict_ok`` / ``predict_error``.
from galmorph import MorphologyClassifier

clf = MorphologyClassifier(progress=False)
result = clf.predict(galaxies, image_dir=EXAMPLES_DIR)
result["asset_id", "gz2_class", "Class1.1", "gz2_Class1.1", "Class1.2",
       "gz2_Class1.2", "p_merger"][:8].pprint(max_width=120)

# %%
# ``Class1.1`` is the share of volunteers expected to call the galaxy smooth,
# ``Class1.2`` the share seeing features or a disk; the ``gz2_`` columns are
# what the volunteers said, as the GZ2 data release reduced their votes. That
# reduction is not the Kaggle challenge's, whose labels the model learnt: for
# the same galaxy the release says smooth about 0.2 more often (the card's
# known limits), and none of these galaxies was in the training data. The
# Kaggle score is the root mean squared error over all 37 answers; on these 24
# hand-picked galaxies (chosen to show every class, so harder than a random
# sample, and scored against the release's labels):
import numpy as np

from galmorph.metrics import rmse
from galmorph.schema import KAGGLE_COLUMNS

predicted = np.column_stack([result[c] for c in KAGGLE_COLUMNS])        # (24, 37)
volunteers = np.column_stack([galaxies["gz2_" + c] for c in KAGGLE_COLUMNS])
print(f"RMSE against the volunteers: {rmse(predicted, volunteers):.4f}")
print(f"predicting the mean of the 24: "
      f"{rmse(np.broadcast_to(volunteers.mean(axis=0), volunteers.shape), volunteers):.4f}")

# %%
# Each galaxy's answers down the GZ2 decision tree, following the top answer
# at each question (volunteers in brackets):
from galmorph.schema import ANSWER_LABELS
from galmorph.workflows.examples import decision_path

for row, pred, truth in zip(result[:4], predicted, volunteers):
    steps = decision_path(pred)                       # [(question, answer index), ...]
    print(row["asset_id"], row["gz2_class"], " > ".join(
        f"Q{q} {ANSWER_LABELS[i]} {pred[i]:.2f} ({truth[i]:.2f})" for q, i in steps))

# %%
# The whole tree (:mod:`galmorph.schema` holds it as data; the figure is drawn
# from it): questions as boxes, answers as lines, each as thick as its mean
# predicted fraction over the 24 galaxies -- the share of galaxies whose
# volunteers would take that path.
from galmorph.plots import plot_decision_tree

tree = plot_decision_tree(predicted)

# %%
# And the images, titled with the GZ2 class and the predicted smooth /
# features fractions:
from galmorph.plots.galaxies import plot_galaxy_grid

grid = plot_galaxy_grid(
    [EXAMPLES_DIR / f for f in galaxies["file"]],
    [f"{r['gz2_class']}: {r['Class1.1']:.2f} / {r['Class1.2']:.2f}" for r in result],
    ncols=8, crop=224)

# %%
# The synthetic default
# ---------------------
# ``galmorph demo`` goes on to write a synthetic GZ2-like data set in the
# Kaggle layout, train a network on it, evaluate it against baselines and
# predict from JPEG files. Its defaults (1,500 galaxies, 8 epochs) take two to
# three minutes; here the same steps run on 160 galaxies and the paper's small
# CNN for three epochs, which takes seconds and does **not** beat the
# baselines: it shows the mechanics, not a model.
import tempfile
from pathlib import Path

from galmorph.synth import make_synthetic

work = Path(tempfile.mkdtemp(prefix="galmorph-quickstart-"))
data = make_synthetic(work / "synth", n=160, seed=0, progress=False)
print(sorted(p.name for p in data.iterdir()))

# %%
# Train (see :doc:`/training` for the models and schedules):
from galmorph.training import TrainConfig, train

run = train(TrainConfig(data=data, out=work / "run", model="cnn", epochs=3,
                        batch_size=32, progress=False))
print(sorted(p.name for p in run.iterdir()))

# %%
# Evaluate on the run's held-out validation galaxies, next to the baselines
# fitted on its training galaxies:
from galmorph.inference.evaluation import evaluate, format_report

report = evaluate(run / "best.pt")
print("\n".join(format_report(report).splitlines()[:10]))

# %%
# The loss curves, with the mean-prediction baseline:
from galmorph.plots.training import plot_loss_curves

curves = plot_loss_curves(run, baseline=report["baselines"]["mean"])

# %%
# ``galmorph demo`` does all of this with larger defaults (1,500 synthetic
# galaxies, a ResNet-18, at most 75 s of training; two to three minutes on two
# CPU cores, so not run here). :doc:`/tutorial` shows the saved output of its
# longer ``--full`` training and goes through the steps one command at a time;
# :doc:`/synthetic` describes the synthetic galaxies.
import shutil

shutil.rmtree(work)
