"""The published network behind the FusionMethod interface, fused in windows at fixed
absolute frame positions, so any chunking of a clip gives the same frames as one pass.

Window k covers frames [k*C - h, (k+1)*C + h) of the clip (edge frames replicated) and
contributes its core frames [k*C, (k+1)*C); C and h come from :class:`PaperConfig`. A caller's
core range [first, first + T) needs windows from floor(first / C) * C - h to
ceil((first + T) / C) * C + h, which ``temporal_radius = h + C - 1`` frames on each side cover.
Every pass has the same shape (one window, the whole padded frame), so CPU kernels do not
change with the chunking and the frames are bit-identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from temcoco.device import resolve_device
from temcoco.errors import TemcocoError
from temcoco.model.inference import weights_version
from temcoco.model.paper.config import PaperConfig
from temcoco.model.paper.network import PaperNet
from temcoco.model.paper.weights import load_paper


class PaperFusion:
    """Fuses frames with the published TemCoCo network (bf16 autocast on CUDA, float32 on CPU)."""

    name = "temcoco"

    def __init__(self, net: PaperNet, config: PaperConfig, version: str, device: torch.device) -> None:
        self.net = net.eval().requires_grad_(False).to(device)
        self.config = config
        self.version = version
        self.device = device
        self.temporal_radius = config.temporal_radius

    @classmethod
    def load(cls, weights: str | Path, device: str = "auto") -> "PaperFusion":
        """From a weights file made by ``temcoco convert-weights``."""
        path = Path(weights)
        net, config = load_paper(path)
        return cls(net, config, weights_version(path), resolve_device(device))

    def run_window(self, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        """One window: ir (L, H, W, 1), vi (L, H, W, 3) uint8 -> fused (L, H, W, 3) uint8."""
        x_ir = torch.from_numpy(ir).to(self.device).permute(0, 3, 1, 2).float().div(255).expand(-1, 3, -1, -1)
        x_vi = torch.from_numpy(vi).to(self.device).permute(0, 3, 1, 2).float().div(255)
        cuda = self.device.type == "cuda"
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            fused = self.net(x_ir[None], x_vi[None])[0][0].float()
        return fused.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        """ir (T + 2r, H, W, 1), vi (T + 2r, H, W, 3) uint8, edges replicated; ``first`` is the
        clip index of the first core frame -> fused core frames (T, H, W, 3) uint8."""
        r, c, h = self.temporal_radius, self.config.core_frames, self.config.halo
        if ir.ndim == 3:
            ir = ir[..., None]
        if ir.shape[:3] != vi.shape[:3] or ir.shape[3] != 1 or vi.shape[3] != 3:
            raise TemcocoError(f"fuse needs ir (N, H, W, 1) and vi (N, H, W, 3) on one grid, got {ir.shape} and {vi.shape}")
        t = len(vi) - 2 * r
        if t < 1 or first < 0:
            raise TemcocoError(f"paper needs at least {2 * r + 1} frames (temporal radius {r}) and first >= 0, got {len(vi)}, {first}")
        ir, vi = np.ascontiguousarray(ir, np.uint8), np.ascontiguousarray(vi, np.uint8)
        out = np.empty((t, *vi.shape[1:3], 3), np.uint8)
        for k in range(first // c, (first + t - 1) // c + 1):
            lo = k * c - h - (first - r)  # array index of the window's first frame
            fused = self.run_window(ir[lo : lo + self.config.window_frames], vi[lo : lo + self.config.window_frames])
            keep_lo, keep_hi = max(k * c, first), min((k + 1) * c, first + t)
            out[keep_lo - first : keep_hi - first] = fused[h + keep_lo - k * c : h + keep_hi - k * c]
        return out
