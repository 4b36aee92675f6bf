"""Helpers of the published network's tests: the reference fingerprint (``../shared/reference/temcoco-official``)."""

from __future__ import annotations

import pytest

from temcoco.model.paper.reference import REFERENCE_DIR

needs_reference = pytest.mark.skipif(not (REFERENCE_DIR / "spec.json").is_file(), reason=f"no reference at {REFERENCE_DIR}")
