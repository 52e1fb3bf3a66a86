"""The starter catalogue: a few well-known model files a newcomer can fetch with one click.

It is data (`resources/starter_models.json`), read and checked here: every entry names its
repository, files (path in the repo, size, sha256 when known), revision, licence, what it is for,
its kind and the library sub-folder it goes to. An entry that fails a check (a `../` in a name,
a bad hash, an unknown kind) is refused with the reason, never half-used. `provenance` says how
far the values were checked; entries with `verified: false` have not been checked online.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.downloads import names
from sneakerstudio.core.downloads.errors import DownloadError
from sneakerstudio.core.downloads.transfer import DownloadTarget
from sneakerstudio.core.downloads.verify import check_sha256
from sneakerstudio.core.files.resources import resources_dir

KINDS = ("checkpoint", "lora", "vae", "taesd", "controlnet", "upscaler", "embedding")
MAX_CATALOGUE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StarterFile:
    file: str
    size: int
    sha256: str | None = None
    save_as: str | None = None


@dataclass(frozen=True)
class StarterModel:
    name: str
    title: str
    kind: str
    base: str | None
    folder: str  # relative to the models folder, `/`-separated (e.g. "Lora", "TAESD/taesd")
    purpose: str
    repo: str
    revision: str
    files: tuple[StarterFile, ...]
    licence: str
    licence_url: str
    recommended: bool = False
    verified: bool = False

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def targets(self) -> list[DownloadTarget]:
        return [
            DownloadTarget(
                repo=self.repo,
                file=f.file,
                revision=self.revision,
                sha256=f.sha256,
                save_as=f.save_as or f.file.rsplit("/", 1)[-1],
                size=f.size,
                label=self.title if len(self.files) == 1 else f"{self.title}: {f.file}",
            )
            for f in self.files
        ]

    def folder_in(self, models_dir: Path) -> Path:
        return models_dir.joinpath(*self.folder.split("/"))

    def main_file(self, models_dir: Path) -> Path:
        """What the library should select after the download: the largest file (for a
        folder model such as TAESD, its folder)."""
        folder = self.folder_in(models_dir)
        if self.kind == "taesd":
            return folder
        biggest = max(self.files, key=lambda f: f.size)
        return folder / (biggest.save_as or biggest.file.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class Catalogue:
    models: tuple[StarterModel, ...]
    provenance: str = ""

    def find(self, name: str) -> StarterModel:
        wanted = name.strip().lower()
        for model in self.models:
            if model.name == wanted:
                return model
        known = ", ".join(m.name for m in self.models)
        raise DownloadError(f"There is no starter model '{name}'.", hint=f"Choose one of: {known}.")


def default_path() -> Path:
    return resources_dir() / "starter_models.json"


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue at `path` (the shipped one by default), checked entry by entry."""
    path = path if path is not None else default_path()
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CATALOGUE_BYTES + 1)
        if len(raw) > MAX_CATALOGUE_BYTES:
            raise ValueError("it is larger than 1 MB")
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise DownloadError(f"The starter catalogue '{path}' cannot be read: {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise DownloadError(f"The starter catalogue '{path}' has no list of models.")
    models = []
    for index, item in enumerate(data["models"]):
        try:
            models.append(_entry(item))
        except (DownloadError, KeyError, TypeError, ValueError) as exc:
            raise DownloadError(f"Starter catalogue entry {index + 1} is refused: {exc}") from None
    return Catalogue(tuple(models), str(data.get("provenance", "")))


def _entry(item: dict[str, Any]) -> StarterModel:
    kind = str(item["kind"])
    if kind not in KINDS:
        raise ValueError(f"unknown kind '{kind}'")
    folder = str(item["folder"])
    names.check_repo_file(folder)  # relative, no `..`
    files = []
    for spec in item["files"]:
        file = names.check_repo_file(str(spec["file"]))
        save_as = spec.get("save_as")
        names.check_save_name(str(save_as or file.rsplit("/", 1)[-1]))
        size = int(spec.get("size") or 0)
        if size < 0:
            raise ValueError(f"negative size for {file}")
        files.append(StarterFile(file, size, check_sha256(spec.get("sha256")), save_as))
    if not files:
        raise ValueError("no files")
    return StarterModel(
        name=str(item["name"]).lower(),
        title=str(item["title"]),
        kind=kind,
        base=item.get("base"),
        folder=folder,
        purpose=str(item.get("purpose", "")),
        repo=names.check_repo_id(str(item["repo"])),
        revision=str(item.get("revision") or "main"),
        files=tuple(files),
        licence=str(item.get("licence", "")),
        licence_url=str(item.get("licence_url", "")),
        recommended=bool(item.get("recommended", False)),
        verified=bool(item.get("verified", False)),
    )
