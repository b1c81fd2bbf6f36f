"""Tests of galmorph.synth and ``galmorph synth``: layout, determinism, labels, CLI."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph import __version__
from galmorph.labels import check_labels
from galmorph.synth import (FIRST_ID, IMAGE_DIR, LABEL_FILE, format_fraction,
                                 make_synthetic, synth_galaxy, synth_labels)
from galmorph.errors import DataError
from galmorph.schema import (ANSWER_LABELS, ID_COLUMN, KAGGLE_COLUMNS, PARENT_INDEX,
                             QUESTION_SLICES, column_index)


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "galmorph", "synth", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """A 12-galaxy set made in one process."""
    out = tmp_path_factory.mktemp("synth") / "one"
    make_synthetic(out, n=12, seed=5, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def sample_labels():
    """Simulated labels (no images) of 600 galaxies."""
    return np.stack([synth_labels(0, i)[0] for i in range(600)])


def test_layout_is_kaggle(tiny_set):
    header = (tiny_set / LABEL_FILE).read_text().splitlines()[0]
    assert header == ",".join((ID_COLUMN,) + KAGGLE_COLUMNS)
    table = pd.read_csv(tiny_set / LABEL_FILE)
    assert list(table[ID_COLUMN]) == list(range(FIRST_ID, FIRST_ID + 12))
    files = sorted(p.name for p in (tiny_set / IMAGE_DIR).iterdir())
    assert files == [f"{gid}.jpg" for gid in table[ID_COLUMN]]
    meta = json.loads((tiny_set / "synth.json").read_text())
    assert (meta["n"], meta["seed"], meta["galmorph_version"]) == (12, 5, __version__)
    assert "NOT real galaxies" in (tiny_set / "README.txt").read_text()


def test_images_are_424_rgb_jpegs(tiny_set):
    for path in sorted((tiny_set / IMAGE_DIR).glob("*.jpg"))[:4]:
        with Image.open(path) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (424, 424))
            pixels = np.asarray(im)
        # A centred galaxy on a dark sky: the centre is much brighter than the corners.
        centre = pixels[192:232, 192:232].mean()
        corners = np.concatenate([pixels[:30, :30], pixels[-30:, -30:]]).mean()
        assert centre > corners + 20, path


def test_same_seed_same_files_whatever_the_workers(tmp_path, tiny_set):
    two = make_synthetic(tmp_path / "two", n=12, seed=5, workers=2, progress=False)
    assert (two / LABEL_FILE).read_bytes() == (tiny_set / LABEL_FILE).read_bytes()
    for path in sorted((tiny_set / IMAGE_DIR).glob("*.jpg")):
        assert (two / IMAGE_DIR / path.name).read_bytes() == path.read_bytes(), path.name


def test_other_seed_other_data(tmp_path, tiny_set):
    other = make_synthetic(tmp_path / "other", n=3, seed=6, workers=1, progress=False)
    assert ((other / IMAGE_DIR / f"{FIRST_ID}.jpg").read_bytes()
            != (tiny_set / IMAGE_DIR / f"{FIRST_ID}.jpg").read_bytes())


def test_written_labels_satisfy_the_tree(tiny_set):
    table = pd.read_csv(tiny_set / LABEL_FILE)
    labels = table[list(KAGGLE_COLUMNS)].to_numpy()
    assert check_labels(labels)                 # the default tolerance of the readers
    assert check_labels(labels, atol=1e-5)      # 6-decimal rounding only
    text = (tiny_set / LABEL_FILE).read_text().splitlines()[1]
    assert all(len(v.partition(".")[2]) <= 6 for v in text.split(",")[1:])


def test_simulated_labels_are_exact_and_match_the_images(sample_labels):
    assert check_labels(sample_labels, atol=1e-9)
    image_labels = synth_galaxy(0, 7)[1]
    np.testing.assert_array_equal(image_labels, sample_labels[7])


def test_every_answer_dominates_somewhere(sample_labels):
    missing = []
    for number, s in QUESTION_SLICES.items():
        parent = PARENT_INDEX[number]
        reach = np.ones(len(sample_labels)) if parent is None else sample_labels[:, parent]
        rows = sample_labels[reach > 0.25]
        winners = set((rows[:, s].argmax(axis=1) + s.start).tolist())
        missing += [ANSWER_LABELS[c] for c in range(s.start, s.stop) if c not in winners]
    assert not missing, f"answers never dominant in 600 galaxies: {missing}"


def test_label_scatter_is_like_volunteers_not_one_hot(sample_labels):
    q1 = sample_labels[:, QUESTION_SLICES[1]].max(axis=1)
    assert 0.3 < np.mean(q1 < 0.95) < 0.999       # real GZ2: 0.8-0.9
    assert np.mean(q1 > 0.6) > 0.4                # ... but most galaxies have a clear answer
    odd = sample_labels[:, column_index("odd")]
    assert 0.05 < np.median(odd) < 0.3            # "odd" gets some votes for normal galaxies
    stds = sample_labels.std(axis=0)
    assert stds.min() > 0.02, KAGGLE_COLUMNS[int(stds.argmin())]


def test_labels_follow_what_is_drawn():
    # Smooth galaxies are drawn red, spirals with blue arms: the colours tell them apart.
    smooth, spiral = [], []
    for i in range(60):
        labels, truth = synth_labels(1, i)
        if truth.kind == "smooth" and truth.odd_feature is None:
            smooth.append(i)
        elif truth.kind == "disk" and truth.params["spiral"] and truth.odd_feature is None:
            spiral.append(i)
    assert len(smooth) >= 3 and len(spiral) >= 3

    def red_to_blue(i):
        image, labels, _ = synth_galaxy(1, i)
        c = image[150:274, 150:274].astype(float)
        bright = c.sum(axis=2) > 120
        return c[bright, 0].sum() / c[bright, 2].sum(), labels

    smooth_rb = [red_to_blue(i) for i in smooth[:5]]
    spiral_rb = [red_to_blue(i) for i in spiral[:5]]
    assert min(r for r, _ in smooth_rb) > max(r for r, _ in spiral_rb)
    assert np.mean([lab[column_index("smooth")] for _, lab in smooth_rb]) > 0.6
    assert np.mean([lab[column_index("spiral")] for _, lab in spiral_rb]) > 0.4


def test_format_fraction_kaggle_style():
    assert [format_fraction(v) for v in (0.0, 1.0, 0.6168534, 0.25, 1e-9)] == \
        ["0", "1", "0.616853", "0.25", "0"]


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_n_is_refused(tmp_path, n):
    with pytest.raises(DataError, match="n must be a positive number of galaxies"):
        make_synthetic(tmp_path / "x", n=n, progress=False)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seed_is_refused(tmp_path, seed):
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        make_synthetic(tmp_path / "x", n=2, seed=seed, progress=False)


def test_bad_workers_is_refused(tmp_path):
    with pytest.raises(DataError, match="workers must be a positive number"):
        make_synthetic(tmp_path / "x", n=2, workers=0, progress=False)


def test_non_empty_folder_needs_overwrite(tmp_path):
    out = tmp_path / "set"
    make_synthetic(out, n=5, seed=1, workers=1, progress=False)
    with pytest.raises(DataError, match=rf"{out.name} already exists and is not empty.*overwrite"):
        make_synthetic(out, n=3, seed=2, workers=1, progress=False)
    make_synthetic(out, n=3, seed=2, workers=1, progress=False, overwrite=True)
    # The 5-galaxy set is gone entirely: no stale images next to the new CSV.
    assert len(list((out / IMAGE_DIR).glob("*.jpg"))) == 3
    assert len(pd.read_csv(out / LABEL_FILE)) == 3


def test_output_path_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "afile"
    path.write_text("x")
    with pytest.raises(DataError, match="afile exists and is not a folder"):
        make_synthetic(path, n=2, progress=False)


def test_cli_help():
    result = _run_cli("--help")
    assert result.returncode == 0
    for flag in ("OUT", "--n", "--seed", "--workers", "--overwrite", "default: 1000"):
        assert flag in result.stdout


def test_cli_tiny_run_and_errors(tmp_path):
    out = tmp_path / "cli"
    result = _run_cli(out, "--n", 3, "--seed", 4, "--workers", 1, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "wrote 3 synthetic galaxies" in result.stdout
    assert len(pd.read_csv(out / LABEL_FILE)) == 3
    again = _run_cli(out, "--n", 3, "--quiet")
    assert again.returncode == 1
    assert "already exists and is not empty" in again.stderr and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    bad = _run_cli(tmp_path / "bad", "--n", 0)
    assert bad.returncode == 2 and "argument --n: must be a positive integer, not '0'" in bad.stderr


def test_catalog_reader_accepts_it(tiny_set):
    catalogs = pytest.importorskip("galmorph.data.catalogs")
    catalog = catalogs.open_catalog(tiny_set)
    assert len(catalog.paths) == 12 and catalog.labels.shape == (12, 37)
    assert list(catalog.ids) == list(range(FIRST_ID, FIRST_ID + 12))
