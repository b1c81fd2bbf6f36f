"""Tests of galmorph.schema: the GZ2 tree as data (its label arrays: test_labels.py)."""
import pytest

from galmorph import schema
from galmorph.schema import ANSWERS, KAGGLE_COLUMNS, QUESTION_SLICES


def test_tree_shape_matches_kaggle_encoding():
    assert len(ANSWERS) == 37 and len(schema.QUESTIONS) == 11
    assert KAGGLE_COLUMNS[0] == "Class1.1" and KAGGLE_COLUMNS[-1] == "Class11.6"
    assert [q.stop - q.start for q in QUESTION_SLICES.values()] == [3, 2, 2, 2, 4, 2, 3, 7, 3, 3, 6]
    assert schema.ANSWER_LABELS[schema.column_index("Class8.6")] == "merger"
    assert schema.GZ2_COLUMNS[-1] == "t11_arms_number_a37_cant_tell"
    assert schema.column_index("merger") == schema.column_index("Class8.6")
    assert "merger" in schema.describe_column("Class8.6")


@pytest.mark.parametrize("question,parent", [(1, None), (6, None), (2, "Class1.2"), (3, "Class2.2"),
                                             (4, "Class2.2"), (5, "Class2.2"), (7, "Class1.1"),
                                             (8, "Class6.1"), (9, "Class2.1"), (10, "Class4.1"),
                                             (11, "Class4.1")])
def test_parents_follow_the_gz2_tree(question, parent):
    assert schema.QUESTIONS[question - 1].parent == parent


def test_tree_order_puts_parents_first():
    seen = set()
    for number in schema.TREE_ORDER:
        parent = schema.PARENT_INDEX[number]
        if parent is not None:
            assert ANSWERS[parent].question in seen
        seen.add(number)
