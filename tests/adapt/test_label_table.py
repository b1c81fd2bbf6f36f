"""Reading a table of your own labels: tasks read from the columns, errors naming rows."""
import numpy as np
import pytest
from astropy.table import Table

from galmorph.adapt._label_table import read_label_table
from galmorph.errors import DataError, MissingColumnError, ParameterError


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "img").mkdir()
    for k in range(6):
        (tmp_path / "img" / f"{k}.jpg").write_bytes(b"jpeg")   # only their existence is read
    return tmp_path


def write(folder, text, name="labels.csv"):
    path = folder / name
    path.write_text(text)
    return path


def test_tasks_are_read_from_the_columns(folder):
    path = write(folder, "path,ring,z,kind\n" + "\n".join(
        f"img/{k}.jpg,{k % 2 == 0},{0.1 * k:.2f},{'abc'[k % 3]}" for k in range(6)))
    table = read_label_table(path, ["ring", "z", "kind"])
    tasks = [h["task"] for h in table.heads]
    assert tasks == ["binary", "regression", "multiclass"]
    assert table.heads[0]["classes"] == ["False", "True"]
    assert table.heads[2]["classes"] == ["a", "b", "c"]
    assert table.targets.shape == (6, 3)
    assert table.targets[:, 0].tolist() == [1, 0, 1, 0, 1, 0]
    assert table.paths[0] == folder.resolve() / "img" / "0.jpg"
    assert table.heads[1]["mean"] == pytest.approx(0.25)


def test_missing_labels_are_skipped_per_label_and_per_row(folder):
    path = write(folder, "path,a,b\nimg/0.jpg,1.5,\nimg/1.jpg,,\nimg/2.jpg,2.5,x\n"
                         "img/3.jpg,NaN,y\nimg/4.jpg,3.0,x\n")
    table = read_label_table(path, ["a", "b"])
    assert table.rows.tolist() == [0, 2, 3, 4]           # row 1 has neither label
    assert table.skipped == [1]
    assert np.isnan(table.targets[0, 1]) and np.isnan(table.targets[2, 0])


def test_a_text_in_a_column_of_numbers_names_the_rows(folder):
    path = write(folder, "path,z\nimg/0.jpg,0.1\nimg/1.jpg,0.2\nimg/2.jpg,oops\nimg/3.jpg,0.3\n")
    with pytest.raises(DataError, match=r"column 'z' of .*labels.csv.* row 3 \('oops'\) is not "
                                        r"a number"):
        read_label_table(path, "z")
    with pytest.raises(DataError, match="row 3"):
        read_label_table(path, "z", task="regression")


def test_a_missing_image_names_the_row_and_where_it_looked(folder):
    path = write(folder, "path,z\nimg/0.jpg,0.1\nimg/nope.jpg,0.2\nimg/2.jpg,0.3\n")
    with pytest.raises(DataError, match=r"row 2: img/nope.jpg \(looked for .*img/nope.jpg\)"):
        read_label_table(path, "z")
    # Resolved against --image-dir instead of the table's folder:
    with pytest.raises(DataError, match="row 1"):
        read_label_table(path, "z", image_dir=folder / "elsewhere")


def test_missing_columns_and_useless_labels_are_named(folder):
    path = write(folder, "path,z,same\nimg/0.jpg,0.1,a\nimg/1.jpg,0.2,a\n")
    with pytest.raises(MissingColumnError, match="no label column 'ring'; its columns are "
                                                 "path, z, same"):
        read_label_table(path, "ring")
    with pytest.raises(DataError, match="holds one value .* nothing to learn"):
        read_label_table(path, "same", task="binary")
    with pytest.raises(ParameterError, match="at least one label"):
        read_label_table(path, [])
    other = write(folder, "file,z\nimg/0.jpg,1\n", "nopath.csv")
    with pytest.raises(MissingColumnError, match="image path column 'path'"):
        read_label_table(other, "z")


def test_fits_and_ecsv_tables_and_a_trained_heads_classes(folder):
    t = Table({"path": [f"img/{k}.jpg" for k in range(4)], "kind": ["x", "y", "x", "z"]})
    for name in ("labels.fits", "labels.ecsv"):
        t.write(folder / name)
        table = read_label_table(folder / name, "kind")
        assert table.heads[0]["task"] == "multiclass" and len(table) == 4
    spec = {"label": "kind", "task": "multiclass", "classes": ["x", "y"]}
    with pytest.raises(DataError, match=r"row 4 \('z'\) hold\(s\) a class the model does not "
                                        r"know \(it knows x, y\)"):
        read_label_table(folder / "labels.ecsv", "kind", heads=[spec])
