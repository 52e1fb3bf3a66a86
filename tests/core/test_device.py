"""The device plan the status bar shows: threads and precision the engine really uses, bf16 on
the CPU only where the processor runs it natively, few-step advice on the CPU."""

from __future__ import annotations

import pytest

from sneakerstudio.core import device


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
