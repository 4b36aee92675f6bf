"""The ``temcoco`` fusion method: the TemCoCo network behind the FusionMethod interface."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from temcoco.device import resolve_device
from temcoco.errors import TemcocoError
from temcoco.model.checkpoint import load_network, read_metadata
from temcoco.model.network import TemCoCoNet
from temcoco.overlap import plan_chunks, replicate_edges

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "small.safetensors"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_version(path: Path = DEFAULT_WEIGHTS) -> str:
    """The model version of a weights file: ``temcoco-<config>-<first 8 hex of its SHA-256>``."""
    config = json.loads(read_metadata(path).get("config", "{}"))
    return f"temcoco-{config.get('name', 'unknown')}-{_sha256(path)[:8]}"


class NetworkFusion:
    """Fuses windows of frames with a TemCoCo network.

    ``fuse`` runs the window in passes of ``frames_per_pass`` output frames, each with its
    own ``temporal_radius`` input frames on both sides, so memory is bounded whatever the
    window length. A short last pass is padded to the full size: CPU kernels may pick another
    algorithm for another batch shape (a 1-level difference in a rare pixel, seen here), and
    with one shape for every pass the fused frames are bit-identical at any chunking.
    """

    name = "temcoco"

    def __init__(self, net: TemCoCoNet, version: str, device: torch.device, frames_per_pass: int = 8) -> None:
        self.net = net.eval().requires_grad_(False).to(device)
        if device.type == "cpu":
            self.net.to(memory_format=torch.channels_last)
        self.version = version
        self.device = device
        self.frames_per_pass = frames_per_pass
        self.temporal_radius = net.temporal_radius

    @classmethod
    def load(cls, weights: str | None = None, device: str = "auto", frames_per_pass: int = 8) -> "NetworkFusion":
        """Weights from a safetensors file (default: the shipped ``small`` weights)."""
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        if not path.is_file():
            raise TemcocoError(f"weights file {path} not found")
        net = load_network(path)
        return cls(net, weights_version(path), resolve_device(device), frames_per_pass)

    def _run(self, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        """One pass: (n, H, W, 1), (n, H, W, 3) uint8 -> (n - 2r, H, W, 3) uint8."""
        to = lambda a: torch.from_numpy(a).to(self.device).permute(0, 3, 1, 2)[None].float() / 255.0  # noqa: E731
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            out = self.net(to(ir), to(vi))[0].float()
        return (out * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        """ir (T + 2r, H, W, 1) uint8, vi (T + 2r, H, W, 3) uint8 -> (T, H, W, 3) uint8.

        The output at frame t depends on window frames t .. t + 2r only, so ``first`` is not needed.
        """
        r = self.temporal_radius
        if ir.ndim == 3:
            ir = ir[..., None]
        if ir.shape[:3] != vi.shape[:3] or ir.shape[3] != 1 or vi.shape[3] != 3:
            raise TemcocoError(f"fuse needs ir (N, H, W, 1) and vi (N, H, W, 3) on one grid, got {ir.shape} and {vi.shape}")
        t = vi.shape[0] - 2 * r
        if t < 1:
            raise TemcocoError(f"temcoco needs at least {2 * r + 1} frames (temporal radius {r}), got {vi.shape[0]}")
        ir, vi = np.ascontiguousarray(ir, np.uint8), np.ascontiguousarray(vi, np.uint8)
        out = np.empty((t, *vi.shape[1:3], 3), np.uint8)
        size = self.frames_per_pass
        for spec in plan_chunks(t, size, r):  # passes over the window, which already holds their halo
            s, e = spec.start, spec.stop
            short = (0, size - (e - s))  # every pass has one shape, so the same kernels: bit-exact at any chunking
            ir_pass, vi_pass = (replicate_edges(a[s : e + 2 * r], short) for a in (ir, vi))
            out[s:e] = self._run(ir_pass, vi_pass)[: e - s]
        return out
