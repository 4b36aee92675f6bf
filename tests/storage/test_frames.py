"""Staged input arrays: created, opened and removed by key, whatever the clip is named."""

from temcoco.demo import synthetic_clip
from temcoco.storage.frames import create_inputs, open_inputs
from temcoco.storage.fs import remove_tree
from temcoco.storage.layout import ClipLayout


def test_open_inputs_survive_a_clip_named_star_on_a_glob_store(tmp_path):
    """Names with glob characters are keys, never patterns: deleting '*' leaves 'cam' alone."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "memory://globs"
    ir, vi = synthetic_clip(2, 16, 24)
    for name in ("*", "cam"):
        layout = ClipLayout(root, name, "j", "average-1")
        group = create_inputs(layout.staged_inputs, 16, 24, 2)
        group["ir"].append(ir[..., None], axis=0)
        group["vi"].append(vi, axis=0)
    remove_tree(ClipLayout(root, "*", "j", "average-1").staged_inputs)
    assert open_inputs(ClipLayout(root, "cam", "j", "average-1").staged_inputs)["vi"].shape[0] == 2
    fs.rm("/globs", recursive=True)


def test_growing_a_stale_handle_never_deletes_a_concurrent_writers_frames(tmp_path):
    """Two writers of the same inputs grow one fused array: the one whose handle is stale sets a shorter
    length for a moment, but the other's frames stay stored and are there once the array is long again."""
    from temcoco.storage.frames import create_frames, grow, open_frames

    url = str(tmp_path / "f.zarr")
    stale = create_frames(url, (4, 2, 2, 3), 4)
    ahead = open_frames(url, mode="r+")
    grow(ahead, 12)
    ahead[8:12] = 7
    grow(stale, 8)  # opened at 4 frames: it does not know the array has 12
    stale[4:8] = 5
    grow(stale, 12)
    assert open_frames(url).shape[0] == 12
    assert (open_frames(url)[8:12] == 7).all() and (open_frames(url)[4:8] == 5).all()
    grow(stale, 10)  # never shortens
    assert stale.shape[0] == 12 and open_frames(url).shape[0] == 12
