"""ClipMetrics accumulation, seams, strides, references; evaluate_streams; real M3SVD frames."""

from __future__ import annotations

import json
import math
import shutil
import sys
import types
from collections import namedtuple

import cv2
import numpy as np
import pytest

from temcoco.errors import TemcocoError
from temcoco.metrics import METRIC_COLUMNS, ClipMetrics, MetricConfig, MetricPolicy, SeamRatio, evaluate_streams
from temcoco.metrics.fusion import luminance, psnr, ssim
from temcoco.metrics.temporal import RAFT_ENV, RESNET18_ENV

H, W = 72, 96
DIS = MetricConfig(flow="dis", feacd=False)


@pytest.fixture(autouse=True)
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(RAFT_ENV, raising=False)
    monkeypatch.delenv(RESNET18_ENV, raising=False)


def frame(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ir (H, W, 1), vi (H, W, 3), fused (H, W, 3) uint8 textures."""
    rng = np.random.default_rng(seed)
    vi = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (0, 0), 1.5)
    ir = cv2.GaussianBlur(rng.integers(0, 256, (H, W), dtype=np.uint8), (0, 0), 1.5)[..., None]
    fused = ((vi.astype(np.uint16) + ir) // 2).astype(np.uint8)
    return ir, vi, fused


def test_result_has_every_column_and_nulls_for_one_frame() -> None:
    clip = ClipMetrics(MetricConfig(flow="dis"))
    clip.update(*frame(0))
    r = clip.result()
    assert set(r) == {*METRIC_COLUMNS, "flow_method", "metrics_policy", "metric_stride"} and r["flow_method"] == "dis"
    for name in ("flowD", "BiSWE", "feaCD", "ref_PSNR", "ref_SSIM", "flowD_seam", "flowD_inner", "MS_SSIM"):
        assert r[name] is None, name  # MS_SSIM: 72×96 is below its 161 px minimum
    assert all(isinstance(r[k], float) for k in ("EN", "SD", "SF", "AG", "MI", "CC", "SCD", "VIF", "Qabf",
                                                  "Nabf", "SSIM", "PSNR"))
    json.dumps(clip.per_frame)  # the report stores it as JSON


def test_clip_values_are_frame_means() -> None:
    clip, ssims = ClipMetrics(DIS), []
    for seed in range(3):
        ir, vi, fused = frame(seed)
        clip.update(ir, vi, fused)
        ssims.append(ssim(luminance(fused), ir[..., 0].astype(float), luminance(vi)))
    assert clip.per_frame["SSIM"] == pytest.approx(ssims, rel=1e-4)  # the suite runs in float32
    assert clip.result()["SSIM"] == pytest.approx(np.mean(ssims), rel=1e-4)
    assert len(clip.per_frame["flowD"]) == 3 and clip.result()["BiSWE"] is not None  # frame 1 has both neighbours


def test_seams_split_flowd_samples() -> None:
    # static scene; the fused frame steps up by c at each chunk start (frames 3 and 6): flowD is
    # c·sqrt(3) at the seams and 0 inside the chunks
    c = 5
    ir, vi, fused = frame(0)
    fused = np.minimum(fused, 255 - 3 * c)
    clip = ClipMetrics(DIS)
    for t in range(8):
        clip.update(ir, vi, fused + c * (t // 3), chunk_start=t in (3, 6))
    r = clip.result()
    assert r["flowD_seam"] == pytest.approx(c * math.sqrt(3), rel=1e-3)
    assert r["flowD_inner"] == pytest.approx(0, abs=1e-3)
    assert r["flowD"] == pytest.approx(2 * c * math.sqrt(3) / 7, rel=1e-3)
    rows = [r, {**r, "flowD_seam": 3.0, "flowD_inner": 1.0}, {"flowD_seam": None, "flowD_inner": 2.0}]
    ratio = SeamRatio()
    for row in rows:
        ratio.add(row["flowD_seam"], row["flowD_inner"])
    assert ratio.value == pytest.approx((r["flowD_seam"] + 3) / (r["flowD_inner"] + 1))
    only_inner = SeamRatio()
    only_inner.add(None, 1.0)
    assert only_inner.value is None


def test_sampled_policy_scores_every_kth_frame_and_pair() -> None:
    frames = [frame(seed) for seed in range(7)]
    clip = ClipMetrics(DIS, MetricPolicy("sampled", 3))
    for f in frames:
        clip.update(*f)
    r = clip.result()
    assert [v is not None for v in clip.per_frame["SSIM"]] == [True, False, False, True, False, False, True]
    assert [v is not None for v in clip.per_frame["flowD"]] == [False, False, False, True, False, False, True]
    full = ClipMetrics(DIS)
    for f in frames:
        full.update(*f)
    assert clip.per_frame["SSIM"][3] == pytest.approx(full.per_frame["SSIM"][3])
    assert clip.per_frame["flowD"][6] == pytest.approx(full.per_frame["flowD"][6])
    assert r["SSIM"] == pytest.approx(np.mean([full.per_frame["SSIM"][t] for t in (0, 3, 6)]))
    assert r["BiSWE"] is not None and r["metrics_policy"] == "sampled" and r["metric_stride"] == 3
    assert full.result()["metrics_policy"] == "full" and full.result()["metric_stride"] == 1
    with pytest.raises(TemcocoError, match="metric-stride"):
        MetricPolicy("sampled", 0)
    with pytest.raises(TemcocoError, match="--metrics"):
        MetricPolicy("some")


def test_spatial_metrics_are_measured_in_batches() -> None:
    batched, single = ClipMetrics(MetricConfig(flow="dis", feacd=False, batch=4)), ClipMetrics(
        MetricConfig(flow="dis", feacd=False, batch=1))
    for seed in range(6):
        batched.update(*frame(seed))
        single.update(*frame(seed))
    assert batched.result() == pytest.approx(single.result())
    assert batched.per_frame == single.per_frame


def test_flows_on_a_second_thread_give_the_one_thread_values() -> None:
    """Two threads: each pair's flows run beside the spatial suite and are added back in frame order."""
    frames = [frame(seed) for seed in range(11)]
    for policy in (MetricPolicy("full"), MetricPolicy("sampled", 2)):
        one, two = (ClipMetrics(MetricConfig(flow="dis", feacd=False, batch=4, threads=n), policy) for n in (1, 2))
        assert (one._flow_thread, two._flow_thread is not None) == (None, True)
        for t, f in enumerate(frames):
            one.update(*f, chunk_start=t == 4)
            two.update(*f, chunk_start=t == 4)
        assert two.result() == one.result() and two.per_frame == one.per_frame
        assert one.result()["flowD_seam"] is not None and one.result()["BiSWE"] is not None


def test_the_spatial_suite_leaves_the_flow_thread_its_core(monkeypatch) -> None:
    """With two torch threads the flows take one (a second thread) and the spatial suite the other, then
    torch's setting is as it was."""
    import torch

    from temcoco.metrics import clip as clip_module

    seen, real = [], clip_module.fusion_batch
    monkeypatch.setattr(clip_module, "fusion_batch", lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        metrics = ClipMetrics(DIS)
        for seed in range(3):
            metrics.update(*frame(seed))
        metrics.result()
        assert metrics._flow_thread is not None and seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_reference_metrics() -> None:
    clip = ClipMetrics(DIS)
    ir, vi, fused = frame(0)
    ref_ir, ref_vi, _ = frame(1)
    clip.update(ir, vi, fused, ref_ir=ref_ir, ref_vi=ref_vi)
    f, ra, rb = luminance(fused), ref_ir[..., 0].astype(float), luminance(ref_vi)
    r = clip.result()
    assert r["ref_PSNR"] == pytest.approx(psnr(f, ra, rb), rel=1e-4)
    assert r["ref_SSIM"] == pytest.approx(ssim(f, ra, rb), rel=1e-4)
    assert r["PSNR"] != pytest.approx(r["ref_PSNR"])


def test_ir_on_another_grid_is_resized_and_fused_must_match() -> None:
    ir, vi, fused = frame(0)
    clip = ClipMetrics(DIS)
    clip.update(cv2.resize(ir, (W // 2, H // 2))[..., None], vi, fused)
    assert math.isfinite(clip.result()["MI"])
    with pytest.raises(TemcocoError, match="fused frame"):
        clip.update(ir, vi, fused[:-8])


Frame = namedtuple("Frame", "time image")


@pytest.fixture()
def fake_storage(monkeypatch):
    """In-memory stand-ins for temcoco.storage.pairing.iter_pairs and temcoco.storage.video.iter_frames."""
    streams: dict[str, list[np.ndarray]] = {}

    def iter_pairs(ir_url, vi_url, storage_options=None):
        yield from zip(streams[ir_url], streams[vi_url])

    def iter_frames(url, channels, storage_options=None):
        for t, image in enumerate(streams[url]):
            assert image.shape[2] == channels
            yield Frame(t / 30, image)

    monkeypatch.setitem(sys.modules, "temcoco.storage.pairing", types.SimpleNamespace(iter_pairs=iter_pairs))
    monkeypatch.setitem(sys.modules, "temcoco.storage.video", types.SimpleNamespace(iter_frames=iter_frames))
    frames = [frame(seed) for seed in range(4)]
    for i, name in enumerate(("ir", "vi", "fused")):
        streams[name] = [f[i] for f in frames]
    streams["ref_ir"], streams["ref_vi"] = streams["ir"][::-1], streams["vi"][::-1]
    return streams


def test_evaluate_streams_matches_clip_metrics(fake_storage) -> None:
    out = evaluate_streams("ir", "vi", "fused", "ref_ir", "ref_vi", config=DIS)
    clip = ClipMetrics(DIS)
    for args in zip(*(fake_storage[k] for k in ("ir", "vi", "fused", "ref_ir", "ref_vi"))):
        clip.update(*args[:3], ref_ir=args[3], ref_vi=args[4])
    assert out == {**clip.result(), "frames": 4}
    assert evaluate_streams("ir", "vi", "fused", config=DIS)["ref_PSNR"] is None


def test_evaluate_streams_rejects_short_fused_and_half_references(fake_storage) -> None:
    fake_storage["short"] = fake_storage["fused"][:3]
    with pytest.raises(TemcocoError, match="ended after 3 frames"):
        evaluate_streams("ir", "vi", "short", config=DIS)
    with pytest.raises(TemcocoError, match="both clean sources"):
        evaluate_streams("ir", "vi", "fused", ref_ir_url="ref_ir", config=DIS)


def test_real_m3svd_average_fusion(m3svd, tmp_path) -> None:
    """Average fusion of 3 real 640×480 frames, through evaluate_streams on frame folders (the real
    storage readers): every metric finite and in its plausible range."""
    seq = sorted(p.name for p in (m3svd / "visible_Blur").iterdir())[0]
    folders = ("infrared_noise", "visible_Blur", "infrared_Enhance", "visible_Enhance")
    for folder in folders:
        (tmp_path / folder).mkdir()
        for t in range(3):
            shutil.copy(m3svd / folder / seq / f"{t:04d}.png", tmp_path / folder / f"{t:04d}.png")
    (tmp_path / "fused").mkdir()
    for t in range(3):
        ir = cv2.imread(str(tmp_path / "infrared_noise" / f"{t:04d}.png"), cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(str(tmp_path / "visible_Blur" / f"{t:04d}.png"), cv2.IMREAD_COLOR)
        fused = ((vi.astype(np.uint16) + ir[..., None]) // 2).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "fused" / f"{t:04d}.png"), fused)
    ir_url, vi_url, ref_ir_url, ref_vi_url = (str(tmp_path / f) for f in folders)
    r = evaluate_streams(ir_url, vi_url, str(tmp_path / "fused"), ref_ir_url, ref_vi_url, config=DIS)
    ranges = {"EN": (3, 8), "SD": (5, 128), "SF": (1, 100), "AG": (0.5, 50), "MI": (0.2, 16), "CC": (0.1, 1),
              "SCD": (0, 2), "VIF": (0.1, 2), "Qabf": (0.05, 1), "Nabf": (0, 0.5), "SSIM": (0.5, 2),
              "MS_SSIM": (0.5, 2), "PSNR": (10, 40), "flowD": (0, 60), "BiSWE": (0, 60), "ref_PSNR": (10, 40),
              "ref_SSIM": (0.3, 2), "flowD_inner": (0, 60)}
    for name, (lo, hi) in ranges.items():
        assert lo <= r[name] <= hi, (name, r[name])
    assert r["frames"] == 3 and r["flowD_seam"] is None and r["feaCD"] is None and r["flow_method"] == "dis"
