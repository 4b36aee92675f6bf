"""The one torch device resolver: ``auto`` (CUDA when present), ``cpu`` or ``cuda``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temcoco.errors import TemcocoError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def check_device(name: str) -> None:
    """A one-line error unless ``name`` is one of :data:`DEVICES`."""
    if name not in DEVICES:
        raise TemcocoError(f"unknown device {name!r}: choose {', '.join(DEVICES)}")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device called ``name``; a one-line error for an unknown or absent device."""
    import torch

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TemcocoError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)
