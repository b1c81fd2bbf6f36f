"""ClassifierSettings: the classifier's arguments, defined once (galmorph.astro.settings)."""
import dataclasses
import inspect

import pytest

from galmorph.astro import ClassifierSettings, MorphologyClassifier
from galmorph.schema import PAPER_MERGER_THRESHOLD


def test_the_classifier_takes_the_settings_fields_in_order_with_their_defaults():
    params = list(inspect.signature(MorphologyClassifier).parameters.values())
    assert [p.name for p in params] == list(ClassifierSettings.names())
    fields = {f.name: f.default for f in dataclasses.fields(ClassifierSettings)}
    assert {p.name: p.default for p in params} == fields
    assert params[0].name == "model" and params[0].default is None
    assert fields["merger_threshold"] == PAPER_MERGER_THRESHOLD == 0.54
    assert (fields["intervals"], fields["merger_rule"]) == (None, "prob")


def test_the_constructor_stores_its_arguments_as_given():
    clf = MorphologyClassifier("x.pt", "cpu", timeout=2, merger_rule="nonsense")
    assert (clf.model, clf.device, clf.timeout, clf.merger_rule) == ("x.pt", "cpu", 2, "nonsense")
    assert clf.batch_size == 256 and not hasattr(clf, "model_")   # nothing loaded, nothing checked
    default = MorphologyClassifier()
    assert default.settings == ClassifierSettings()
    assert all(getattr(default, n) == getattr(ClassifierSettings(), n)
               for n in ClassifierSettings.names())


def test_settings_round_trip_and_follow_the_attributes():
    settings = ClassifierSettings(tta="d8", intervals=0.9, merger_rule="paper")
    clf = MorphologyClassifier(**settings.as_kwargs())
    assert clf.settings == settings
    clf.batch_size = 32                                   # set later, as scikit-learn allows
    assert clf.settings == dataclasses.replace(settings, batch_size=32)
    assert "progress" not in settings.as_kwargs(skip=("progress",))


def test_settings_are_frozen_and_hashable():
    settings = ClassifierSettings(cache_dir="c")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.batch_size = 1
    assert hash(settings) == hash(ClassifierSettings(cache_dir="c"))


def test_a_wrong_argument_names_the_class_called():
    with pytest.raises(TypeError, match=r"^MorphologyClassifier\(\) got an unexpected keyword "
                                        r"argument 'thresold'"):
        MorphologyClassifier(thresold=0.5)
    with pytest.raises(TypeError, match=r"MorphologyClassifier\(\) got multiple values"):
        MorphologyClassifier("a.pt", model="b.pt")
    with pytest.raises(TypeError, match=r"^classify_survey\(\) got an unexpected"):
        ClassifierSettings.bind("classify_survey", nonsense=1)
