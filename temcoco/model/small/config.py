"""Configuration of the small TemCoCo network (``small``): its widths, windows and temporal radius."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from temcoco.errors import TemcocoError

NAME = "small"


@dataclass(frozen=True)
class SmallConfig:
    """Hyper-parameters of the small network (stored in its weights file's metadata)."""

    name: str = NAME
    channels: tuple[int, int, int] = (8, 16, 32)  # full, 1/2, 1/4 scale
    heads: int = 2
    window: int = 4  # attention window at 1/4 scale
    mlp_ratio: int = 1  # hidden width of the attention MLPs, in multiples of the channels
    temporal_window: int = 1  # w: temporal attention over t-w .. t+w
    align_channels: int = 16
    dino_dim: int = 384  # DINOv2 token width the semantic head predicts
    pyramid_levels: int = 4  # detail levels of the output blend (base at 1 / 2**levels)
    blend_temperature: float = 1.0 / 255  # softness of the max-magnitude choice between detail coefficients

    @property
    def temporal_radius(self) -> int:
        return 3 + self.temporal_window

    @property
    def spatial_multiple(self) -> int:
        """Input H and W are padded to a multiple of this inside the network: windows tile
        the 1/4 scale, whose half is the coarse alignment level; the blend's pyramid halves it
        ``pyramid_levels`` times."""
        return math.lcm(4 * math.lcm(self.window, 2), 2**self.pyramid_levels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "network config") -> "SmallConfig":
        """From a dict (a weights file's metadata, a TOML table); unknown keys are an error naming ``source``."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise TemcocoError(f"unknown network config key {unknown[0]!r} in {source}")
        kw = dict(d)
        if "channels" in kw:
            kw["channels"] = tuple(int(c) for c in kw["channels"])
        return cls(**kw)
