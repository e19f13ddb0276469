"""darkpy/layers/registry.py names each layer module, class and section names without
importing them; the reference is the classes themselves, found by importing every module
under darkpy/layers/."""
from __future__ import annotations

import importlib
import pkgutil

import darkpy.layers
from darkpy.layers.base import Layer
from darkpy.layers.registry import KINDS, LAYERS, LAYER_CLASSES, REGISTRY, layer_class


def every_layer_kind() -> dict[str, type]:
    """Section name -> class for each class in darkpy/layers/ that declares its own `kind`
    (Layer itself declares an empty one)."""
    found = {}
    for info in pkgutil.iter_modules(darkpy.layers.__path__):
        module = importlib.import_module(f"darkpy.layers.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Layer)
                    and value.__module__ == module.__name__ and vars(value).get("kind")):
                for name in (value.kind, *value.aliases):
                    assert found.setdefault(name, value) is value, name
    return found


def test_the_table_names_every_layer_class_as_it_declares_itself():
    assert {name: layer_class(name) for name in KINDS} == every_layer_kind()
    for module, cls, kind, *aliases in LAYERS:
        found = layer_class(kind)
        assert (found.__module__, found.__name__) == (f"darkpy.layers.{module}", cls)
        assert (found.kind, tuple(found.aliases)) == (kind, tuple(aliases))


def test_registry_and_layer_classes_hold_every_class():
    assert REGISTRY == every_layer_kind()
    assert len(LAYER_CLASSES) == len(set(LAYER_CLASSES)) == len(set(REGISTRY.values()))
    assert layer_class("no_such_layer") is None
