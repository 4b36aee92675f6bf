"""The published network behind the FusionMethod interface, fused in windows at fixed
absolute frame positions, so any chunking of a clip gives the same frames as one pass.

Window k covers frames [k*C - h, (k+1)*C + h) of the clip (edge frames replicated) and
contributes its core frames [k*C, (k+1)*C); C and h (``context_frames``) come from the network's
:class:`PaperConfig`. A caller's core range [first, first + T) needs windows from
floor(first / C) * C - h to ceil((first + T) / C) * C + h, which ``temporal_radius = h + C - 1``
frames on each side cover.
Every pass has the same shape (one window, the whole padded frame), so CPU kernels do not
change with the chunking and the frames are bit-identical.
"""

from __future__ import annotations

import numpy as np
import torch

from temcoco.errors import TemcocoError
from temcoco.model.frames import check_window, inference, to_tensor, to_uint8
from temcoco.model.paper.network import PaperNet


class PaperFusion:
    """Fuses frames with the published TemCoCo network (bf16 autocast on CUDA, float32 on CPU)."""

    name = "temcoco"

    def __init__(self, net: PaperNet, version: str, device: torch.device) -> None:
        self.net = net.eval().requires_grad_(False).to(device)
        self.config = net.config
        self.version = version
        self.device = device
        self.temporal_radius = self.config.temporal_radius

    def run_window(self, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        """One window: ir (L, H, W, 1), vi (L, H, W, 3) uint8 -> fused (L, H, W, 3) uint8."""
        x_ir = to_tensor(ir, self.device).expand(-1, 3, -1, -1)
        x_vi = to_tensor(vi, self.device)
        with inference(self.device):
            fused = self.net(x_ir[None], x_vi[None])[0][0].float()
        return to_uint8(fused)

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        """ir (T + 2r, H, W, 1), vi (T + 2r, H, W, 3) uint8, edges replicated; ``first`` is the
        clip index of the first core frame -> fused core frames (T, H, W, 3) uint8."""
        r, c, h = self.temporal_radius, self.config.core_frames, self.config.context_frames
        ir, vi, t = check_window(ir, vi, r, "paper")
        if first < 0:
            raise TemcocoError(f"paper needs first >= 0, got {first}")
        out = np.empty((t, *vi.shape[1:3], 3), np.uint8)
        for k in range(first // c, (first + t - 1) // c + 1):
            lo = k * c - h - (first - r)  # array index of the window's first frame
            fused = self.run_window(ir[lo : lo + self.config.window_frames], vi[lo : lo + self.config.window_frames])
            keep_lo, keep_hi = max(k * c, first), min((k + 1) * c, first + t)
            out[keep_lo - first : keep_hi - first] = fused[h + keep_lo - k * c : h + keep_hi - k * c]
        return out
