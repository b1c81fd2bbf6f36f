"""The ``galmorph.training`` namespace: its public names are the objects their modules define."""
import importlib
import pkgutil

import pytest

import galmorph.training


def test_train_is_the_function_even_after_every_submodule_is_imported():
    # No sub-module is named ``train`` (the loop is ``loop``), so importing them all cannot
    # replace the function on the package (as a module of that name would).
    for info in pkgutil.iter_modules(galmorph.training.__path__):
        importlib.import_module(f"galmorph.training.{info.name}")
    from galmorph.training import TrainConfig, train
    from galmorph.training.config import TrainConfig as config_TrainConfig
    from galmorph.training.loop import train as loop_train

    assert train is loop_train and galmorph.training.train is loop_train
    assert TrainConfig is config_TrainConfig
    assert sorted(galmorph.training.__all__) == ["TrainConfig", "train"]


def test_the_old_module_path_is_gone():
    with pytest.raises(ModuleNotFoundError, match="galmorph.training.train"):
        importlib.import_module("galmorph.training.train")
