"""The catalogue report's embedding section (galmorph.workflows.report._embedding): the 24
shipped real galaxies and a blank frame, classified with embeddings by the shipped model."""
import numpy as np
import pytest
from PIL import Image

from galmorph.workflows.report import build_catalog_report, write_report
from galmorph.workflows.report._embedding import N_NEIGHBOURS


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    from astropy.table import Table

    from galmorph.astro.classifier import MorphologyClassifier
    from galmorph.data.examples import example_galaxies

    folder = tmp_path_factory.mktemp("report-embedding")
    blank = folder / "blank.png"
    Image.fromarray(np.zeros((424, 424, 3), np.uint8)).save(blank)
    shipped = example_galaxies()
    galaxies = Table({"file": [str(f) for f in shipped["file"]] + [str(blank)],
                      "shows": [str(s) for s in shipped["shows"]] + ["blank frame"]})
    # fp32, not "auto": "auto" takes int8 where the disk cache already holds the model's
    # int8 form, and the two rank these 25 a little differently.
    table = MorphologyClassifier(progress=False, embedding=True,
                                 precision="fp32").predict(galaxies)
    path = folder / "classified.ecsv"
    table.write(path)
    return path


def test_the_blank_frame_leads_the_unusual_galaxies_and_each_has_neighbours(embedded, tmp_path):
    report = build_catalog_report(embedded, seed=0)
    section = report.sections[-1]
    assert section.title == "Unusual and similar galaxies"
    assert {"anomalies", "neighbours"} <= set(report.figures)
    anomalies = report.figures["anomalies"].figure
    first = anomalies.axes[0].get_title()
    assert first.startswith("#1 ") and "score" in first
    # The blank frame is among the first three of the 25 by its 3 nearest neighbours (second,
    # in fp32; with the default k = 10, 40 % of so small a sample, three compact smooth
    # galaxies score a little higher). The grid's titles give ranks, not names: check the
    # ranking the section draws from.
    from astropy.table import Table

    from galmorph.adapt.anomaly import rank_anomalies

    ranked = rank_anomalies(Table.read(embedded), k=3)
    assert "blank frame" in list(ranked["shows"][:3])
    neighbours = report.figures["neighbours"].figure
    assert len([a for a in neighbours.axes if a.get_title()]) == 3 * (1 + N_NEIGHBOURS)
    html = write_report(report, tmp_path / "r.html").read_text()
    assert "<h2>Unusual and similar galaxies</h2>" in html


def test_a_table_without_embeddings_has_no_such_section(embedded):
    from astropy.table import Table

    table = Table.read(embedded)
    table.remove_column("embedding")
    report = build_catalog_report(table, seed=0)
    assert "Unusual and similar galaxies" not in [s.title for s in report.sections]
    table["file"] = ["absent.png"] * len(table)
    table["embedding"] = Table.read(embedded)["embedding"]
    section = build_catalog_report(table, seed=0).sections[-1]
    assert section.title == "Unusual and similar galaxies"
    assert [item.kind for item in section.items] == ["note"]          # a note, no grid
