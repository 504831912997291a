"""Spatial chunk size of the pipeline's ``(time, y, x)`` stacks, from the number of dates and a per-task memory budget.

Every per-pixel time-series step (cloud-masked reflectances -> indices ->
gap filling and smoothing -> season metrics) needs the whole time axis of a
pixel in one task, so a task holds ``dates x chunk² x bytes`` per variable.
With a fixed spatial chunk that grows with the number of dates (a 1024 px
block of 70 dates and four bands is over 1 GiB before any temporaries), so the
chunk side is chosen from the dates instead: the largest power of two (so
chunks stay aligned with the 512 px tiles of the Sentinel-2 COGs) whose stack
fits the budget, clamped to :data:`MIN_CHUNK_PX`..:data:`MAX_CHUNK_PX`.
"""

from __future__ import annotations

import math

from pipelines.errors import PipelineError

#: bytes one task may hold for its ``(time, y, x)`` inputs. A default worker has 4 GiB and one thread;
#: the per-pixel steps process pixels in batches (:data:`pipelines.timeseries.PIXEL_BATCH`), so a
#: task's peak is its inputs plus a bounded batch, and a few finished blocks wait in memory beside it.
TASK_BUDGET_BYTES = 256 * 2**20
#: bytes per pixel, date and variable: the float32 value plus one float32 temporary of the same size.
BYTES_PER_VALUE = 8
#: smallest and largest chunk side, px: below ~256 px the task count (and scheduler overhead) grows
#: fourfold per halving; above 1024 px a task is too coarse to spread over two workers.
MIN_CHUNK_PX = 256
MAX_CHUNK_PX = 1024


def spatial_chunk_px(
    n_dates: int,
    n_variables: int,
    *,
    budget_bytes: int = TASK_BUDGET_BYTES,
    min_px: int = MIN_CHUNK_PX,
    max_px: int = MAX_CHUNK_PX,
) -> int:
    """Chunk side (px, a power of two) so that ``n_dates x n_variables`` float32 layers of a chunk fit the budget.

    >>> spatial_chunk_px(12, 7)   # a 12-date season, 4 bands + 3 indices: 7 x 12 x 8 B x 512² = 168 MiB
    512
    >>> spatial_chunk_px(70, 7)   # 70 dates: 512 px would be 980 MiB, 256 px is 245 MiB
    256
    """
    if n_dates < 1 or n_variables < 1:
        raise PipelineError("a stack needs at least one date and one variable", field="n_dates/n_variables",
                            expected=">= 1", got=(n_dates, n_variables))
    if budget_bytes <= 0:
        raise PipelineError("the task memory budget must be positive", field="budget_bytes", got=budget_bytes)
    per_pixel = n_dates * n_variables * BYTES_PER_VALUE
    side = math.sqrt(budget_bytes / per_pixel)
    px = 2 ** math.floor(math.log2(side)) if side >= 1 else 1
    return int(min(max(px, min_px), max_px))
