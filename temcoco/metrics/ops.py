"""The metric suite's array operations: torch tensors on the actor's device, batches of frames (B, H, W).

Elementwise arithmetic is torch's own; filters, reductions and histograms are
methods here. On CUDA the filters are conv2d over the whole batch. On the CPU they are
OpenCV's, frame by frame on the tensors' memory (no copy): on one core torch's conv2d takes
21 ms for a separable 11-tap filter of a 640×480 frame and avg_pool2d 16 ms for a 7×7 box,
against 0.4 and 0.5 ms with OpenCV (BENCHMARKS.md), while torch's elementwise operations
(vectorised atan, exp, log10, where) are as fast as numpy's or faster.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# Sobel masks of analysis_nabf.m (correlation): x (columns) and y (rows) derivatives.
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
SOBEL_Y = SOBEL_X.T.copy()


class TorchOps:
    """torch tensors on one device; float32 unless told (float64: the one-metric reference functions)."""

    def __init__(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.device, self.dtype = torch.device(device), dtype
        self._opencv = self.device.type == "cpu"
        self._cv = cv2.CV_32F if dtype == torch.float32 else cv2.CV_64F

    def _frames(self, x: torch.Tensor, fn, margin: int = 0) -> torch.Tensor:
        """fn(src, dst) writes an OpenCV filter of each (H, W) frame of x (B, H, W) into dst (H, W), one
        preallocated (B, H, W) tensor; returns it less ``margin`` px each side (a view: no copy)."""
        out = torch.empty(x.shape, dtype=x.dtype)
        for src, dst in zip(x.numpy(), out.numpy()):
            fn(np.ascontiguousarray(src), dst)
        h, w = x.shape[-2:]
        return out[..., margin : h - margin, margin : w - margin] if margin else out

    def asarray(self, x) -> torch.Tensor:
        """x (B, H, W) as a contiguous tensor of this device and dtype."""
        return torch.as_tensor(x).to(self.device, self.dtype).contiguous()

    def stack(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(xs)

    def _kernel(self, k: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(k, np.float64)).to(self.device, self.dtype)

    def sep_filter_valid(self, x: torch.Tensor, k: np.ndarray) -> torch.Tensor:
        """(B, H, W) filtered by the outer product of 1-D kernel k (odd n): (B, H-n+1, W-n+1)."""
        if self._opencv:
            kn = np.asarray(k, x.numpy().dtype)
            return self._frames(x, lambda f, dst: cv2.sepFilter2D(f, self._cv, kn, kn, dst=dst,
                                                                  borderType=cv2.BORDER_CONSTANT), len(k) // 2)
        kt = self._kernel(k)
        y = F.conv2d(x[:, None], kt.view(1, 1, -1, 1))
        return F.conv2d(y, kt.view(1, 1, 1, -1))[:, 0]

    def box_sum_valid(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """(B, H, W) sums over n×n windows: (B, H-n+1, W-n+1)."""
        if self._opencv:
            return self._frames(x, lambda f, dst: cv2.boxFilter(f, -1, (n, n), dst=dst, normalize=False,
                                                                borderType=cv2.BORDER_CONSTANT), n // 2)
        return F.avg_pool2d(x[:, None], n, stride=1, divisor_override=1)[:, 0]

    def sobel(self, x: torch.Tensor, zero_border: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W) -> Sobel x and y responses (SOBEL_X, SOBEL_Y correlation), border zero or reflect-101."""
        if self._opencv:
            border = cv2.BORDER_CONSTANT if zero_border else cv2.BORDER_REFLECT_101
            kernels = (SOBEL_X.astype(x.numpy().dtype), SOBEL_Y.astype(x.numpy().dtype))  # 3×3, not separable: the
            return tuple(self._frames(  # sums of the reference's order (ties of magnitudes compare alike)
                x, lambda f, dst, k=k: cv2.filter2D(f, self._cv, k, dst=dst, borderType=border)) for k in kernels)
        weight = self._kernel(np.stack([SOBEL_X, SOBEL_Y]))[:, None]
        padded = F.pad(x[:, None], (1, 1, 1, 1), mode="constant" if zero_border else "reflect")
        g = F.conv2d(padded, weight)
        return g[:, 0], g[:, 1]

    def frame_sum(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) -> (B,) float64 sums: rows summed in x's dtype (W terms), the row sums in float64
        (no float64 copy of the frame)."""
        return x.sum(dim=-1).sum(dim=-1, dtype=torch.float64)

    def indicator(self, compare, x: torch.Tensor, y) -> torch.Tensor:
        """compare(x, y) (torch.gt, torch.ge, torch.eq, ...) as 0/1 in x's dtype: a comparison written
        straight into a float tensor, which torch's CPU kernels do 15x faster than torch.where or a bool mask."""
        return compare(x, y, out=torch.empty_like(x))

    def frame_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame_sum(x) / (x.shape[-1] * x.shape[-2])

    def gram(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) -> per frame the channel sums (B, C) and Gram matrix Σ x_i x_j (B, C, C), float64."""
        flat = x.reshape(*x.shape[:2], -1).double()
        return flat.sum(dim=2), flat @ flat.transpose(1, 2)

    def histograms(self, index: torch.Tensor, bins: int) -> torch.Tensor:
        """(B, H, W) integer bin indices in [0, bins) -> (B, bins) float64 counts."""
        offset = torch.arange(len(index), device=index.device).view(-1, 1, 1) * bins
        return torch.bincount((index + offset).flatten(), minlength=len(index) * bins).view(-1, bins).double()

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) 0..255 -> int64 grey levels (round half to even, as numpy's rint; clip)."""
        return torch.round(x).clamp(0, 255).long()

    def numpy(self, x) -> np.ndarray:
        return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


Ops = TorchOps
