"""The family registry is the one list of bases, and every record is complete; the few-step rule
gives the answers identification and the model picker both gave."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sneakerstudio.core.families.few_step import DISTILLATIONS, few_step_kind
from sneakerstudio.core.families.registry import (
    ALL_MODES,
    FALLBACK_DEFAULTS,
    FAMILIES,
    base_choices,
    base_colours,
    base_labels,
    bases,
    family,
    family_defaults,
    family_for_context_width,
    latent_format,
    model_defaults,
)
from sneakerstudio.core.protocol.samplers import find_sampler

# -- the registry -----------------------------------------------------------------------------


def test_the_bases_keep_their_identifiers() -> None:
    """The names are a contract (identify's JSON, the library index, `--base`)."""
    assert bases() == ("sd1", "sd2", "sdxl", "sdxl-refiner")
    assert tuple(FAMILIES) == bases()


@pytest.mark.parametrize("base", bases())
def test_every_record_is_complete(base: str) -> None:
    record = family(base)
    assert record.name == base
    assert record.label and record.short_label and record.choice_label
    assert re.fullmatch(r"#[0-9a-f]{6}", record.colour)
    assert record.native_size % 64 == 0 and record.context_width > 0
    latent = record.latent
    assert len(latent.preview_factors) == latent.channels
    assert all(len(row) == 3 for row in latent.preview_factors) and len(latent.preview_bias) == 3
    assert latent.taesd in ("sd1", "sdxl") and latent.scaling_factor > 0
    d = record.defaults
    assert d.steps > 0 and d.guidance >= 0 and d.prediction in ("epsilon", "v")
    assert find_sampler(d.sampler) is not None
    assert d.modes and set(d.modes) <= set(ALL_MODES)
    assert record.unet_prefix and record.vae_prefix and record.text_prefix


@pytest.mark.parametrize("base", bases())
def test_each_record_agrees_with_its_config_template(base: str) -> None:
    record = family(base)
    folder = record.template_dir
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == record.pipeline_class
    vae = json.loads((folder / "vae" / "config.json").read_text())
    assert vae["scaling_factor"] == record.vae_scaling_factor
    assert vae["latent_channels"] == record.latent.channels
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    expected = "v_prediction" if record.defaults.prediction == "v" else "epsilon"
    assert scheduler.get("prediction_type", "epsilon") == expected
    for encoder in record.text_encoders:
        assert (folder / encoder.component / "config.json").is_file()


def test_labels_choices_and_colours_come_from_the_records() -> None:
    assert base_labels() == {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL", "sdxl-refiner": "Refiner"}
    assert [base for _label, base in base_choices()] == list(bases())
    assert base_choices()[-1] == ("SDXL refiner", "sdxl-refiner")
    assert set(base_colours()) == set(bases())


def test_the_cli_offers_the_registry_bases() -> None:
    import argparse

    from sneakerstudio.cli import models

    parser = argparse.ArgumentParser()
    models.add_parser(parser.add_subparsers())
    args = parser.parse_args(["models", "list", "--base", "sdxl-refiner"])
    assert args.base == "sdxl-refiner"
    with pytest.raises(SystemExit):
        parser.parse_args(["models", "list", "--base", "sd3"])


def test_context_widths_and_latent_formats() -> None:
    widths = {768: "sd1", 1024: "sd2", 2048: "sdxl", 1280: "sdxl-refiner"}
    assert {w: family_for_context_width(w) for w in widths} == widths
    assert family_for_context_width(None) is None and family_for_context_width(320) is None
    assert latent_format("sd2") is latent_format("sd1")
    assert latent_format("sdxl-refiner") is latent_format("sdxl")
    assert latent_format("no such family") is latent_format("sd1")


def test_previews_use_the_family_latent_format() -> None:
    import torch

    from sneakerstudio.core.generation.previews import LatentPreviewer

    for base in bases():
        previewer = LatentPreviewer(base)
        assert previewer.factors == family(base).latent.preview_factors
    latent = torch.zeros(4, 2, 2)
    sd, xl = LatentPreviewer("sd1")(latent), LatentPreviewer("sdxl")(latent)
    assert sd.shape == (2, 2, 3) and (sd == 127).all()  # no bias: mid grey
    assert xl[0, 0, 0] > xl[0, 0, 1]  # SDXL's bias tints a zero latent red


def test_an_unknown_family_names_the_choices() -> None:
    with pytest.raises(KeyError, match="sdxl-refiner"):
        family_defaults("sd3")


def test_model_defaults() -> None:
    """What the CLI (and the window) fill in when the user left a field alone."""
    keys = ("width", "height", "steps", "guidance", "sampler")
    assert model_defaults(None) == FALLBACK_DEFAULTS
    assert model_defaults("sdxl", kind="lora") == FALLBACK_DEFAULTS
    sdxl = model_defaults("sdxl")
    assert set(sdxl) == set(keys) and (sdxl["width"], sdxl["steps"]) == (1024, 25)
    turbo = model_defaults("sdxl", distilled="turbo")
    assert (turbo["width"], turbo["steps"], turbo["guidance"]) == (512, 1, 0.0)
    lcm = model_defaults("sd1", distilled="lcm")
    assert (lcm["sampler"], lcm["steps"], lcm["guidance"]) == ("LCM", 4, 1.5)
    assert model_defaults("sdxl", distilled="lcm")["guidance"] == 1.0
    assert model_defaults("sd2", variant="inpaint")["width"] == 512
    assert model_defaults("sd2")["width"] == 768


# -- the few-step rule ------------------------------------------------------------------------

# Names from identification's tests and the picker's, and what both rules said.
FEW_STEP_NAMES = [
    ("sd_turbo", "turbo"),
    ("sd_xl_turbo_1.0_fp16", "turbo"),
    ("tiny_sdxl_turbo", "turbo"),
    ("sdxl_lightning_4step_unet", "turbo"),
    ("/models/Stable-diffusion/sd_turbo.safetensors", "turbo"),
    ("lcm-dreamshaper-v7", "lcm"),
    ("lcm-lora-sdv1-5", "lcm"),
    ("lcm_tiny_sd1", "lcm"),
    ("/models/LCM_Dreamshaper_v7.safetensors", "lcm"),
    ("SDXL-LCM", "lcm"),
    ("latent-consistency-model", "lcm"),
    ("dreamshaper_8", None),
    ("v1-5-pruned-emaonly", None),
    ("/models/turbo/dreamshaper_8.safetensors", None),  # the folder's name does not count
    ("xlcmx", None),
]


@pytest.mark.parametrize(("name", "kind"), FEW_STEP_NAMES)
def test_few_step_kind_by_name(name: str, kind: str | None) -> None:
    assert few_step_kind(name) == kind
    assert few_step_kind(Path(name).stem) == kind


def test_few_step_kind_reads_modelspec_and_trusts_identification() -> None:
    assert few_step_kind("model", {"modelspec.architecture": "stable-diffusion-v1/lcm"}) == "lcm"
    assert few_step_kind("model", {"modelspec.title": "SDXL-Turbo"}) == "turbo"
    assert few_step_kind("model", {"ss_tag_frequency": "turbo"}) is None
    assert few_step_kind("plain_model", distilled="lcm") == "lcm"
    assert few_step_kind("sd_turbo", distilled="lcm") == "lcm"
    assert few_step_kind("plain_model", distilled="other") is None
    assert set(DISTILLATIONS) == {"turbo", "lcm"}


@pytest.mark.parametrize(("name", "kind"), FEW_STEP_NAMES)
def test_identification_uses_the_same_rule(name: str, kind: str | None) -> None:
    from sneakerstudio.core.models.identify import distilled_hint

    assert distilled_hint(Path(name).stem, {}) == kind
