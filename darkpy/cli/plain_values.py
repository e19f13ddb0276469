"""Convert plain command-line values without importing pydantic.

Typer 0.2x converts every parameter value through a pydantic TypeAdapter, built when the
parameter first sees a value, even a default of None: the first command that runs imports
pydantic, about 0.15 s of a `darkpy info` that should answer in under half a second. Most
of darkpy's values are plain (a path, an int or float, a string, a list of those, None);
for those the result is the same whichever way it is computed, so this module computes it
directly and hands anything else (enums, bad or out-of-range input, whose error message
pydantic words) to typer's own conversion, built only then.

`install()` patches typer's lazily built per-parameter converter on the typer releases it was
checked against (CHECKED_TYPER); it changes nothing on any other typer (older ones convert
through click and never import pydantic; newer ones keep their own conversion).
tests/test_startup.py checks that pydantic stays out, tests/test_cli_plain_values.py that
the answers are typer's own.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import get_args, get_origin

_NOT_PLAIN = object()
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{0,15})?")


def _in_range(number, info) -> bool:
    return ((info.min is None or number >= info.min)
            and (info.max is None or number <= info.max))


def plain_value(annotation, info, value, path_check):
    """The converted value when `value` is plain for `annotation`, else _NOT_PLAIN.
    `path_check(path, path_class)` runs typer's own checks on a path (exists, readable...)."""
    if info.parser is not None or getattr(info, "clamp", False):
        return _NOT_PLAIN
    if get_origin(annotation) is list and isinstance(value, (list, tuple)):
        (element,) = get_args(annotation)
        items = [plain_value(element, info, item, path_check) for item in value]
        return _NOT_PLAIN if any(item is _NOT_PLAIN for item in items) else items
    kind = type(value)
    if annotation is str:
        return value if kind is str else _NOT_PLAIN
    if annotation is int or annotation is float:
        if kind is annotation:
            number = value
        elif kind is str and (_INT if annotation is int else _FLOAT).fullmatch(value):
            number = annotation(value)
        else:
            return _NOT_PLAIN
        return number if _in_range(number, info) else _NOT_PLAIN
    if (isinstance(annotation, type) and issubclass(annotation, Path)
            and info.path_type is None and isinstance(value, (str, Path))):
        return path_check(annotation(value), annotation)
    return _NOT_PLAIN


# the typer releases whose private converter hook this was written and tested against: another
# release keeps typer's own conversion (correct, only slower to start)
CHECKED_TYPER = ("0.29.",)


def install() -> None:
    import typer

    if not typer.__version__.startswith(CHECKED_TYPER):
        return
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
        from typer.core import _TyperParameter
    except ImportError:  # a typer that converts through click: nothing to avoid
        return
    if getattr(_TyperParameter.get_runtime_param, "darkpy_plain", False):
        return

    class PlainFirst(RuntimeParam):
        """None and plain values here; anything else through typer's converter."""

        def __init__(self, descriptor):
            super().__init__(parameter_info=descriptor.parameter_info,
                             annotation=descriptor.annotation)
            object.__setattr__(self, "descriptor", descriptor)

        def _coerce_value(self, value, param, ctx):
            info = self.parameter_info
            converted = plain_value(
                self.annotation, info, value,
                lambda path, path_class: coerce_cli_path(path, info, path_type=path_class,
                                                         param=param, ctx=ctx))
            if converted is not _NOT_PLAIN:
                return converted
            full = build_runtime_param(self.descriptor)
            param._runtime_param = full
            return full._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self):
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            plain = None
            if descriptor.file_annotation is None:
                try:
                    plain = PlainFirst(descriptor)
                except (TypeError, AttributeError):  # a descriptor this hook does not know
                    plain = None
            self._runtime_param = plain or build_runtime_param(descriptor)
        return self._runtime_param

    get_runtime_param.darkpy_plain = True
    get_runtime_param.typer_own = _TyperParameter.get_runtime_param  # for the tests' comparison
    _TyperParameter.get_runtime_param = get_runtime_param
