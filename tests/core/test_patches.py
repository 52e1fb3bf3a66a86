"""The patch mechanism: equal patches stay, others are undone first, a failed one is undone,
per-job ones end with their job. Plain stand-ins for the model: no torch needed."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from sneakerstudio.core.models.loading import ModelPatches
from sneakerstudio.core.patches.base import patch_model, patched


@dataclass
class FakeModel:
    log: list[str] = field(default_factory=list)
    patches: ModelPatches = field(default_factory=ModelPatches)


@dataclass(frozen=True)
class Tag:
    slot: ClassVar[str] = "tag"
    keep: ClassVar[bool] = True
    name: str
    fail: bool = False

    @property
    def key(self) -> Hashable:
        return self.name

    def apply(self, model: Any) -> None:
        model.log.append(f"apply {self.name}")
        if self.fail:
            raise ValueError("broken file")

    def undo(self, model: Any) -> None:
        model.log.append(f"undo {self.name}")


@dataclass(frozen=True)
class PerJob(Tag):
    slot: ClassVar[str] = "per-job"
    keep: ClassVar[bool] = False


def test_an_equal_patch_stays_and_another_replaces_it() -> None:
    model = FakeModel()
    patch_model(model, [Tag("a")])
    patch_model(model, [Tag("a")])
    patch_model(model, [Tag("b")])
    patch_model(model, [])
    assert model.log == ["apply a", "undo a", "apply b", "undo b"]
    assert model.patches.applied == {}


def test_a_patch_that_fails_is_undone_and_leaves_its_slot_empty() -> None:
    model = FakeModel()
    patch_model(model, [Tag("a")])
    with pytest.raises(ValueError):
        patch_model(model, [Tag("b", fail=True)])
    assert model.log == ["apply a", "undo a", "apply b", "undo b"]
    assert model.patches.applied == {}


def test_per_job_patches_end_with_the_job_and_kept_ones_stay() -> None:
    model = FakeModel()
    with pytest.raises(RuntimeError), patched(model, [Tag("a"), PerJob("c")]):
        raise RuntimeError("the job failed")
    assert model.log == ["apply a", "apply c", "undo c"]
    assert list(model.patches.applied) == ["tag"]


# -- every LoRA layout is checked against the layer's shape before anything is merged ----------


def _layouts() -> dict[str, dict[str, Any]]:
    """One layer of a 16×8 linear weight in each layout, rank 2."""
    import torch

    r = torch.ones
    return {
        "kohya": {"lora_down.weight": r(2, 8), "lora_up.weight": r(16, 2), "alpha": r(())},
        "peft": {"lora_A.weight": r(2, 8), "lora_B.weight": r(16, 2)},
        "loha": {"hada_w1_a": r(16, 2), "hada_w1_b": r(2, 8), "hada_w2_a": r(16, 2),
                 "hada_w2_b": r(2, 8), "alpha": r(())},
        "lokr": {"lokr_w1": r(4, 2), "lokr_w2": r(4, 4)},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("layout", "name", "shape"),
    [
        ("kohya", "lora_up.weight", (2, 16)),  # dimensions swapped
        ("kohya", "lora_down.weight", (2, 9)),
        ("peft", "lora_B.weight", (2, 16)),
        ("loha", "hada_w2_b", (2, 7)),
        ("lokr", "lokr_w2", (4, 3)),
        ("kohya", "alpha", (2,)),  # not a number
    ],
)
def test_a_layer_that_does_not_fit_is_named_in_every_layout(
    layout: str, name: str, shape: tuple[int, ...]
) -> None:
    import torch

    from sneakerstudio.core.patches.lora import LoraError, check_layer

    parts = _layouts()[layout]
    check_layer(parts, (16, 8), "'x.safetensors' layer 'attn1_to_q'")  # the good one fits
    bad = {**parts, name: torch.ones(shape)}
    with pytest.raises(LoraError, match=r"'x\.safetensors' layer 'attn1_to_q' does not fit"):
        check_layer(bad, (16, 8), "'x.safetensors' layer 'attn1_to_q'")


@pytest.mark.parametrize("layout", ["kohya", "peft", "loha"])
def test_a_rank_zero_layer_is_named_in_every_layout(layout: str) -> None:
    import torch

    from sneakerstudio.core.patches.lora import LoraError, check_layer

    empty = {k: torch.ones(0) if k != "alpha" else v for k, v in _layouts()[layout].items()}
    with pytest.raises(LoraError, match=r"layer .q. is empty \(rank 0"):
        check_layer(empty, (16, 8), "layer 'q'")
