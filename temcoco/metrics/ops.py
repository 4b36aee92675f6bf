"""Array back ends of the metric suite: numpy + OpenCV on the CPU, torch on CUDA.

The suite (``temcoco.metrics.fusion``) is written once against :class:`Ops`; arrays are
batches of frames (B, H, W). Elementwise arithmetic is the array library's own (``ops.xp``:
numpy or torch); filters, reductions and histograms are methods here.

Why two: on one CPU core torch's conv2d takes 21 ms for a separable 11-tap filter of a
640×480 frame and avg_pool2d 16 ms for a 7×7 box, against 0.4 and 0.5 ms with OpenCV
(BENCHMARKS.md), so the CPU keeps OpenCV filters; torch's vectorised atan and log10 are
used there too (2-7× numpy's). On CUDA everything is torch, batched over a chunk's frames.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# Sobel masks of analysis_nabf.m (correlation): x (columns) and y (rows) derivatives.
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
SOBEL_Y = SOBEL_X.T.copy()


class NumpyOps:
    """numpy arrays, OpenCV filters, one frame at a time inside a batch; float32 unless told."""

    xp = np

    def __init__(self, dtype: type = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        self._cv = cv2.CV_32F if self.dtype == np.float32 else cv2.CV_64F

    def asarray(self, x) -> np.ndarray:
        """(B, H, W) array of this back end's dtype."""
        return np.ascontiguousarray(x, dtype=self.dtype)

    def stack(self, xs: list[np.ndarray]) -> np.ndarray:
        return np.stack(xs)

    def _frames(self, x: np.ndarray, fn) -> np.ndarray:
        return np.stack([fn(np.ascontiguousarray(frame)) for frame in x])

    def sep_filter_valid(self, x: np.ndarray, k: np.ndarray) -> np.ndarray:
        """(B, H, W) filtered by the outer product of 1-D kernel k (odd n): (B, H-n+1, W-n+1)."""
        r, k = len(k) // 2, k.astype(self.dtype)
        return self._frames(x, lambda f: cv2.sepFilter2D(f, self._cv, k, k, borderType=cv2.BORDER_CONSTANT)
                            [r:-r, r:-r])

    def box_sum_valid(self, x: np.ndarray, n: int) -> np.ndarray:
        """(B, H, W) sums over n×n windows: (B, H-n+1, W-n+1)."""
        r = n // 2
        return self._frames(x, lambda f: cv2.boxFilter(f, -1, (n, n), normalize=False,
                                                       borderType=cv2.BORDER_CONSTANT)[r:-r, r:-r])

    def sobel(self, x: np.ndarray, zero_border: bool) -> tuple[np.ndarray, np.ndarray]:
        """(B, H, W) -> Sobel x and y responses (SOBEL_X, SOBEL_Y correlation), border zero or reflect-101."""
        border = cv2.BORDER_CONSTANT if zero_border else cv2.BORDER_REFLECT_101
        gx = self._frames(x, lambda f: cv2.Sobel(f, self._cv, 1, 0, ksize=3, borderType=border))
        gy = self._frames(x, lambda f: cv2.Sobel(f, self._cv, 0, 1, ksize=3, borderType=border))
        return gx, gy

    def atan(self, x: np.ndarray) -> np.ndarray:
        return torch.atan(torch.from_numpy(x)).numpy()

    def log10(self, x: np.ndarray) -> np.ndarray:
        return torch.log10(torch.from_numpy(x)).numpy()

    def frame_sum(self, x: np.ndarray) -> np.ndarray:
        """(B, H, W) -> (B,) float64 sums."""
        return x.reshape(len(x), -1).sum(axis=1, dtype=np.float64)

    def frame_mean(self, x: np.ndarray) -> np.ndarray:
        return self.frame_sum(x) / (x.shape[-1] * x.shape[-2])

    def gram(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x (B, C, H, W) -> per frame the channel sums (B, C) and Gram matrix Σ x_i x_j (B, C, C), float64."""
        flat = x.reshape(*x.shape[:2], -1).astype(np.float64)
        return flat.sum(axis=2), flat @ flat.transpose(0, 2, 1)

    def histograms(self, index: np.ndarray, bins: int) -> np.ndarray:
        """(B, H, W) integer bin indices in [0, bins) -> (B, bins) float64 counts."""
        return np.stack([np.bincount(i.ravel(), minlength=bins) for i in index]).astype(np.float64)

    def levels(self, x: np.ndarray) -> np.ndarray:
        """(B, H, W) 0..255 -> intp grey levels (round, clip)."""
        return np.clip(np.rint(x), 0, 255).astype(np.intp)

    def numpy(self, x) -> np.ndarray:
        return np.asarray(x)


class TorchOps:
    """torch tensors on one device, batched filters (conv2d); float32 unless told."""

    xp = torch

    def __init__(self, device: str | torch.device = "cuda", dtype: torch.dtype = torch.float32) -> None:
        self.device, self.dtype = torch.device(device), dtype

    def asarray(self, x) -> torch.Tensor:
        return torch.as_tensor(x).to(self.device, self.dtype)

    def stack(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(xs)

    def _kernel(self, k: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(k, np.float64)).to(self.device, self.dtype)

    def sep_filter_valid(self, x: torch.Tensor, k: np.ndarray) -> torch.Tensor:
        kt = self._kernel(k)
        y = F.conv2d(x[:, None], kt.view(1, 1, -1, 1))
        return F.conv2d(y, kt.view(1, 1, 1, -1))[:, 0]

    def box_sum_valid(self, x: torch.Tensor, n: int) -> torch.Tensor:
        return F.avg_pool2d(x[:, None], n, stride=1, divisor_override=1)[:, 0]

    def sobel(self, x: torch.Tensor, zero_border: bool) -> tuple[torch.Tensor, torch.Tensor]:
        weight = self._kernel(np.stack([SOBEL_X, SOBEL_Y]))[:, None]
        padded = F.pad(x[:, None], (1, 1, 1, 1), mode="constant" if zero_border else "reflect")
        g = F.conv2d(padded, weight)
        return g[:, 0], g[:, 1]

    def atan(self, x: torch.Tensor) -> torch.Tensor:
        return torch.atan(x)

    def log10(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log10(x)

    def frame_sum(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).sum(dim=1, dtype=torch.float64)

    def frame_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame_sum(x) / (x.shape[-1] * x.shape[-2])

    def gram(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(*x.shape[:2], -1).double()
        return flat.sum(dim=2), flat @ flat.transpose(1, 2)

    def histograms(self, index: torch.Tensor, bins: int) -> torch.Tensor:
        offset = torch.arange(len(index), device=index.device).view(-1, 1, 1) * bins
        return torch.bincount((index + offset).flatten(), minlength=len(index) * bins).view(-1, bins).double()

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x).clamp(0, 255).long()

    def numpy(self, x) -> np.ndarray:
        return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


Ops = NumpyOps | TorchOps


def ops_for(device: str | torch.device) -> Ops:
    """The back end of a torch device: torch on CUDA, numpy + OpenCV on the CPU."""
    return TorchOps(device) if torch.device(device).type == "cuda" else NumpyOps()
