"""Tests of ``galmorph report`` (galmorph.workflows.report*, galmorph.plots.tree).

A run report is made from an 80-galaxy synthetic run of the small ``cnn``
(2 epochs of 2 batches, about 5 s); a catalogue report from the 24 shipped GZ2
galaxies classified by the shipped model, with made-up redshifts, magnitudes
and companion separations so that every part of the report is drawn. Every
figure is checked for what it shows.
"""
import base64
import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from galmorph import schema
from galmorph._util._io import OutputError
from galmorph.errors import DataError, MissingColumnError
from galmorph.labels import normalize_tree_numpy
from galmorph.plots import DEFAULT_PROTOTYPE_ANSWERS, plot_decision_tree, tree_layout
from galmorph.workflows.report import (Report, ReportSection, ReportText, make_report,
                                       write_report)
from galmorph.workflows.report.catalog import build_catalog_report, report_catalog
from galmorph.workflows.report.run import build_run_report, report_run

RUN_HEADINGS = ["Configuration and data", "Learning curves", "Evaluation",
                "Predicted against true", "Prototypes", "First-layer kernels",
                "The GZ2 decision tree", "Files"]
CATALOG_HEADINGS = ["The catalogue", "Vote fractions", "The GZ2 decision tree", "Mergers",
                    "Redshift trends", "Prototypes"]
PARTIAL = (1, 2, 6, 7, 8)  # the questions the partial data keeps


@pytest.fixture(scope="module")
def user_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:   # never touch the real user cache
        path = tmp_path_factory.mktemp("user-cache")
        mp.setenv("GALMORPH_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, user_cache):
    """A finished 2-epoch cnn run on 80 synthetic galaxies (20 held out)."""
    from galmorph.data.cache import prepare
    from galmorph.synth import make_synthetic
    from galmorph.training import TrainConfig, train

    root = tmp_path_factory.mktemp("report-run")
    data = make_synthetic(root / "synth", n=80, seed=3, workers=1, progress=False)
    prepare(data, cache_dir=root / "cache", workers=1, progress=False)
    return train(TrainConfig(data=data, out=root / "run", cache=root / "cache", model="cnn",
                             epochs=2, batches_per_epoch=2, batch_size=8, val_fraction=0.25,
                             precision="fp32", progress=False, workers=1))


@pytest.fixture(scope="module")
def run_report(tiny_run):
    return build_run_report(tiny_run, device="cpu")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """The shipped galaxies classified by the shipped model, with z, magnitudes, separations."""
    from galmorph.astro.classifier import MorphologyClassifier
    from galmorph.data.examples import example_galaxies

    table = MorphologyClassifier(progress=False).predict(example_galaxies())
    rng = np.random.default_rng(5)
    table["z"] = rng.uniform(0.02, 0.16, len(table))
    table["petroMag_r"] = rng.uniform(14.0, 17.7, len(table))
    table["sep_r90"] = rng.uniform(0.3, 5.5, len(table))
    table["sep_r90"][:4] = np.inf                     # no neighbour in the cutout
    path = tmp_path_factory.mktemp("report-catalog") / "classified.ecsv"
    table.write(path)
    return path


@pytest.fixture(scope="module")
def catalog_report(catalog):
    return build_catalog_report(catalog, seed=0)


def _headings(html):
    return re.findall(r"<h1>(.*?)</h1>", html), re.findall(r"<h2>(.*?)</h2>", html)


def _check_self_contained(html, n_figures):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)" '
                        r'width="(\d+)" height="(\d+)">', html)
    assert len(images) == html.count("<img") == n_figures
    for data, alt, width, height in images:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and alt.strip()
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == \
            (int(width), int(height))
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, flags=re.S)
    assert len(captions) == n_figures and all("Read:" in c for c in captions)


# ---------------------------------------------------------------------------
# The decision tree
# ---------------------------------------------------------------------------

def _drawn(fig):
    ax = fig.axes[0]
    nodes = [t.get_gid() for t in ax.texts if (t.get_gid() or "").startswith("Q")]
    edges = [line.get_gid() for line in ax.lines if line.get_gid() in
             {a.kaggle for q in schema.QUESTIONS for a in q.answers} | {"Class1.4"}]
    return nodes, edges


def test_tree_has_one_node_per_question_and_one_edge_per_answer():
    fig = plot_decision_tree()
    nodes, edges = _drawn(fig)
    assert sorted(nodes) == sorted(f"Q{q.number}" for q in schema.QUESTIONS)
    assert sorted(edges) == sorted(schema.KAGGLE_COLUMNS)          # 37, each once
    layout = fig.galmorph_tree
    # Each answer ends where its questions start: Class2.2 leads to Q3, Q4 and Q5.
    assert layout["edges"]["Class2.2"]["children"] == [3, 4, 5]
    assert layout["edges"]["Class1.3"]["children"] == []
    for column, edge in layout["edges"].items():
        for child in edge["children"]:
            assert schema.QUESTIONS[child - 1].parent == column
            assert layout["nodes"][child][0] > edge["end"][0]        # drawn to the right
    texts = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert texts["Q8"] == "Q8\nodd feature"
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "8.6 merger" in labels and "1.3 star or artifact" in labels


def test_tree_follows_a_changed_schema():
    q8 = schema.QUESTIONS[7]
    fewer = dataclasses.replace(q8, answers=q8.answers[:-1])         # drop "dust lane"
    new = schema.Question(12, "Is it a star?", (schema.Answer("Class12.1", "yes", "t12_a", 12),
                                                 schema.Answer("Class12.2", "no", "t12_b", 12)),
                          "Class1.3", "t12_star")
    tree = schema.QUESTIONS[:7] + (fewer,) + schema.QUESTIONS[8:] + (new,)
    fig = plot_decision_tree(questions=tree)
    ax = fig.axes[0]
    nodes = [t.get_gid() for t in ax.texts if (t.get_gid() or "").startswith("Q")]
    edges = [line.get_gid() for line in ax.lines if (line.get_gid() or "").startswith("Class")]
    assert len(nodes) == 12 and "Q12" in nodes
    assert len(edges) == 38 and "Class8.7" not in edges and "Class12.2" in edges
    assert fig.galmorph_tree["edges"]["Class1.3"]["children"] == [12]
    with pytest.raises(ValueError, match="Class9.9"):
        tree_layout((dataclasses.replace(new, parent="Class9.9"),))


def test_tree_line_widths_are_the_mean_fractions():
    rng = np.random.default_rng(0)
    fractions = normalize_tree_numpy(rng.random((40, 37)))
    fractions[:, schema.QUESTION_SLICES[3]] = np.nan                  # Q3 unknown
    fig = plot_decision_tree(fractions)
    lines = {line.get_gid(): line for line in fig.axes[0].lines}
    means = np.nanmean(fractions[:, [0, 1, 23]], axis=0)
    for j, mean in zip((0, 1, 23), means):
        assert fig.galmorph_tree["edges"][schema.KAGGLE_COLUMNS[j]]["value"] == \
            pytest.approx(mean)
        assert lines[schema.KAGGLE_COLUMNS[j]].get_linewidth() == pytest.approx(0.6 + 6 * mean)
    assert fig.galmorph_tree["edges"]["Class3.1"]["value"] is None
    assert lines["Class3.1"].get_linestyle() == "--"
    assert f"8.6 merger  {means[2]:.2f}" in [t.get_text() for t in fig.axes[0].texts]


# ---------------------------------------------------------------------------
# Run reports
# ---------------------------------------------------------------------------

def test_run_report_page(run_report, tiny_run, tmp_path):
    assert [s.title for s in run_report.sections] == RUN_HEADINGS
    html = write_report(run_report, tmp_path / "page.html").read_text()
    h1, h2 = _headings(html)
    assert h1 == [f"galmorph run report: {tiny_run.name}"] and h2 == RUN_HEADINGS
    _check_self_contained(html, len(run_report.figures))
    assert set(run_report.figures) == {"loss", "predicted_vs_true", "prototypes",
                                       "predicted_prototypes", "kernels", "tree"}
    # The resolved config and the files are on the page.
    config = json.loads((tiny_run / "config.json").read_text())
    assert f'<span class="mono">{config["resolved_device"]}</span>' in html
    files = run_report.tables["files"].column("file")
    assert str(tiny_run / "best.pt") in files and str(tiny_run / "split.json") in files
    assert "No predictions are saved" in html


def test_run_report_evaluation_table_is_evaluate(run_report, tiny_run):
    from galmorph.inference.evaluation import evaluate

    fresh = evaluate(tiny_run / "best.pt", device="cpu")           # the run's own data
    shown = run_report.data["evaluation"]
    assert shown["n_galaxies"] == fresh["n_galaxies"] == 20
    keyed = {c.key: c.text for t in run_report.tables.values() for r in t.rows for c in r.cells
             if c.key}
    assert len(keyed) == 4 + 3 + 11 + 11 + 37   # model, baselines, Q counts, Q, answers
    for key, text in keyed.items():
        value = fresh
        for part in key.split("/"):
            value = value[int(part)] if isinstance(value, list) else value[part]
        assert text == (str(value) if isinstance(value, int) else f"{value:.4f}"), key
    per_q = run_report.tables["per_question"]
    assert per_q.column("question") == [f"Q{q.number}" for q in schema.QUESTIONS]
    # The per-question intervals bracket the RMSE.
    for rmse, low, high in zip(per_q.column("RMSE"), per_q.column("95 % low"),
                               per_q.column("95 % high")):
        assert float(low) <= float(rmse) <= float(high)


def test_run_report_figures_show_the_run(run_report, tiny_run):
    from galmorph.plots import read_metrics_csv

    figures = {k: f.figure for k, f in run_report.figures.items()}
    pred, labels = run_report.data["predictions"], run_report.data["labels"]
    evaluation = run_report.data["evaluation"]
    metrics = read_metrics_csv(tiny_run)
    # Learning curves: the metrics.csv values, the mean baseline and the learning rate.
    ax, twin = figures["loss"].axes
    lines = {line.get_label(): line for line in ax.lines}
    np.testing.assert_allclose(lines["train"].get_ydata(), metrics["train_rmse"])
    np.testing.assert_allclose(lines["validation"].get_ydata(), metrics["val_rmse"])
    base = [line for name, line in lines.items() if name.startswith("mean baseline")][0]
    assert base.get_ydata()[0] == pytest.approx(evaluation["baselines"]["mean"])
    assert lines["paper cnn 0.145"].get_ydata()[0] == 0.145
    assert twin.get_ylabel() == "learning rate"
    # Predicted against true: 37 density panels of the 20 galaxies, titled with their RMSE.
    axes = figures["predicted_vs_true"].axes
    assert len(axes) == 37
    for j, ax in enumerate(axes):
        counts = ax.collections[0].get_array()
        assert counts.sum() == 20
        assert ax.get_title() == (f"{schema.KAGGLE_COLUMNS[j]} {schema.ANSWER_LABELS[j]}\n"
                                  f"RMSE {evaluation['per_answer'][schema.KAGGLE_COLUMNS[j]]:.4f}")
    # Prototypes: the top-4 galaxies by label and by prediction, for each default answer.
    for key, values in (("prototypes", labels), ("predicted_prototypes", pred)):
        rows = figures[key].galmorph_rows
        assert list(rows) == [schema.KAGGLE_COLUMNS[schema.column_index(a)]
                              for a in DEFAULT_PROTOTYPE_ANSWERS]
        for column, shown in rows.items():
            j = schema.column_index(column)
            assert sorted(values[shown, j], reverse=True) == \
                sorted(values[:, j], reverse=True)[:4]
        assert len(figures[key].axes) == 4 * len(DEFAULT_PROTOTYPE_ANSWERS)
    # Kernels: the cnn's 32 7x7 first-layer kernels in 2 rows of 16.
    assert figures["kernels"].axes[0].images[0].get_array().shape == (2 * 8 - 1, 16 * 8 - 1, 3)
    # The tree, with the mean volunteer fractions of the evaluated galaxies.
    edges = figures["tree"].galmorph_tree["edges"]
    assert edges["Class1.1"]["value"] == pytest.approx(labels[:, 0].mean())


def test_run_report_predicts_the_galaxies_once(tiny_run, monkeypatch):
    """The figures use the evaluation's own predictions (issue 29): one inference pass, or
    none for a given Evaluation; a saved evaluation.json (a plain dict) needs one."""
    from galmorph.inference import engine
    from galmorph.inference.evaluation import evaluate

    calls, real = [], engine.predict_arrays
    monkeypatch.setattr(engine, "predict_arrays",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    build_run_report(tiny_run, device="cpu")
    assert len(calls) == 1
    result = evaluate(tiny_run / "best.pt", device="cpu")
    calls.clear()
    given = build_run_report(tiny_run, device="cpu", evaluation=result)
    assert calls == []
    np.testing.assert_array_equal(given.data["rows"], result.rows)
    np.testing.assert_allclose(given.data["predictions"], result.predictions)
    np.testing.assert_allclose(given.data["labels"], result.labels)
    assert given.data["evaluation"] == result.to_dict()
    saved = json.loads(json.dumps(result.to_dict()))
    from_json = build_run_report(tiny_run, device="cpu", evaluation=saved)
    assert len(calls) == 1 and from_json.data["evaluation"] == saved
    np.testing.assert_allclose(from_json.data["predictions"], result.predictions, atol=1e-6)
    notes = [i.text for i in from_json.section("evaluation").items if i.kind == "note"]
    assert not any("differs" in n for n in notes)


def test_run_report_with_partial_labels(tiny_run, tmp_path):
    """Data labelled for Q1, Q2, Q6, Q7 and Q8 only: the other questions are reported unknown."""
    full = Table.read(tiny_run.parent / "synth" / "training_solutions_rev1.csv")
    keep = ["GalaxyID"] + [c for q in PARTIAL for c in schema.QUESTIONS[q - 1].columns]
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "images_training_rev1").symlink_to(tiny_run.parent / "synth" /
                                                  "images_training_rev1")
    full[keep].write(partial / "training_solutions_partial.csv", format="ascii.csv")
    report = build_run_report(tiny_run, partial, device="cpu")
    evaluation = report.data["evaluation"]
    unknown = [f"Q{q.number}" for q in schema.QUESTIONS if q.number not in PARTIAL]
    assert [q for q, v in evaluation["per_question"].items() if v is None] == unknown
    notes = [i.text for i in report.section("evaluation").items if i.kind == "note"]
    assert any(", ".join(unknown) in n for n in notes)
    rows = {r.cells[0].text: r for r in report.tables["per_question"].rows}
    assert rows["Q3"].muted and rows["Q3"].cells[3].text == "-"
    assert not rows["Q8"].muted and rows["Q8"].cells[3].text == \
        f"{evaluation['per_question']['Q8']:.4f}"
    # Predicted against true: only the 17 answers of the known questions.
    titles = [ax.get_title().split()[0] for ax in report.figures["predicted_vs_true"].figure.axes]
    assert titles == keep[1:]
    # True prototypes only for answers whose question is known; the tree marks the rest.
    shown = report.figures["prototypes"].figure.galmorph_rows
    assert all(schema.ANSWERS[schema.column_index(c)].question in PARTIAL for c in shown)
    edges = report.figures["tree"].figure.galmorph_tree["edges"]
    assert edges["Class3.1"]["value"] is None and edges["Class8.6"]["value"] is not None


def test_run_report_of_a_calibrated_model(tiny_run, tmp_path):
    """A copy of the run whose best.pt is calibrated on 40 other synthetic galaxies: the
    report measures the calibration on the run's 20 validation galaxies and shows it."""
    import shutil

    from galmorph.inference.evaluation import evaluate
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.synth import make_synthetic
    from galmorph.trust.fit import calibrate
    from galmorph.trust.measure import TrustMeasure
    from galmorph.workflows.report._trust import TRUST_TITLE

    run = shutil.copytree(tiny_run, tmp_path / "run")
    other = make_synthetic(tmp_path / "calib", n=40, seed=11, workers=1, progress=False)
    calibrate(run / "best.pt", other, out=run / "best.pt", progress=False)
    report = build_run_report(run, device="cpu")
    headings = RUN_HEADINGS[:3] + [TRUST_TITLE] + RUN_HEADINGS[3:]
    assert [s.title for s in report.sections] == headings
    html = write_report(report, tmp_path / "page.html").read_text()
    assert _headings(html)[1] == headings
    _check_self_contained(html, len(report.figures))
    # The numbers are evaluate's with the model's calibration, each cell keyed to its place.
    ckpt = load_checkpoint(run / "best.pt")
    fresh = evaluate(ckpt, device="cpu", extra=TrustMeasure(ckpt.meta["trust"]))
    trust = fresh["trust"]
    assert trust["n_galaxies"] == 20 and trust["calibration_fitted_on"]["n"] == 40
    assert report.data["evaluation"]["trust"] == trust
    keyed = {c.key: c.text for key in ("interval_coverage", "interval_coverage_per_question")
             for r in report.tables[key].rows for c in r.cells if c.key}
    assert len(keyed) == 4 * 3 + 11 * 3
    for key, text in keyed.items():
        value = fresh
        for part in key.split("/"):
            value = value[part]
        assert text == (str(value) if isinstance(value, int) else f"{value:.4f}"), key
        assert f'data-key="{key}"' in html
    assert report.tables["interval_coverage"].column("nominal coverage") == [
        "0.50", "0.68", "0.90", "0.95"]
    # The reliability figure: the bold line is the measured coverage at the four levels.
    ax = report.figures["interval_reliability"].figure.axes[0]
    bold = [line for line in ax.lines if line.get_label() == "all known cells"][0]
    np.testing.assert_allclose(bold.get_ydata(), [trust["intervals"][k]["coverage"]
                                                  for k in ("0.5", "0.68", "0.9", "0.95")])
    texts = " ".join(i.text for i in report.section("trust").items if i.kind in ("text", "note"))
    assert "fitted on data calib, n 40" in texts and "in-sample" in texts
    # Given an evaluation made without measuring the calibration, the section says so.
    plain = evaluate(run / "best.pt", device="cpu")
    again = build_run_report(run, device="cpu", evaluation=plain)
    items = again.section("trust").items
    assert [i.kind for i in items] == ["note"] and "without measuring it" in items[0].text


# ---------------------------------------------------------------------------
# Catalogue reports
# ---------------------------------------------------------------------------

def test_catalog_report_page(catalog_report, catalog, tmp_path):
    assert [s.title for s in catalog_report.sections] == CATALOG_HEADINGS
    html = write_report(catalog_report, tmp_path / "c.html").read_text()
    assert _headings(html) == ([f"galmorph catalogue report: {catalog.name}"], CATALOG_HEADINGS)
    _check_self_contained(html, len(catalog_report.figures))
    assert set(catalog_report.figures) == {"histograms", "correlation", "tree", "merger_scan",
                                           "merger_separation", "redshift", "prototypes"}
    assert catalog_report.data["n_used"] == 24


def test_catalog_figures_show_the_catalogue(catalog_report, catalog):
    from galmorph.astro.mergers import merger_fraction, separation_bias
    from galmorph.astro.redshift import redshift_trends

    table = Table.read(catalog)
    values = np.column_stack([table[c] for c in schema.KAGGLE_COLUMNS])    # (24, 37)
    figures = {k: f.figure for k, f in catalog_report.figures.items()}
    # Fig 1: one histogram per answer, each holding all 24 galaxies.
    axes = figures["histograms"].axes
    assert len(axes) == 37
    assert [ax.get_title() for ax in axes][:2] == ["Class1.1 smooth", "Class1.2 features or disk"]
    for ax in axes:
        assert sum(p.get_height() for p in ax.patches) == 24
    # Fig 3: the Pearson correlation of the 37 columns.
    matrix = figures["correlation"].axes[0].images[0].get_array()
    expected = np.corrcoef(values.T)
    defined = ~np.ma.getmaskarray(matrix)
    np.testing.assert_allclose(np.ma.getdata(matrix)[defined], expected[defined], atol=1e-9)
    # Mergers: the scan passes through the merger fraction at the 0.54 threshold.
    found = merger_fraction(table, 0.54, method="rule")
    line = [ln for ln in figures["merger_scan"].axes[0].lines
            if ln.get_label() == "merger fraction"][0]
    x, y = line.get_xdata(), line.get_ydata()
    assert y[np.flatnonzero(np.isclose(x, 0.54))[0]] == pytest.approx(found.fraction)
    assert f"{found.n_merger} of 24 galaxies" in catalog_report.section("mergers").items[0].text
    # The calibrated estimate, and the same probabilities re-estimated for a merger-rich
    # selection, read from the calibration's rate that predict wrote to the meta.
    text = catalog_report.section("mergers").items[1].text
    assert text.startswith("From the calibrated merger_prob")
    shifted = merger_fraction(table, method="prior-shift", n_boot=200, seed=0)
    assert f"is {shifted.fraction:.4f}, 68% interval {shifted.low:.4f}" in text
    assert f"({table.meta['merger_prob_prior']:.2%})" in text
    bias = separation_bias(table, threshold=0.54, seed=0)
    left = figures["merger_separation"].axes[0]
    finite = np.isfinite(bias["sep_low"]) & (bias["n"] > 0)
    np.testing.assert_allclose(left.lines[0].get_ydata(), bias["mean_p_merger"][finite])
    assert left.lines[-1].get_label() == "no neighbour (4)"
    # Redshift: the binned means of smooth, features and merger.
    trends = redshift_trends(table, seed=0)
    ax = figures["redshift"].axes[0]
    smooth = [c for c in ax.containers if c.get_label() == "smooth"][0].lines[0]
    np.testing.assert_allclose(smooth.get_ydata(), trends["Class1.1"])
    np.testing.assert_allclose(smooth.get_xdata(), trends["z_mean"])
    assert catalog_report.tables["redshift_flags"].column("flag")[0] == "z_split"
    # Prototypes: each answer's 4 most confident galaxies.
    rows = figures["prototypes"].galmorph_rows
    for column, shown in rows.items():
        j = schema.column_index(column)
        assert list(shown) == list(np.argsort(-values[:, j], kind="stable")[:4])
    # The tree: the mean predicted fractions.
    edges = figures["tree"].galmorph_tree["edges"]
    assert edges["Class8.6"]["value"] == pytest.approx(values[:, 23].mean())


def test_catalog_report_and_classify_meta_give_one_redshift_slope(catalog, catalog_report):
    # Issue 25: classify's meta said 0.418 +- 0.69, the report 0.395 +- 0.68 for the same
    # rows (100 against 200 bootstrap resamples weighting the fit). Now one computation.
    from galmorph.astro.redshift import record_redshift_trends

    table = Table.read(catalog)
    record_redshift_trends(table, table["z"])      # what classify records for these rows
    recorded = table.meta["redshift_trends"]["flags"]
    shown = catalog_report.tables["redshift_flags"]
    shown = dict(zip(shown.column("flag"), shown.column("value")))
    for key in ("features_slope", "features_slope_err", "smooth_low_z", "smooth_high_z"):
        assert shown[key] == f"{recorded[key]:.4g}", key
    assert "differ because" not in " ".join(t.text for t in catalog_report.section("redshift")
                                            .items if isinstance(t, ReportText))
    # Where they cannot agree (another bootstrap seed here), the report says why.
    record_redshift_trends(table, table["z"], seed=1)
    other = build_catalog_report(table, seed=0).section("redshift")
    notes = [t.text for t in other.items if isinstance(t, ReportText) and t.note]
    assert any("differ because of: bootstrap seed 1 there, 0 here" in n for n in notes), notes


def test_catalog_without_redshift_separations_or_images(catalog, tmp_path):
    table = Table.read(catalog)
    table.remove_columns(["z", "sep_r90", "file"])
    table["predict_ok"][0] = False                    # a failed row is left out
    table.meta["model_name"] = "<b>unsafe</b>"
    path = tmp_path / "bare.ecsv"
    table.write(path)
    report = build_catalog_report(path)
    assert report.data["n_used"] == 23
    assert set(report.figures) == {"histograms", "correlation", "tree", "merger_scan"}
    notes = " ".join(i.text for s in report.sections for i in s.items if i.kind == "note")
    assert "--separations" in notes and "redshift" in notes and "--images COLUMN" in notes
    html = report_catalog(path).read_text()                          # bare-report.html
    assert "&lt;b&gt;unsafe&lt;/b&gt;" in html and "<b>unsafe" not in html
    assert (tmp_path / "bare-report.html").is_file()


# ---------------------------------------------------------------------------
# Bad input: a clear error and no file
# ---------------------------------------------------------------------------

def test_run_folder_without_metrics(tmp_path):
    run = tmp_path / "notarun"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(DataError, match=r"notarun has no metrics.csv"):
        report_run(run)
    assert list(run.iterdir()) == [run / "config.json"]


def test_catalog_without_the_37_columns(tmp_path):
    path = tmp_path / "short.ecsv"
    Table({"Class1.1": [0.1, 0.2], "z": [0.1, 0.2]}).write(path)
    with pytest.raises(MissingColumnError, match=r"short.ecsv lacks 36 of the 37 GZ2 answer "
                                                 r"columns \(Class1.2, Class1.3"):
        make_report(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.ecsv"]


def test_catalog_arguments_are_checked(catalog):
    from galmorph.errors import ParameterError

    with pytest.raises(MissingColumnError, match=r"no image column 'scan'.*--images COLUMN"):
        build_catalog_report(catalog, images="scan")
    with pytest.raises(ParameterError, match="out= is needed to report a Table"):
        report_catalog(Table.read(catalog))
    with pytest.raises(DataError, match="missing.ecsv is not a file"):
        build_catalog_report(catalog.parent / "missing.ecsv")


def test_unwritable_output(catalog, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="not a directory"):
        report_catalog(catalog, out=blocker / "r.html")
    proc = subprocess.run([sys.executable, "-m", "galmorph", "report", str(catalog), "--out",
                           str(blocker / "r.html")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"galmorph report: error: --out {blocker / 'r.html'}: cannot "
                                  f"write to")
    assert "Traceback" not in proc.stderr


def test_failed_write_keeps_the_old_report(tmp_path, monkeypatch):
    out = tmp_path / "report.html"
    out.write_text("old")
    report = Report("t", "catalog", "x", sections=[ReportSection("s", "S", [ReportText("hi")])])
    monkeypatch.setenv("GALMORPH_FAULT_INJECT", f"ENOSPC:{out}")
    with pytest.raises(OSError, match="No space left"):
        write_report(report, out)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]
    monkeypatch.delenv("GALMORPH_FAULT_INJECT")
    assert "<h2>S</h2>" in write_report(report, out).read_text()


def test_cli_catalog_report_and_wrong_flags(catalog, tmp_path):
    env = {**os.environ, "GALMORPH_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "cli.html"
    proc = subprocess.run([sys.executable, "-m", "galmorph", "report", str(catalog), "--out",
                           str(out), "--threshold", "0.3"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(out)
    assert "Threshold scan around 0.3<" in out.read_text()
    proc = subprocess.run([sys.executable, "-m", "galmorph", "report", str(catalog), "--data",
                           str(tmp_path)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 1 and "--data: for run folders only" in proc.stderr


def test_demo_writes_a_report(tmp_path, capsys, user_cache):
    from galmorph.workflows.demo import format_summary, run_demo

    result = run_demo(out=tmp_path / "demo", n=60, epochs=1, model="cnn", size=48,
                      examples=False, progress=False, n_predict=2)
    assert result.report_path == result.run / "report.html"
    html = result.report_path.read_text()
    assert _headings(html)[1] == RUN_HEADINGS
    assert f">{result.rmse:.4f}<" in html
    assert f"report       {result.report_path}" in format_summary(result)
    assert f"report {result.report_path}" in capsys.readouterr().out
