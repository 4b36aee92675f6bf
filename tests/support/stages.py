"""Helpers of the stage tests: a clip taken through ingest and fusion in-process."""

from __future__ import annotations

from pathlib import Path

from temcoco.model.registry import load_method
from temcoco.storage.archive import ClipSource
from temcoco.storage.identity import fingerprint
from temcoco.storage.layout import ClipLayout
from temcoco.workers.fuse_chunk import fuse_chunk
from temcoco.workers.fused_array import prepare_output
from temcoco.workers.ingest import ingest


def fuse_through_stages(source: ClipSource, out: Path, method: str):
    """Ingest and fuse every chunk of ``source`` (chunks of 2) under ``out``; (layout, ingested)."""
    fusion = load_method(method)
    layout = ClipLayout(str(out), source.clip_id, "j", fusion.version)
    ingested = ingest(source, layout, fingerprint(source), 2)
    for spec in prepare_output(layout, ingested, 0):
        fuse_chunk(layout, spec, ingested.fingerprint, fusion)
    return layout, ingested
