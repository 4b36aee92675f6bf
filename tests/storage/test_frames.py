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
