"""The small network behind the FusionMethod interface, fused in passes of a fixed shape."""

from __future__ import annotations

import numpy as np
import torch

from temcoco.model.frames import check_window, inference, to_tensor, to_uint8
from temcoco.model.small.network import SmallNet
from temcoco.overlap import plan_chunks, replicate_edges


class SmallFusion:
    """Fuses windows of frames with the small network.

    ``fuse`` runs the window in passes of ``frames_per_pass`` output frames, each with its
    own ``temporal_radius`` input frames on both sides, so memory is bounded whatever the
    window length. A short last pass is padded to the full size: CPU kernels may pick another
    algorithm for another batch shape (a 1-level difference in a rare pixel, seen here), and
    with one shape for every pass the fused frames are bit-identical at any chunking.
    """

    name = "temcoco"

    def __init__(self, net: SmallNet, version: str, device: torch.device, frames_per_pass: int = 8) -> None:
        self.net = net.eval().requires_grad_(False).to(device)
        if device.type == "cpu":
            self.net.to(memory_format=torch.channels_last)
        self.version = version
        self.device = device
        self.frames_per_pass = frames_per_pass
        self.temporal_radius = net.temporal_radius

    def _run(self, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        """One pass: (n, H, W, 1), (n, H, W, 3) uint8 -> (n - 2r, H, W, 3) uint8."""
        with inference(self.device):
            out = self.net(to_tensor(ir, self.device)[None], to_tensor(vi, self.device)[None])[0].float()
        return to_uint8(out)

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        """ir (T + 2r, H, W, 1) uint8, vi (T + 2r, H, W, 3) uint8 -> (T, H, W, 3) uint8.

        The output at frame t depends on window frames t .. t + 2r only, so ``first`` is not needed.
        """
        r = self.temporal_radius
        ir, vi, t = check_window(ir, vi, r, self.name)
        out = np.empty((t, *vi.shape[1:3], 3), np.uint8)
        size = self.frames_per_pass
        for spec in plan_chunks(t, size, r):  # passes over the window, which already holds their halo
            s, e = spec.start, spec.stop
            short = (0, size - (e - s))  # every pass has one shape, so the same kernels: bit-exact at any chunking
            ir_pass, vi_pass = (replicate_edges(a[s : e + 2 * r], short) for a in (ir, vi))
            out[s:e] = self._run(ir_pass, vi_pass)[: e - s]
        return out
