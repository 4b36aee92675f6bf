"""The C allocator of a process that computes on frames: freed blocks kept for the next frame.

glibc serves blocks above its mmap threshold (128 KiB at first, raised as such blocks are freed)
with fresh ``mmap`` calls and hands the top of its heap back to the kernel once 128 KiB of it is
free. The metric suite and the networks allocate tensors of 1 to 20 MB for every batch of
frames (B, H, W), and free them at its end: each batch then page-faults its memory in again,
every page zeroed by the kernel. On 640x480 frames that was a third of the spatial suite's CPU
time (bench/metrics_cost.py, BENCHMARKS.md). :func:`keep_freed_memory` raises both thresholds
once per process, so blocks up to 32 MiB come from the heap and freed memory stays there for the
next batch; the process keeps its peak, which it reaches again with the next batch anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # bytes: glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems)
TRIM_THRESHOLD = 512 << 20  # bytes of free heap top kept before any is handed back


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's allocator as the module says, once per process; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    # the trim threshold first: setting it also stops glibc from moving the mmap threshold by itself
    return bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
