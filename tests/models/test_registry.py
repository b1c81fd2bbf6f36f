"""Tests of galmorph.models._registry: what each registered model carries besides its weights."""
import pytest

from galmorph.models import (ALL_MODEL_NAMES, DEFAULT_PREPROCESSING, model_config, model_entry,
                             preprocessing_of)


@pytest.mark.parametrize("name", ALL_MODEL_NAMES)
def test_preprocessing_is_the_entrys_with_the_configs_input_size(name):
    assert preprocessing_of(name) == model_entry(name).preprocessing == DEFAULT_PREPROCESSING
    assert preprocessing_of(name, input_size=64) == {"crop": 224, "size": 64}
    assert preprocessing_of(name) is not model_entry(name).preprocessing   # a copy


def test_a_model_not_registered_gets_the_default_preprocessing():
    assert preprocessing_of(None) == preprocessing_of("my-net") == {"crop": 224, "size": 80}
    assert preprocessing_of(None, input_size=96)["size"] == 96


def test_a_fresh_network_is_built_for_its_entrys_size():
    for name in ("cnn", "resnet18-cpu"):
        assert model_config(name).input_size == preprocessing_of(name)["size"]
