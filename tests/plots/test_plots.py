"""Tests for galmorph.plots: every figure on small real arrays, models and run files."""
import os

import numpy as np
import pytest
from astropy.table import Table
from PIL import Image

from galmorph import schema
from galmorph.errors import DataError
from galmorph.labels import normalize_tree_numpy
from galmorph.plots import (PAPER_VAL_RMSE, first_conv, plot_conv_kernels, plot_label_covariance,
                            plot_label_histograms, plot_loss_curves, plot_predicted_prototypes,
                            plot_predicted_vs_true, plot_prototypes)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    with Image.open(path) as im:
        assert im.size[0] > 100 and im.size[1] > 100
        # Not a blank canvas: something was drawn.
        assert np.asarray(im.convert("L")).std() > 1.0


@pytest.fixture(scope="module")
def labels():
    """30 tree-consistent weighted fractions (as the Kaggle labels are)."""
    rng = np.random.default_rng(1)
    return normalize_tree_numpy(rng.random((30, schema.N_ANSWERS)))   # (30, 37)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(2)
    return rng.integers(0, 256, size=(30, 3, 12, 12), dtype=np.uint8)       # (30, 3, 12, 12)


def _write_run(run_dir, rows):
    """A run directory with metrics.csv written by the training code's own writer."""
    from galmorph.training.config import write_metrics

    run_dir.mkdir(parents=True, exist_ok=True)
    write_metrics(run_dir, rows)
    return run_dir


METRIC_ROWS = [
    {"epoch": 1, "train_rmse": 0.21, "val_rmse": 0.19, "lr": 1e-3, "images_per_s": 50.0,
     "elapsed_s": 3.0},
    {"epoch": 2, "train_rmse": 0.17, "val_rmse": 0.16, "lr": 1e-3, "images_per_s": 52.0,
     "elapsed_s": 6.0},
    {"epoch": 3, "train_rmse": 0.15, "val_rmse": 0.155, "lr": 5e-4, "images_per_s": 51.0,
     "elapsed_s": 9.0},
]


# ------------------------------------------------------------------ labels

def test_label_histograms_panels_titles_and_counts(labels, tmp_path):
    path = tmp_path / "hist.png"
    fig = plot_label_histograms(labels, ["Q1", "merger", 5], bins=10, log=False, filename=path)
    _check_png(path)
    wanted = [0, 1, 2, schema.column_index("Class8.6"), 5]
    assert len(fig.axes) == len(wanted)
    assert [ax.get_title() for ax in fig.axes] == [
        f"{schema.KAGGLE_COLUMNS[i]} {schema.ANSWER_LABELS[i]}" for i in wanted]
    merger = fig.axes[3]
    heights = [p.get_height() for p in merger.patches]
    expected, _ = np.histogram(labels[:, wanted[3]], bins=np.linspace(0, 1, 11))
    np.testing.assert_array_equal(heights, expected)
    # One row per question: Q1 (3 panels), Q8, Q3.
    assert len({round(ax.get_position().y0, 3) for ax in fig.axes}) == 3


def test_label_histograms_take_an_astropy_table(labels):
    table = Table(labels, names=schema.KAGGLE_COLUMNS)
    table["GalaxyID"] = np.arange(len(labels))
    fig = plot_label_histograms(table, ["spiral"], bins=5, log=False)
    heights = [p.get_height() for p in fig.axes[0].patches]
    expected, _ = np.histogram(labels[:, schema.column_index("spiral")], np.linspace(0, 1, 6))
    np.testing.assert_array_equal(heights, expected)


def test_label_histograms_all_answers_grid(labels):
    fig = plot_label_histograms(labels)
    assert len(fig.axes) == schema.N_ANSWERS
    assert len({round(ax.get_position().y0, 3) for ax in fig.axes}) == schema.N_QUESTIONS


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5, 36)), "shape (5, 36); expected (N, 37)"),
    (np.zeros((0, 37)), "no rows"),
    (np.zeros(37), "shape (37,)"),
])
def test_bad_label_shapes_are_named(bad, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plot_label_histograms(bad)


def test_nan_label_names_row_and_column(labels):
    bad = labels.copy()
    bad[4, schema.column_index("Class2.1")] = np.nan
    with pytest.raises(DataError, match=r"labels row 4, column Class2.1 is nan"):
        plot_label_covariance(bad)


def test_table_without_kaggle_columns_is_named(labels):
    table = Table(labels[:, :-1], names=schema.KAGGLE_COLUMNS[:-1])
    with pytest.raises(DataError, match=r"lacks 1 of the 37 Kaggle columns \(Class11.6\)"):
        plot_label_histograms(table)


def test_unknown_answer_is_named(labels):
    with pytest.raises(ValueError, match="unknown GZ2 answer 'spiralish'"):
        plot_label_histograms(labels, ["spiral", "spiralish"])
    with pytest.raises(ValueError, match="unknown question 'Q12'"):
        plot_label_histograms(labels, ["Q12"])


def test_label_correlation_matrix_and_blocks(labels, tmp_path):
    path = tmp_path / "corr.png"
    data = labels.copy()
    data[:, schema.column_index("Class1.3")] = 0.0  # no spread: correlation undefined
    fig = plot_label_covariance(data, filename=path)
    _check_png(path)
    shown = fig.axes[0].images[0].get_array()
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.corrcoef(data.T)
    np.testing.assert_allclose(shown.filled(np.nan), expected, atol=1e-12)
    assert shown.mask[2].all() and shown.mask[:, 2].all()
    # A horizontal and a vertical line between each pair of the 11 questions.
    assert len(fig.axes[0].lines) == 2 * (schema.N_QUESTIONS - 1)
    assert fig.axes[0].get_xticklabels()[36].get_text() == schema.KAGGLE_COLUMNS[36]


def test_label_covariance_kind(labels):
    fig = plot_label_covariance(labels, kind="covariance")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), np.cov(labels.T), atol=1e-12)
    with pytest.raises(ValueError, match="kind must be 'correlation' or 'covariance'"):
        plot_label_covariance(labels, kind="pearson")
    with pytest.raises(ValueError, match="at least 2 galaxies"):
        plot_label_covariance(labels[:1])


# -------------------------------------------------------------- prototypes

def test_prototypes_show_the_argmax_galaxies(labels, images, tmp_path):
    values = labels.copy()
    merger = schema.column_index("merger")
    values[[7, 3, 11], merger] = [0.99, 0.98, 0.97]
    path = tmp_path / "proto.png"
    fig = plot_prototypes(images, values, ["merger", "smooth"], n=3, filename=path)
    _check_png(path)
    assert list(fig.galmorph_rows["Class8.6"]) == [7, 3, 11]
    smooth = values[:, schema.column_index("smooth")]
    assert list(fig.galmorph_rows["Class1.1"]) == list(np.argsort(-smooth)[:3])
    assert len(fig.axes) == 6
    # The first panel shows galaxy 7, channels last, with its fraction as title.
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), images[7].transpose(1, 2, 0))
    assert fig.axes[0].get_title() == "0.99"
    assert "merger" in fig.axes[0].get_ylabel()


def test_prototypes_from_image_paths(labels, tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for k in range(4):
        path = tmp_path / f"{100 + k}.png"
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    values = labels[:4].copy()
    fig = plot_prototypes(paths, values, ["bar"], n=10)  # n larger than the sample
    rows = fig.galmorph_rows["Class3.1"]
    assert len(rows) == 4 and len(fig.axes) == 4
    with Image.open(paths[rows[0]]) as im:
        np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), np.asarray(im))


def test_prototypes_bad_inputs(labels, images):
    with pytest.raises(DataError, match="images hold 30 galaxies but the fractions 10 rows"):
        plot_prototypes(images, labels[:10])
    with pytest.raises(DataError, match=r"images has shape \(30, 4, 12, 12\)"):
        plot_prototypes(np.zeros((30, 4, 12, 12), np.uint8), labels)
    with pytest.raises(ValueError, match="n must be at least 1"):
        plot_prototypes(images, labels, n=0)
    with pytest.raises(ValueError, match="crop must be a positive number of pixels"):
        plot_prototypes(images, labels, crop=0)


def test_prototypes_take_prepared_data_and_crop(labels, images, tmp_path):
    from pathlib import Path

    from galmorph.data.cache import PreparedData

    data = PreparedData(images=images, labels=labels.astype(np.float32),
                        ids=np.arange(len(labels)), meta={}, path=Path("cache"))
    fig = plot_prototypes(data, data, ["edge-on"], n=1, crop=6)
    row = fig.galmorph_rows["Class2.1"][0]
    assert row == np.argmax(labels[:, schema.column_index("edge-on")])
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(),
                                  images[row].transpose(1, 2, 0)[3:9, 3:9])
    unlabelled = PreparedData(images=images, labels=None, ids=data.ids, meta={},
                              path=Path("test-cache"))
    with pytest.raises(DataError, match="prepared data test-cache has no labels"):
        plot_label_histograms(unlabelled)


def test_predicted_prototypes_rank_by_prediction(labels, images, tmp_path):
    pred = labels[::-1].copy()  # a different ranking from the labels
    spiral = schema.column_index("spiral")
    path = tmp_path / "pred_proto.png"
    fig = plot_predicted_prototypes(images, pred, ["spiral"], n=2, labels=labels, filename=path)
    _check_png(path)
    rows = list(fig.galmorph_rows["Class4.1"])
    assert rows == list(np.argsort(-pred[:, spiral], kind="stable")[:2])
    r = rows[0]
    assert fig.axes[0].get_title() == f"p={pred[r, spiral]:.2f} ({labels[r, spiral]:.2f})"
    with pytest.raises(DataError, match=r"predictions has shape \(30, 36\)"):
        plot_predicted_prototypes(images, pred[:, :36])


# ------------------------------------------------------------------ models

def test_conv_kernels_of_the_cnn(tmp_path):
    import torch

    from galmorph.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn")
    path = tmp_path / "kernels.png"
    fig = plot_conv_kernels(model, ncols=8, filename=path)
    _check_png(path)
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (4 * 8 - 1, 8 * 8 - 1, 3)  # 32 kernels of 7x7, 1-pixel gaps
    w = model.features[0].weight.detach().numpy()[9].transpose(1, 2, 0)  # kernel 9: row 1, col 1
    np.testing.assert_allclose(mosaic[8:15, 8:15], (w - w.min()) / (w.max() - w.min()),
                               atol=1e-6)


def test_conv_kernels_of_resnet_and_checkpoint(tmp_path):
    from galmorph.models import build_model, save_checkpoint

    model = build_model("resnet18")
    assert first_conv(model) is model.conv1
    fig = plot_conv_kernels(model, ncols=16, normalize="all")
    assert fig.axes[0].images[0].get_array().shape == (4 * 8 - 1, 16 * 8 - 1, 3)
    ckpt = save_checkpoint(tmp_path / "cnn.pt", build_model("cnn"),
                           preprocessing={"crop": 224, "size": 80})
    assert "32 first-layer kernels (7x7" in plot_conv_kernels(ckpt).axes[0].get_title()
    with pytest.raises(TypeError, match="expected a galmorph model"):
        plot_conv_kernels(np.zeros((3, 3)))


# ---------------------------------------------------------------- training

def test_loss_curves_from_a_run_dir(tmp_path):
    run = _write_run(tmp_path / "run", METRIC_ROWS)
    path = tmp_path / "loss.png"
    fig = plot_loss_curves(run, baseline=0.17, paper=True, filename=path)
    _check_png(path)
    ax, twin = fig.axes
    train, val = ax.lines[:2]
    np.testing.assert_allclose(val.get_ydata(), [r["val_rmse"] for r in METRIC_ROWS])
    np.testing.assert_allclose(train.get_xdata(), [1, 2, 3])
    levels = sorted(line.get_ydata()[0] for line in ax.lines[2:])
    assert levels == sorted([0.17, *PAPER_VAL_RMSE.values()])
    assert twin.get_yscale() == "log" and twin.get_ylabel() == "learning rate"
    assert set(twin.lines[0].get_ydata()) == {1e-3, 5e-4}
    # The metrics.csv path works too, and the lr axis can be left out.
    assert len(plot_loss_curves(run / "metrics.csv", lr=False, paper="cnn").axes) == 1


def test_loss_curves_compare_runs_on_one_axes(tmp_path):
    from matplotlib.figure import Figure

    slower = [dict(r, val_rmse=r["val_rmse"] + 0.02) for r in METRIC_ROWS]
    ax = Figure().subplots()
    plot_loss_curves(_write_run(tmp_path / "a", METRIC_ROWS), label="cnn", lr=False, ax=ax)
    plot_loss_curves(_write_run(tmp_path / "b", slower), label="resnet18", lr=False, ax=ax)
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["cnn train", "cnn validation", "resnet18 train", "resnet18 validation"]
    assert ax.lines[1].get_color() != ax.lines[3].get_color()
    np.testing.assert_allclose(ax.lines[3].get_ydata(), [r["val_rmse"] for r in slower])


def test_loss_curves_bad_metrics_files(tmp_path):
    with pytest.raises(DataError, match="metrics.csv does not exist"):
        plot_loss_curves(tmp_path)
    (tmp_path / "metrics.csv").write_text("")
    with pytest.raises(DataError, match="is empty: the run has not finished an epoch"):
        plot_loss_curves(tmp_path)
    run = _write_run(tmp_path / "header_only", [])
    with pytest.raises(DataError, match="has a header but no epochs"):
        plot_loss_curves(run)
    (tmp_path / "other.csv").write_text("epoch,loss\n1,0.3\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) train_rmse, val_rmse, lr"):
        plot_loss_curves(tmp_path / "other.csv")
    run = _write_run(tmp_path / "broken", METRIC_ROWS)
    text = (run / "metrics.csv").read_text().splitlines()
    text[2] = text[2].replace(str(METRIC_ROWS[1]["val_rmse"]), "nan?")
    (run / "metrics.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"line 3, column val_rmse: 'nan\?' is not a number"):
        plot_loss_curves(run)
    with pytest.raises(ValueError, match="no paper value for 'vgg'"):
        plot_loss_curves(_write_run(tmp_path / "ok", METRIC_ROWS), paper=["cnn", "vgg"])


def test_predicted_vs_true_rmse_in_titles(labels, tmp_path):
    rng = np.random.default_rng(4)
    pred = np.clip(labels + rng.normal(0, 0.05, labels.shape), 0, 1)
    path = tmp_path / "pvt.png"
    fig = plot_predicted_vs_true(pred, labels, ["Q2", "ring"], filename=path)
    _check_png(path)
    assert len(fig.axes) == 3
    for ax, name in zip(fig.axes, ["Class2.1", "Class2.2", "Class8.1"]):
        i = schema.column_index(name)
        rmse = np.sqrt(np.mean((pred[:, i] - labels[:, i]) ** 2))
        assert ax.get_title().endswith(f"RMSE {rmse:.4f}")
        np.testing.assert_allclose(ax.collections[0].get_offsets(),
                                   np.column_stack([labels[:, i], pred[:, i]]))


def test_predicted_vs_true_hexbin_and_mismatch(labels):
    from matplotlib.collections import PathCollection, PolyCollection

    fig = plot_predicted_vs_true(labels, labels, ["smooth"], hexbin_above=10)
    assert isinstance(fig.axes[0].collections[0], PolyCollection)
    assert fig.axes[0].get_title().endswith("RMSE 0.0000")
    fig = plot_predicted_vs_true(labels, labels, ["smooth"])
    assert isinstance(fig.axes[0].collections[0], PathCollection)
    with pytest.raises(DataError, match=r"predictions \(29, 37\) and labels \(30, 37\)"):
        plot_predicted_vs_true(labels[1:], labels)


# ------------------------------------------------------------------ hygiene

def test_no_pyplot_figures_and_no_files_without_a_filename(labels, images, tmp_path,
                                                          monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    before = plt.get_fignums()
    run = _write_run(tmp_path / "run", METRIC_ROWS)
    plot_label_histograms(labels, ["Q6"])
    plot_prototypes(images, labels, ["odd"], n=1)
    plot_loss_curves(run)
    assert plt.get_fignums() == before
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert sorted(os.listdir(run)) == ["metrics.csv"]


def test_draws_into_a_given_axes(labels):
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot_label_covariance(labels, ax=right) is fig
    assert right.images and not left.images


def test_fills_a_subfigure_and_saves_the_whole_figure(labels, tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    left, right = fig.subfigures(1, 2)
    right.subplots().plot([0, 1])
    path = tmp_path / "sub.png"
    assert plot_predicted_vs_true(labels, labels, ["Q2"], fig=left, filename=path) is left
    assert len(left.axes) == 2 and len(fig.axes) == 3
    with Image.open(path) as im:
        assert im.size == (8 * 120, 4 * 120)  # the whole figure was saved, at dpi 120


# ----------------------------------------------------------- example script

def _tiny_run(tmp_path):
    """A synthetic data folder and a run directory assembled by the training code's writers."""
    import json

    from galmorph.data.cache import prepare
    from galmorph.synth import make_synthetic
    from galmorph.models import build_model, save_checkpoint
    from galmorph.training.batches import make_split, save_split
    from galmorph.training.config import TrainConfig

    data_dir, run = tmp_path / "synth", tmp_path / "run"
    make_synthetic(data_dir, n=12, seed=0, workers=1, progress=False)
    data = prepare(data_dir, cache_dir=tmp_path / "cache", workers=1, progress=False)
    run.mkdir()
    config = TrainConfig(data=str(data_dir), out=str(run), model="cnn", cache=str(data.path))
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    _, val = make_split(len(data), 0.25, seed=0)
    save_split(run / "split.json", data.ids, val, 0, 0.25)
    save_checkpoint(run / "best.pt", build_model("cnn"), preprocessing=data.preprocessing)
    _write_run(run, METRIC_ROWS)
    return data_dir, run


def test_paper_figures_example_writes_every_figure(tmp_path, capsys):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "paper_figures.py"
    main = runpy.run_path(str(script))["main"]
    data_dir, run = _tiny_run(tmp_path)
    out = tmp_path / "figures"
    rc = main([str(data_dir), str(run), "--out", str(out), "--answers", "Q1",
               "--prototype-answers", "smooth", "--n", "2", "--dpi", "40"])
    assert rc == 0
    names = ["label_histograms", "label_correlation", "prototypes", "conv_kernels",
             "loss_curves", "predicted_vs_true", "predicted_prototypes"]
    assert sorted(p.stem for p in out.iterdir()) == sorted(names)
    for name in names:
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert "3 validation galaxies: RMSE" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="is not a galmorph run directory"):
        main([str(data_dir), str(tmp_path), "--out", str(out)])


# ---------------------------------------------------------------- real data

@pytest.mark.realdata
def test_real_kaggle_labels_and_jpegs(kaggle_5k):
    from galmorph.data.catalogs import open_catalog
    from galmorph.data.images import load_image

    catalog = open_catalog(kaggle_5k, check_images=False)
    fig = plot_label_covariance(catalog.labels)
    corr = fig.axes[0].images[0].get_array()
    # Q1 is smooth vs features: on real votes the two fractions are nearly exchangeable.
    assert corr[0, 1] < -0.9
    fig = plot_prototypes(catalog.paths, catalog.labels, ["merger"], n=2, crop=224)
    rows = fig.galmorph_rows["Class8.6"]
    merger = catalog.labels[:, schema.column_index("merger")]
    assert merger[rows[0]] == merger.max() and merger[rows[1]] <= merger[rows[0]]
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(shown, load_image(catalog.paths[rows[0]])[100:324, 100:324])
