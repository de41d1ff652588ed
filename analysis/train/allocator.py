"""Training keeps the memory it frees. glibc's malloc hands freed blocks back to the OS (mmap'd blocks at once, the
heap's top past a threshold), so every step page-faults its activations back in: a tenth of a MiniLM step, and more
for methods with more intermediate tensors (docs/benchmarks.md). The usual cure for CPU training is jemalloc or
tcmalloc set to retain memory; glibc's own mallopt does the same with no new dependency. Elsewhere (macOS, musl)
this does nothing."""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # mallopt's parameters, from glibc's malloc.h
# Blocks under 32 MB (glibc's largest mmap threshold) come from the heap, which is never trimmed, so they are reused.
# Larger ones are still mmap'd and returned: with no mmap at all the heap fragments over a long run of varying
# shapes (9.3 GB resident after 2,000 real-text steps; 5.6 GB at most with this limit).
SETTINGS = {M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 64 * 2**20}


def keep_freed_memory() -> bool:
    """For the rest of this process, freed blocks under 32 MB stay for reuse. True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in SETTINGS.items())
