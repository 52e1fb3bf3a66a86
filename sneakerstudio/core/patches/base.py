"""The one mechanism every model patch goes through: a `Patch` applies itself to a loaded model
and undoes itself, and `patched` puts exactly a job's patches on the model.

A patch fills one slot ("prediction", "vae", "loras", "embeddings", "tiling"). A patch
equal to the one already in its slot is kept as it is, so a model keeps its merged LoRAs, its
VAE override and its embedding rows from job to job while the requests ask for the same; a
different one (or none) undoes the old patch first. What a patch changed, and what it needs to
undo it, lives in the model's typed `LoadedModel.patches` record, never on the library's objects.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel


class Patch(Protocol):
    """A reversible change to a loaded model.

    `key` says what the patch puts on the model (equal keys, equal change). `keep`: the patch
    stays on the model after its job (until a job asks for something else); a patch with
    `keep = False` (a per-job one, e.g. a ControlNet's) is undone when the job ends."""

    slot: ClassVar[str]
    keep: ClassVar[bool]

    @property
    def key(self) -> Hashable: ...

    def apply(self, model: LoadedModel) -> None:
        """Put the change on the model (its slot is empty when this is called): all or
        nothing — read and check every file first, and on a failure part-way take back what
        was changed (`patch_model` calls `undo` after a failed apply as well). Raise a typed
        error naming the file."""

    def undo(self, model: LoadedModel) -> None:
        """Take the change off again, also after a failed `apply` (it may be half done)."""


def patch_model(model: LoadedModel, patches: Sequence[Patch]) -> None:
    """Make `model` carry exactly `patches` (one per slot), slot by slot in their order: an
    equal patch in effect stays, another is undone, then the new one is applied. A patch that
    fails to apply is undone (the model is never left half patched) and the error goes on."""
    applied = model.patches.applied
    wanted = {patch.slot: patch for patch in patches}
    for slot in [s for s in applied if s not in wanted]:
        applied.pop(slot).undo(model)
    for slot, patch in wanted.items():
        current = applied.get(slot)
        if current is not None and current.key == patch.key:
            continue
        if current is not None:
            applied.pop(slot).undo(model)
        try:
            patch.apply(model)
        except BaseException:
            patch.undo(model)
            raise
        applied[slot] = patch


@contextmanager
def patched(model: LoadedModel, patches: Sequence[Patch]) -> Iterator[LoadedModel]:
    """`patch_model` for the length of one job; on the way out, the patches that are not kept
    (`keep = False`) are undone."""
    patch_model(model, patches)
    try:
        yield model
    finally:
        applied = model.patches.applied
        for slot in [s for s, p in applied.items() if not p.keep]:
            applied.pop(slot).undo(model)
