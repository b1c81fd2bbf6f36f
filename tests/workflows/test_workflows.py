"""The ``galmorph.workflows`` namespace and the old module paths kept after issue 29's move."""
import importlib
import sys

import pytest

import galmorph.workflows

MOVED = {"galmorph.workflows.report_run": "galmorph.workflows.report.run",
         "galmorph.workflows.report_catalog": "galmorph.workflows.report.catalog",
         "galmorph.workflows.report_document": "galmorph.workflows.report.document",
         "galmorph.workflows.survey_write": "galmorph.workflows.survey.write"}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_paths_warn_and_give_the_same_names(old, monkeypatch):
    new = importlib.import_module(MOVED[old])
    monkeypatch.delitem(sys.modules, old, raising=False)    # the warning is at import
    with pytest.warns(DeprecationWarning, match=MOVED[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module.__all__ == new.__all__
    for name in new.__all__:
        assert getattr(module, name) is getattr(new, name), name


def test_namespace_names_resolve_to_the_subpackages():
    from galmorph.workflows.report import make_report
    from galmorph.workflows.survey import classify_survey, run_survey, write_survey

    assert galmorph.workflows.make_report is make_report
    assert galmorph.workflows.classify_survey is classify_survey
    assert galmorph.workflows.write_survey is write_survey
    assert run_survey.__module__ == "galmorph.workflows.survey._run"


def test_report_template_is_found():
    from galmorph.workflows.report._html import TEMPLATE, _environment

    assert _environment().get_template(TEMPLATE).filename.endswith(
        "workflows/report/templates/report.html.j2")
