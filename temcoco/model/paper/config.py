"""Configuration of the published TemCoCo network (``paper``).

The architecture itself is fixed (it is the published ``Fusion()``, 19,213,417 parameters);
the configuration only says how a clip is cut into the windows the network fuses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from temcoco.errors import TemcocoError

NAME = "paper"
PARAMETERS = 19_213_417  # of the published Fusion(); tests check the network has exactly these
SPATIAL_MULTIPLE = 16  # the semantic branch goes to 1/16 scale and back: H and W are padded to this
OLD_NAMES = {"halo": "context_frames"}  # config keys of older weights files -> their fields now


@dataclass(frozen=True)
class PaperConfig:
    """How the window-global published network is run over a clip.

    Every output frame of the network depends on every frame of its window, so windows sit at
    fixed absolute positions: window k fuses frames [k*C - h, (k+1)*C + h) and keeps its
    C = window_frames - 2*h core frames [k*C, (k+1)*C), h = ``context_frames``.
    """

    name: str = NAME
    window_frames: int = 10  # L, the clip length the official training used
    context_frames: int = 2  # h: frames on each side of a window's core that only inform it

    def __post_init__(self) -> None:
        if self.name != NAME:
            raise TemcocoError(f"a paper network config must be named {NAME!r}, got {self.name!r}")
        if self.context_frames < 0 or self.core_frames < 1:
            raise TemcocoError(
                f"window_frames={self.window_frames} and context_frames={self.context_frames} leave no core frame "
                "(need window_frames > 2*context_frames)"
            )

    @property
    def core_frames(self) -> int:
        """C: output frames each window contributes."""
        return self.window_frames - 2 * self.context_frames

    @property
    def dino_dim(self) -> int:
        """Width of the semantic features (DINOv2 ViT-L/14 tokens)."""
        return 1024

    @property
    def temporal_radius(self) -> int:
        """Frames a caller must supply on each side so that any core range is covered by whole windows."""
        return self.context_frames + self.core_frames - 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "paper config") -> "PaperConfig":
        """From a dict (a weights file's metadata); unknown keys are ignored, and ``halo`` (its name in
        files converted by earlier versions) is read as ``context_frames``. ``source`` is for the
        interface all network configs share."""
        d = {OLD_NAMES.get(k, k): v for k, v in d.items()}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
