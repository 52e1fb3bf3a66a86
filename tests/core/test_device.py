"""The device plan the status bar shows: threads and precision the engine really uses, bf16 on
the CPU only where the processor runs it natively, few-step advice on the CPU."""

from __future__ import annotations

import pytest

from sneakerstudio.core.runtime import device


@pytest.fixture(autouse=True)
def _keep_threads():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cpu_plan_names_threads_and_precision(monkeypatch) -> None:
    monkeypatch.setattr(device, "cpu_bf16_fast", lambda: False)
    monkeypatch.delenv("SNEAKERSTUDIO_PRECISION", raising=False)
    plan = device.choose_device("cpu", threads=2)
    assert plan.description == "CPU · 2 threads · fp32"
    assert plan.precision == "fp32"
    assert plan.prefers_few_steps and "Turbo" in plan.hint


def test_cpu_uses_bf16_only_with_native_support(monkeypatch) -> None:
    monkeypatch.delenv("SNEAKERSTUDIO_PRECISION", raising=False)
    monkeypatch.setattr(device, "cpu_bf16_fast", lambda: True)
    assert device.choose_device("cpu", threads=1).description == "CPU · 1 thread · bf16"
    monkeypatch.setattr(device, "cpu_bf16_fast", lambda: False)
    assert device.choose_device("cpu", threads=1).precision == "fp32"


def test_user_precision_wins_but_fp16_is_never_used_on_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(device, "cpu_bf16_fast", lambda: False)
    assert device.choose_device("cpu", threads=1, precision="bf16").precision == "bf16"
    monkeypatch.setenv("SNEAKERSTUDIO_PRECISION", "fp16")
    assert device.choose_device("cpu", threads=1).precision == "fp32"


def test_compile_is_opt_in_and_cuda_only(monkeypatch) -> None:
    """On this CPU `torch.compile` measured no faster and took minutes (PERFORMANCE.md)."""
    monkeypatch.setattr(device, "cpu_bf16_fast", lambda: False)
    monkeypatch.setenv(device.COMPILE_ENV, "1")
    assert device.compile_wanted() is True
    assert device.compile_wanted(False) is False
    plan = device.choose_device("cpu", threads=1)
    assert not plan.compile_unet and "compiled" not in plan.description
    monkeypatch.delenv(device.COMPILE_ENV)
    assert device.compile_wanted() is False


def test_a_compiling_plan_compiles_the_unet_in_place() -> None:
    import torch

    calls: list[str] = []

    class Unet(torch.nn.Module):
        def compile(self, *args, **kwargs) -> None:  # record instead of compiling
            calls.append("unet")

    class Pipe:
        unet = Unet()

    unet = Pipe.unet
    plan = device.DevicePlan("cpu", torch.float32, "test", 1, compile_unet=True)
    device.optimise_pipeline(Pipe(), plan)
    assert calls == ["unet"] and Pipe.unet is unet  # the same module: LoRA merges reach it
    device.optimise_pipeline(Pipe(), device.DevicePlan("cpu", torch.float32, "test", 1))
    assert calls == ["unet"]
