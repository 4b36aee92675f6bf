"""The allocator keeps freed frame-sized blocks: the next batch does not page-fault its memory in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's mallopt")

THIRD_BATCH_FAULTS = """
import resource, sys
import numpy as np, torch
torch.set_num_threads(1)
from temcoco.allocator import keep_freed_memory
from temcoco.metrics.fusion import fusion_batch
from temcoco.metrics.ops import TorchOps
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
rng = np.random.default_rng(0)
planes = [rng.uniform(0, 255, (8, 480, 640)).astype(np.float32) for _ in range(3)]  # F, A, B of a batch
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fusion_batch(TorchOps("cpu"), *planes)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults)
"""

TUNED_BY = """
import sys
from temcoco.allocator import keep_freed_memory
from temcoco.job import JobConfig
from temcoco.metrics import ClipMetrics
from temcoco.workers.actor import FusionWorker
ClipMetrics() if sys.argv[1] == "metrics" else FusionWorker(JobConfig("a", "o", method="average"), "cpu")
print(keep_freed_memory.cache_info().currsize)
"""


def run(code: str, arg: str) -> int:
    out = subprocess.run([sys.executable, "-c", code, arg], check=True, capture_output=True, text=True)
    return int(out.stdout)


def test_the_spatial_suite_reuses_a_batchs_memory() -> None:
    """One batch of 8 frames at 640x480 allocates ~0.5 GB of temporaries: glibc maps most of it afresh
    every batch (~100,000 page faults), the tuned heap keeps it."""
    default, tuned = run(THIRD_BATCH_FAULTS, "default"), run(THIRD_BATCH_FAULTS, "tuned")
    assert tuned < default / 4, (default, tuned)


@pytest.mark.parametrize("user", ["metrics", "actor"])
def test_the_metric_suite_and_the_actor_tune_it(user: str) -> None:
    assert run(TUNED_BY, user) == 1
