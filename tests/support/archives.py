"""Small test archives written with PyAV and OpenCV directly (independent of temcoco's writer)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from temcoco.demo import synthetic_clip


def write_mp4(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """(T, H, W) or (T, H, W, 3) uint8 -> H.264 mp4."""
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for fr in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def write_folder(path: Path, frames: np.ndarray) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for i, fr in enumerate(frames):
        img = fr if fr.ndim == 2 else cv2.cvtColor(fr, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path / f"{i:04d}.png"), img)


def write_pair(root: Path, frames: int, height: int, width: int, seed: int = 0) -> Path:
    """A synthetic pair as frame folders ``root/ir`` and ``root/vi``."""
    ir, vi = synthetic_clip(frames, height, width, seed=seed)
    write_folder(root / "ir", ir)
    write_folder(root / "vi", vi)
    return root


def good_archive(root: Path, clips: int = 2, frames: int = 12, size: tuple[int, int] = (48, 64)) -> Path:
    """``clips`` good pairs: clip 0 as frame folders, the others as mp4 (the last one with a non-ASCII name)."""
    h, w = size
    for i in range(clips):
        ir, vi = synthetic_clip(frames, h, w, seed=i)
        name = f"clip {i} vidéo" if i == clips - 1 and i > 0 else f"clip{i}"
        if i == 0:
            write_folder(root / "ir" / name, ir)
            write_folder(root / "vi" / name, vi)
        else:
            write_mp4(root / "ir" / f"{name}.mp4", ir[:, ::2, ::2])  # lower-resolution IR
            write_mp4(root / "vi" / f"{name}.mp4", vi)
    return root


def add_bad_clips(root: Path) -> dict[str, str]:
    """Add the backbone's bad inputs; returns clip id -> a word its failure reason must contain."""
    ir, vi = synthetic_clip(10, 48, 64, seed=9)
    write_mp4(root / "ir" / "orphan.mp4", ir)
    (root / "ir" / "empty.mp4").write_bytes(b"")
    write_mp4(root / "vi" / "empty.mp4", vi)
    (root / "ir" / "text.mp4").write_text("not a video")
    write_mp4(root / "vi" / "text.mp4", vi)
    write_mp4(root / "ir" / "trunc.mp4", ir)
    write_mp4(root / "vi" / "trunc.mp4", vi)
    data = (root / "vi" / "trunc.mp4").read_bytes()
    (root / "vi" / "trunc.mp4").write_bytes(data[: len(data) // 3])
    return {"orphan": "partner", "empty": "empty", "text": "video", "trunc": "video"}


def outputs(out: Path, clip_id: str, variant: str) -> tuple[Path, Path]:
    """(fused video, fused zarr) of a clip under OUT, as DESIGN.md lays them out."""
    from temcoco.storage.layout import ClipLayout

    layout = ClipLayout(str(out), clip_id, "-", variant)
    return Path(layout.fused_video), Path(layout.fused_frames)
