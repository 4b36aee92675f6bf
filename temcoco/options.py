"""How a settings dataclass's fields are offered on the command line: each field carries a
:class:`CliOption` in its ``metadata``, the field keeps the default, and ``temcoco.cli`` builds
the options from both (DESIGN.md 'Commands')."""

from __future__ import annotations

from dataclasses import dataclass, fields

from temcoco.errors import TemcocoError

OPTION = "cli"  # the metadata key


@dataclass(frozen=True)
class CliOption:
    """One field's command-line option (its default is the field's)."""

    help: str
    names: tuple[str, ...] = ()  # flags when not --field-name; a bool given names has no --no- form
    min: int | None = None  # the smallest value, checked by the CLI and by :func:`check_minimums`
    argument: bool = False  # a positional argument, not an option

    def flag(self, field_name: str) -> str:
        """The flag that sets the field, as errors name it."""
        return self.names[0] if self.names else "--" + field_name.replace("_", "-")


def option(help: str, *names: str, min: int | None = None, argument: bool = False) -> dict:
    """A field's ``metadata``: offered on the command line as ``names`` (default: --field-name)."""
    return {OPTION: CliOption(help, names, min, argument)}


def check_minimums(settings) -> None:
    """A one-line error naming the flag of the first field below its option's ``min``."""
    for f in fields(settings):
        spec = f.metadata.get(OPTION)
        if spec is not None and spec.min is not None and getattr(settings, f.name) < spec.min:
            raise TemcocoError(f"{spec.flag(f.name)} must be at least {spec.min}")
