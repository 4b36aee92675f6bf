"""Where the development data lives: ``../shared/data`` beside the repository."""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV_DATA = SHARED_DATA / "m3svd-dev"  # M3SVD sequences: degraded inputs and clean targets
ROADSCENE = SHARED_DATA / "roadscene-train"  # RoadScene image pairs (FLIR): ir/, vi/
