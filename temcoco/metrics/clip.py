"""Clip metrics: a streaming accumulator over the frames of a clip, and the suite for any fused video.

Per-frame (spatial) metrics are computed on luminance (BT.601, 0..255) of the fused frame
against the IR frame and the VI luminance (``temcoco.metrics.fusion``); temporal ones on
consecutive frames (``temcoco.metrics.temporal``). A clip value is the mean over the frames
where the metric is defined; None where it is not (or never finite).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from temcoco.allocator import keep_freed_memory
from temcoco.errors import TemcocoError
from temcoco.metrics.fusion import fusion_batch, luminance, reference_batch
from temcoco.metrics.ops import TorchOps
from temcoco.metrics.policy import FULL, MetricPolicy
from temcoco.metrics.temporal import Frames, PairTerms, feacd, make_features, make_flows, pair_terms
from temcoco.storage.results import METRIC_COLUMNS

SERIES = ("SSIM", "flowD")  # per-frame series kept for plots


@dataclass(frozen=True)
class MetricConfig:
    flow: str = "auto"  # "auto" (RAFT when weights are found and a GPU is there, else DIS), "dis", "raft"
    feacd: bool = True  # compute feaCD when ResNet-18 weights are found
    batch: int = 8  # scored frames whose spatial metrics are computed together (B of the suite)
    threads: int | None = None  # >= 2: a pair's flows run beside the spatial suite; None: torch's thread count


def _on_grid(img: np.ndarray, h: int, w: int, channels: int) -> np.ndarray:
    """(h', w'[, c]) uint8 -> (h, w) for 1 channel or (h, w, 3), resized bilinearly when the grid differs."""
    if img.shape[:2] != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if channels == 1:
        return img.reshape(h, w) if img.ndim == 2 or img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return img if img.ndim == 3 and img.shape[2] == 3 else np.repeat(img.reshape(h, w, 1), 3, axis=2)


def _planes(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F, A, B luminance planes (H, W) float32 0..255: fused luma, IR, VI luma (BT.601, cv2 GRAY)."""
    return (cv2.cvtColor(fused, cv2.COLOR_RGB2GRAY).astype(np.float32), ir.astype(np.float32),
            cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY).astype(np.float32))


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` (None: left as it is) for the block, then restored."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class ClipMetrics:
    """Streaming metric suite of one clip under a :class:`MetricPolicy`; keeps the previous frame and
    at most ``config.batch`` scored frames' luminance planes (their spatial metrics run as one batch).

    Full policy: BiSWE of frame t is err(t→t−1) + err(t→t+1); sampled: a scored pair (t−1, t)
    gives err(t→t−1) + err(t−1→t), both halves from that pair.

    With two threads or more, each scored pair's temporal terms (OpenCV's flows and warps, which release
    the GIL) are computed on a second thread while this one runs the spatial suite with one torch thread
    fewer; they are read back in frame order, at most ``config.batch`` pairs behind, so the values are
    those of one thread.
    """

    def __init__(self, config: MetricConfig = MetricConfig(), policy: MetricPolicy = FULL,
                 device: str | torch.device = "cpu") -> None:
        keep_freed_memory()  # each batch reuses the last one's memory (see temcoco.allocator)
        self.config, self.policy = config, policy
        self._ops = TorchOps(device)
        self._flows = make_flows(config.flow)  # (flowD estimator, BiSWE estimator)
        self._features = make_features() if config.feacd else None
        self._sums: dict[str, float] = dict.fromkeys(METRIC_COLUMNS, 0.0)
        self._counts: dict[str, int] = dict.fromkeys(METRIC_COLUMNS, 0)
        self._series: dict[str, list[float | None]] = {name: [] for name in SERIES}
        self._frame = 0
        self._prev: Frames | None = None
        self._prev_logits = None  # (3, 1000) logits of the previous fused, vi, ir (full policy)
        self._prev_err: float | None = None  # BiSWE term of the previous frame against its predecessor
        self._pending: list[tuple[int, tuple[np.ndarray, ...]]] = []  # scored frames not yet measured
        threads = torch.get_num_threads() if config.threads is None else config.threads
        self._flow_thread = ThreadPoolExecutor(1, "temcoco-flows") if threads >= 2 else None
        self._spatial_threads = threads - 1 if self._flow_thread else None  # torch's, while the flows take one
        self._pairs: deque[tuple[int, bool, Future]] = deque()  # scored pairs (t, chunk_start, terms) not yet added

    @property
    def per_frame(self) -> dict[str, list[float | None]]:
        """Frame t's value of each name in SERIES (None where not scored), the queued frames measured first."""
        self._measure_pending()
        self._add_pairs()
        return self._series

    def _add(self, name: str, value: float) -> None:
        if math.isfinite(value):
            self._sums[name] += value
            self._counts[name] += 1

    @property
    def _chained(self) -> bool:
        """Every pair is scored: BiSWE and feaCD chain consecutive pairs."""
        return self.policy.step == 1

    def update(self, ir: np.ndarray, vi: np.ndarray, fused: np.ndarray, *, chunk_start: bool = False,
               ref_ir: np.ndarray | None = None, ref_vi: np.ndarray | None = None) -> None:
        """Add the next frame: ir (H, W, 1) uint8, vi and fused (H, W, 3) uint8 RGB; refs: clean ir, vi.

        IR and refs are resized to the VI grid if needed; the fused frame must be on it.
        chunk_start marks the first core frame of a fusion chunk (its flowD is a seam sample).
        Reference metrics need both references.
        """
        h, w = vi.shape[:2]
        if fused.shape[:2] != (h, w):
            raise TemcocoError(f"fused frame {self._frame} is {fused.shape[1]}×{fused.shape[0]}, "
                               f"the visible frame {w}×{h}")
        cur = Frames(ir=_on_grid(ir, h, w, 1), vi=_on_grid(vi, h, w, 3), fused=_on_grid(fused, h, w, 3))
        scored = self.policy.scores(self._frame)
        self._series["SSIM"].append(None)
        self._series["flowD"].append(None)
        if scored:
            self._queue(cur, ref_ir, ref_vi)
            if self._prev is not None:
                self._queue_pair(cur, chunk_start)
        if self._features is not None and (self._chained or (scored and self._prev is not None)):
            self._feature_change(cur)
        self._prev = cur
        self._frame += 1

    def _queue(self, cur: Frames, ref_ir: np.ndarray | None, ref_vi: np.ndarray | None) -> None:
        """Queue cur's spatial metrics (measured a batch at a time); reference metrics at once."""
        planes = _planes(cur.fused, cur.ir, cur.vi)
        if ref_ir is not None and ref_vi is not None:
            h, w = cur.vi.shape[:2]
            ra, rb = _on_grid(ref_ir, h, w, 1).astype(np.float32), luminance(_on_grid(ref_vi, h, w, 3))
            for name, value in reference_batch(self._ops, planes[0][None], ra[None], rb[None]).items():
                self._add(name, float(value[0]))  # restoration: fused luminance vs the clean sources
        self._pending.append((self._frame, planes))
        if len(self._pending) >= self.config.batch:
            self._measure_pending()
            self._add_pairs()

    def _measure_pending(self) -> None:
        """Spatial metrics of the queued frames, as one batch (B, H, W)."""
        if not self._pending:
            return
        frames, planes = zip(*self._pending)
        with _torch_threads(self._spatial_threads):
            values = fusion_batch(self._ops, *(np.stack(p) for p in zip(*planes)))
        for name, column in values.items():
            for value in column:
                self._add(name, float(value))
        for t, value in zip(frames, values["SSIM"]):
            self._series["SSIM"][t] = float(value)
        self._pending.clear()

    def _queue_pair(self, cur: Frames, chunk_start: bool) -> None:
        """Start the temporal terms of the pair (previous frame, cur): on the flow thread, or here."""
        args = (self._prev, cur, *self._flows)
        if self._flow_thread is not None:
            terms = self._flow_thread.submit(pair_terms, *args)
        else:
            terms = Future()
            terms.set_result(pair_terms(*args))
        self._pairs.append((self._frame, chunk_start, terms))

    def _add_pairs(self) -> None:
        """Add the queued pairs' flowD and BiSWE samples, in frame order."""
        while self._pairs:
            t, chunk_start, terms = self._pairs.popleft()
            self._add_pair(t, chunk_start, terms.result())

    def _add_pair(self, t: int, chunk_start: bool, terms: PairTerms) -> None:
        """The flowD and BiSWE samples of the pair (t − 1, t)."""
        self._series["flowD"][t] = terms.flowd
        self._add("flowD", terms.flowd)
        self._add("flowD_seam" if chunk_start else "flowD_inner", terms.flowd)
        if not self._chained:
            self._add("BiSWE", terms.err_prev + terms.err_next)
        elif self._prev_err is not None:
            self._add("BiSWE", self._prev_err + terms.err_next)  # BiSWE of the previous frame (has both neighbours)
        self._prev_err = terms.err_prev

    def _feature_change(self, cur: Frames) -> None:
        """Adds the feaCD sample of (previous frame, cur); keeps cur's logits when every pair is scored."""
        if self._chained or self._prev is None:
            logits = self._features([cur.fused, cur.vi, cur.ir])
            previous = self._prev_logits
        else:
            both = self._features([self._prev.fused, self._prev.vi, self._prev.ir, cur.fused, cur.vi, cur.ir])
            previous, logits = both[:3], both[3:]
        if previous is not None:
            d = previous - logits
            self._add("feaCD", feacd(d[0], d[1], d[2]))
        self._prev_logits = logits if self._chained else None

    def close(self) -> None:
        """End the flow thread, if any (queued pairs are still added by :meth:`result` and :attr:`per_frame`)."""
        if self._flow_thread is not None:
            self._flow_thread.shutdown(wait=True)

    def result(self) -> dict[str, float | str | None]:
        """Clip means of METRIC_COLUMNS (None where no finite sample), ``flow_method`` and the policy's columns."""
        self._measure_pending()
        self._add_pairs()
        out: dict[str, float | str | None] = {
            name: self._sums[name] / self._counts[name] if self._counts[name] else None for name in METRIC_COLUMNS
        }
        out["flow_method"] = self._flows[0].name
        return {**out, **self.policy.columns()}


@dataclass
class SeamRatio:
    """The job's seam check, folded clip by clip: mean flowD_seam / mean flowD_inner over the clips
    that have both (``value`` is None when none has)."""

    seam: float = 0.0
    inner: float = 0.0

    def add(self, seam: float | None, inner: float | None) -> None:
        """One clip's mean flowD at chunk seams and inside chunks (either None: the clip is left out)."""
        if seam is not None and inner is not None:
            self.seam += float(seam)
            self.inner += float(inner)

    @property
    def value(self) -> float | None:
        return self.seam / self.inner if self.inner > 0 else None


def evaluate_streams(ir_url: str, vi_url: str, fused_url: str, ref_ir_url: str | None = None,
                     ref_vi_url: str | None = None, storage_options: dict | None = None,
                     config: MetricConfig = MetricConfig()) -> dict:
    """The metric suite of any fused video or frame folder (made by any method), streamed frame by frame.

    Returns ``ClipMetrics.result()`` plus ``frames`` (the number of IR/VI pairs evaluated).
    Raises TemcocoError when the fused (or a reference) stream has fewer frames than the pairs.
    """
    from temcoco.storage.pairing import iter_pairs
    from temcoco.storage.video import iter_frames

    if (ref_ir_url is None) != (ref_vi_url is None):
        raise TemcocoError("reference metrics need both clean sources: give --ref-ir and --ref-vi together")
    urls = {"fused": (fused_url, 3), "ref_ir": (ref_ir_url, 1), "ref_vi": (ref_vi_url, 3)}
    metrics, frames = ClipMetrics(config), 0
    with ExitStack() as stack:
        streams = {name: stack.enter_context(closing(iter_frames(url, channels, storage_options)))
                   for name, (url, channels) in urls.items() if url is not None}
        pairs = stack.enter_context(closing(iter_pairs(ir_url, vi_url, storage_options)))
        for ir, vi in pairs:
            images = {}
            for name, stream in streams.items():
                frame = next(stream, None)
                if frame is None:
                    raise TemcocoError(f"{name} stream {urls[name][0]} ended after {frames} frames, "
                                       f"but {ir_url} and {vi_url} have more")
                images[name] = frame.image
            metrics.update(ir, vi, images["fused"], ref_ir=images.get("ref_ir"), ref_vi=images.get("ref_vi"))
            frames += 1
    return {**metrics.result(), "frames": frames}
