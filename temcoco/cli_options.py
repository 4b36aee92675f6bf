"""Typer options built from a settings dataclass's fields (their :class:`~temcoco.options.CliOption`
metadata and their defaults), and the dataclass built back from what the options got."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import typer

from temcoco.options import OPTION, CliOption


def field_option(settings: type, name: str, *, default: Any = dataclasses.MISSING, help: str | None = None):
    """The typer option (or argument) that sets field ``name`` of ``settings``, with the field's default
    and help unless a command that means something else by it gives its own."""
    f = next(f for f in dataclasses.fields(settings) if f.name == name)
    spec: CliOption = f.metadata[OPTION]
    default = f.default if default is dataclasses.MISSING else default
    required_or_default = ... if default is dataclasses.MISSING else default
    if spec.argument:
        return typer.Argument(required_or_default, help=help or spec.help)
    return typer.Option(required_or_default, *spec.names, help=help or spec.help, min=spec.min)


def settings_parameters(settings: type) -> list[inspect.Parameter]:
    """The keyword parameters of a command that takes every option of ``settings``, in field order
    (a field holding settings of its own: their options); a tuple field is a repeatable option."""
    hints = typing.get_type_hints(settings)
    parameters = []
    for f in dataclasses.fields(settings):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            parameters += settings_parameters(hint)
        elif OPTION in f.metadata:
            annotation = list[typing.get_args(hint)[0]] if typing.get_origin(hint) is tuple else hint
            parameters.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                                default=field_option(settings, f.name)))
    return parameters


def build_settings(settings: type, values: dict):
    """``settings`` built from the values its :func:`settings_parameters` got, taken out of ``values``."""
    hints = typing.get_type_hints(settings)
    fields = {}
    for f in dataclasses.fields(settings):
        if dataclasses.is_dataclass(hints[f.name]):
            fields[f.name] = build_settings(hints[f.name], values)
        elif OPTION in f.metadata:
            value = values.pop(f.name)
            fields[f.name] = tuple(value) if isinstance(value, list) else value
    return settings(**fields)
