"""A1111's "NV" random source: the normal numbers `torch.randn` gives on an NVIDIA GPU for a
seed, computed on any machine. A1111 draws its noise on the GPU by default, so its PNGs made
that way only reproduce elsewhere with this source (A1111's `modules/rng_philox.py`, whose
documented output for seed 0 the tests check).

CUDA's default generator is Philox 4×32 with 10 rounds (Salmon et al., "Parallel random numbers:
as easy as 1, 2, 3", SC 2011): key = the seed's two 32-bit halves, counter = (call offset, 0,
element index, 0); each element takes the first two words of its block through Box–Muller and
keeps the sine branch. The arithmetic after the integers follows A1111's emulation (float32
constants, float64 maths, float32 result), so our numbers are A1111's bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_WEYL = (0x9E3779B9, 0xBB67AE85)
_ROUNDS = 10
_MASK32 = np.uint64(0xFFFFFFFF)
# A1111's constants: 2^-32 and 2^-32·2π, each rounded to float32.
_INV_2_32 = np.float32(2.3283064e-10)
_INV_2_32_2PI = np.float32(2.3283064e-10 * 6.2831855)


def _philox(counter: list[Any], key: list[Any]) -> list[Any]:
    """Philox 4×32-10 on uint64 arrays that hold 32-bit words (one column per element)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for round_index in range(_ROUNDS):
        if round_index:
            k0 = (k0 + np.uint64(_WEYL[0])) & _MASK32
            k1 = (k1 + np.uint64(_WEYL[1])) & _MASK32
        p0 = c0 * np.uint64(_MULTIPLIERS[0])
        p1 = c2 * np.uint64(_MULTIPLIERS[1])
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ k0,
            p1 & _MASK32,
            (p0 >> np.uint64(32)) ^ c3 ^ k1,
            p0 & _MASK32,
        )
    return [c0, c1, c2, c3]


class PhiloxGenerator:
    """Normal numbers as CUDA's generator seeded with `seed` gives them, one call at a time
    (each call is one CUDA `randn` of the given shape: the next offset)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.offset = 0

    def randn(self, shape: tuple[int, ...]) -> np.ndarray:
        """float32 array of `shape`."""
        n = int(np.prod(shape))
        index = np.arange(n, dtype=np.uint64)
        zero = np.zeros(n, dtype=np.uint64)
        counter = [np.full(n, self.offset, dtype=np.uint64), zero, index, zero]
        key = [
            np.full(n, self.seed & 0xFFFFFFFF, dtype=np.uint64),
            np.full(n, self.seed >> 32, dtype=np.uint64),
        ]
        self.offset += 1
        words = _philox(counter, key)
        u = words[0].astype(np.uint32) * _INV_2_32 + _INV_2_32 / 2
        v = words[1].astype(np.uint32) * _INV_2_32_2PI + _INV_2_32_2PI / 2
        normal = np.sqrt(-2.0 * np.log(u.astype(np.float64))) * np.sin(v.astype(np.float64))
        return normal.astype(np.float32).reshape(shape)


def nv_randn(seed: int, shape: tuple[int, ...]) -> Any:
    """The first `torch.randn(shape)` of CUDA's generator seeded with `seed`, as a CPU tensor."""
    import torch

    return torch.from_numpy(PhiloxGenerator(seed).randn(shape))
