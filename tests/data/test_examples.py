"""The example galaxies that ship in galmorph/data/examples (galmorph.data.examples)."""
import numpy as np

from galmorph.data.examples import EXAMPLES_DIR, example_galaxies
from galmorph.labels import check_labels
from galmorph.models.checkpoint import sha256_of
from galmorph.schema import KAGGLE_COLUMNS


def test_examples_table_lists_every_shipped_jpeg_with_whole_labels():
    galaxies = example_galaxies()
    files = {p.name for p in EXAMPLES_DIR.glob("*.jpg")}
    assert len(galaxies) == 24 and {p.rsplit("/", 1)[-1] for p in galaxies["file"]} == files
    labels = np.column_stack([galaxies[f"gz2_{c}"] for c in KAGGLE_COLUMNS])
    assert not check_labels(labels).bad_rows


def test_no_example_is_a_galaxy_the_shipped_model_saw(kaggle_5k, partial_3k):
    # The demo classifies these to show the model on galaxies it has not met: none may be
    # byte for byte an image of the Kaggle folders it was trained and validated on.
    seen = {sha256_of(p) for folder in (kaggle_5k, partial_3k) for p in folder.rglob("*.jpg")}
    assert len(seen) > 7_000
    shared = sorted(p.name for p in EXAMPLES_DIR.glob("*.jpg") if sha256_of(p) in seen)
    assert not shared, f"example galaxies also in the training data: {shared}"
