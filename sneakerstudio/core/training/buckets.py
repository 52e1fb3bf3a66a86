"""Aspect-ratio buckets: every image trains at a size close to its own shape.

Instead of cropping each photo to a square, the training resolution R defines a set of sizes
with about R×R pixels (sides multiples of `step`, aspect ratios up to 2:1); each image goes to
the bucket nearest its aspect ratio, is scaled to cover it and loses only the sliver that
overflows. A batch holds images of one bucket, so latents in a batch share a shape.

The order of the batches is a pure function of the seed and the epoch: a resumed run sees the
same batches as an uninterrupted one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

MAX_ASPECT = 2.0


def bucket_step(resolution: int) -> int:
    """Side granularity: 64 px at real resolutions (what every trainer uses), finer for the
    tiny test sizes so they still get more than one bucket."""
    return 64 if resolution >= 512 else max(8, resolution // 8)


def make_buckets(resolution: int, step: int | None = None) -> list[tuple[int, int]]:
    """(width, height) sizes of at most resolution² pixels, sides multiples of `step`,
    aspect ratios from 1:2 to 2:1, the square included."""
    step = step or bucket_step(resolution)
    area = resolution * resolution
    buckets = {(resolution, resolution)}
    width = step
    while width <= resolution * MAX_ASPECT:
        height = (area // width) // step * step
        if height >= step and max(width / height, height / width) <= MAX_ASPECT:
            buckets.add((width, height))
            buckets.add((height, width))
        width += step
    return sorted(buckets)


def choose_bucket(width: int, height: int, buckets: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is nearest the image's (in log scale), the larger one
    on a tie."""
    ratio = math.log(width / height)
    return min(buckets, key=lambda b: (abs(math.log(b[0] / b[1]) - ratio), -b[0] * b[1]))


def epoch_batches(
    buckets_of: Sequence[tuple[int, int]],
    repeats: Sequence[int],
    batch_size: int,
    seed: int,
    epoch: int,
) -> list[list[int]]:
    """One epoch's batches of item indices. Item i appears `repeats[i]` times; each batch
    holds items of one bucket; items and batches are shuffled by (seed, epoch)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, bucket in enumerate(buckets_of):
        groups.setdefault(bucket, []).extend([index] * repeats[index])
    batches: list[list[int]] = []
    for bucket in sorted(groups):
        members = groups[bucket]
        rng.shuffle(members)
        batches.extend(members[i : i + batch_size] for i in range(0, len(members), batch_size))
    rng.shuffle(batches)
    return batches


def plan_batches(
    buckets_of: Sequence[tuple[int, int]],
    repeats: Sequence[int],
    batch_size: int,
    seed: int,
    *,
    steps: int | None,
    epochs: int | None,
) -> tuple[list[list[int]], list[int]]:
    """Every step's batch and the epoch it belongs to, for `steps` steps or `epochs` epochs."""
    batches: list[list[int]] = []
    epoch_of: list[int] = []
    epoch = 0
    while True:
        if epochs is not None and steps is None and epoch >= epochs:
            break
        if steps is not None and len(batches) >= steps:
            break
        these = epoch_batches(buckets_of, repeats, batch_size, seed, epoch)
        if not these:
            break
        batches.extend(these)
        epoch_of.extend([epoch + 1] * len(these))
        epoch += 1
    if steps is not None:
        batches, epoch_of = batches[:steps], epoch_of[:steps]
    return batches, epoch_of
