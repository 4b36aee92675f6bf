"""Fusion methods: the TemCoCo network and classical baselines behind one interface."""

from temcoco.model.base import FusionMethod
from temcoco.model.registry import METHODS, load_method

__all__ = ["FusionMethod", "METHODS", "load_method"]
