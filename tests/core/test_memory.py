"""Memory modes chosen from free memory, the out-of-memory ladder and its advice (no GPU needed:
free bytes are passed in)."""

from __future__ import annotations

import pytest

from sneakerstudio.core.runtime.memory import (
    MemoryMode,
    apply_memory_mode,
    choose_memory_mode,
    decode_bytes,
    dtype_bytes,
    next_memory_mode,
    oom_hint,
    requested_mode,
    sampling_bytes,
)

GIB = 1024**3


def _choose(device: str, free_gib: float | None, size: int, **kw) -> MemoryMode:
    args = {
        "device": device,
        "free_bytes": None if free_gib is None else int(free_gib * GIB),
        "width": size,
        "height": size,
        "batch": 1,
        "element_bytes": 2,
        "cfg": True,
    }
    args.update(kw)
    return choose_memory_mode(**args)


def test_a_big_card_runs_sd_sizes_normally() -> None:
    for size in (512, 768, 1024):
        assert _choose("cuda", 60, size).name == "normal"


def test_a_big_image_on_a_mid_card_tiles_the_vae_but_keeps_the_model() -> None:
    mode = _choose("cuda", 8, 2048, cfg=False)  # e.g. a Turbo model
    assert (mode.vae_tiling, mode.offload) == (True, False)
    assert "decoding needs" in mode.reason


def test_a_small_card_offloads_the_model_and_tiles() -> None:
    mode = _choose("cuda", 1.0, 1024)
    assert (mode.vae_tiling, mode.offload) == (True, True)
    assert mode.name == "low" and "sampling needs" in mode.reason


def test_offload_needs_cuda_and_accelerate() -> None:
    assert not _choose("cuda", 1.0, 1024, offload_available=False).offload
    assert not _choose("cpu", 0.5, 1024).offload
    assert not _choose("mps", 0.5, 1024).offload
    assert _choose("cpu", 0.5, 1024).vae_tiling  # the CPU still tiles a big decode


def test_cpu_ram_decides_tiling_for_big_images() -> None:
    assert _choose("cpu", 16, 512, element_bytes=4).name == "normal"
    assert _choose("cpu", 16, 4096, element_bytes=4).name == "tiled"


def test_unknown_free_memory_runs_normally() -> None:
    assert _choose("cuda", None, 4096).name == "normal"


@pytest.mark.parametrize("mode", ["normal", "tiled", "low"])
def test_the_user_override_wins_over_free_memory(mode: str) -> None:
    chosen = _choose("cuda", 1.0 if mode == "normal" else 80, 1024, requested=mode)
    assert chosen.name == mode and chosen.reason == "chosen by the user"


def test_low_on_the_cpu_is_tiled() -> None:
    assert _choose("cpu", 64, 512, requested="low").name == "tiled"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (None, "auto"),
        ({}, "auto"),
        ({"memory_mode": "LOW "}, "low"),
        ({"memory_mode": "tiled"}, "tiled"),
        ({"memory_mode": "turbo"}, "auto"),
        ({"memory_mode": None}, "auto"),
    ],
)
def test_requested_mode_from_request_extra(extra, expected: str) -> None:
    assert requested_mode(extra) == expected


def test_estimates_grow_with_area_batch_precision_and_cfg() -> None:
    base = decode_bytes(512, 512, 1, 2)
    assert decode_bytes(1024, 1024, 1, 2) == 4 * base
    assert decode_bytes(512, 512, 2, 4) == 4 * base
    s = sampling_bytes(512, 512, 1, 2, cfg=True)
    assert sampling_bytes(512, 512, 1, 2, cfg=False) * 2 == s
    assert sampling_bytes(1024, 1024, 1, 2, cfg=True) == 4 * s
    assert 0.5 * GIB < s < 3 * GIB  # SD1.5 at 512² with CFG: about a gigabyte
    assert 0.5 * GIB < decode_bytes(512, 512, 1, 4) < 2 * GIB  # measured ~1 GB (fp32, CPU)


def test_dtype_bytes() -> None:
    torch = pytest.importorskip("torch")
    assert dtype_bytes(torch.float16) == 2
    assert dtype_bytes(torch.bfloat16) == 2
    assert dtype_bytes(torch.float32) == 4


def test_ladder_decode_oom_adds_tiling_only() -> None:
    stronger = next_memory_mode(MemoryMode(), phase="decode", device="cuda")
    assert stronger is not None and (stronger.vae_tiling, stronger.offload) == (True, False)


def test_ladder_sampling_oom_adds_offload_on_cuda_tiling_on_cpu() -> None:
    cuda = next_memory_mode(MemoryMode(), phase="sampling", device="cuda")
    cpu = next_memory_mode(MemoryMode(), phase="sampling", device="cpu")
    assert cuda is not None and cuda.name == "low"
    assert cpu is not None and cpu.name == "tiled"
    no_accelerate = next_memory_mode(
        MemoryMode(), phase="sampling", device="cuda", offload_available=False
    )
    assert no_accelerate is not None and no_accelerate.name == "tiled"


def test_ladder_ends_when_nothing_leaner_is_left() -> None:
    low = MemoryMode(vae_tiling=True, offload=True)
    assert next_memory_mode(low, phase="sampling", device="cuda") is None
    assert next_memory_mode(low, phase="decode", device="cuda") is None
    tiled = MemoryMode(vae_tiling=True)
    assert next_memory_mode(tiled, phase="decode", device="cpu") is None
    assert next_memory_mode(tiled, phase="sampling", device="cuda").name == "low"


def test_oom_hint_names_the_numbers_to_lower() -> None:
    hint = oom_hint(1024, 768, 4, MemoryMode(vae_tiling=True), "cuda")
    assert hint.startswith("Lower the size (now 1024×768) or the batch size (now 4)")
    assert 'memory mode to "low"' in hint and "GPU" in hint
    single = oom_hint(512, 512, 1, MemoryMode(), "cpu")
    assert "batch" not in single and 'memory mode to "tiled"' in single and "RAM" in single
    lowest = oom_hint(512, 512, 1, MemoryMode(vae_tiling=True, offload=True), "cuda")
    assert "memory mode" not in lowest


class _FakeVae:
    def __init__(self) -> None:
        self.use_tiling = False
        self.use_slicing = False

    def enable_tiling(self) -> None:
        self.use_tiling = True

    def disable_tiling(self) -> None:
        self.use_tiling = False

    def enable_slicing(self) -> None:
        self.use_slicing = True

    def disable_slicing(self) -> None:
        self.use_slicing = False


class _FakePipe:
    def __init__(self) -> None:
        self.vae = _FakeVae()
        self._all_hooks: list[object] = []
        self.calls: list[str] = []

    def enable_model_cpu_offload(self, device: str) -> None:
        self.calls.append(f"offload:{device}")
        self._all_hooks = [object()]

    def remove_all_hooks(self) -> None:
        self.calls.append("remove_hooks")
        self._all_hooks = []

    def to(self, device: str) -> None:
        self.calls.append(f"to:{device}")


def test_apply_sets_every_switch_and_undoes_the_previous_job() -> None:
    pipe = _FakePipe()
    apply_memory_mode(pipe, MemoryMode(vae_tiling=True, offload=True), "cuda")
    assert pipe.vae.use_tiling and pipe.vae.use_slicing
    assert pipe.calls == ["offload:cuda"]
    apply_memory_mode(pipe, MemoryMode(vae_tiling=True, offload=True), "cuda")
    assert pipe.calls == ["offload:cuda"]  # already offloaded: nothing to redo
    apply_memory_mode(pipe, MemoryMode(), "cuda")
    assert not pipe.vae.use_tiling and not pipe.vae.use_slicing
    assert pipe.calls == ["offload:cuda", "remove_hooks", "to:cuda"]


def test_apply_never_offloads_on_the_cpu() -> None:
    pipe = _FakePipe()
    apply_memory_mode(pipe, MemoryMode(vae_tiling=True, offload=True), "cpu")
    assert pipe.calls == [] and pipe.vae.use_tiling
