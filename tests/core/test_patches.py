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
