"""Where the development data lives: the M3SVD dev sequences in ``../shared/data`` beside the repository."""

from pathlib import Path

DEV_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "m3svd-dev"
