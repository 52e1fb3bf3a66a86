"""What a ControlNet unit adds to a UNet call in the cases the plain pair does not cover.

A negative prompt of another length than the prompt runs as a UNet call of its own (A1111's
way). Its ControlNet residuals are computed at that call's batch, not by doubling the batch and
keeping half: the same numbers, half the ControlNet work, and one input shape for OpenVINO.
An LCM model's guidance embedding reaches only a ControlNet that has a projection for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sneakerstudio.core.generation.control import ControlNetResiduals, LoadedControl
from sneakerstudio.core.protocol.control import ControlUnit
from tests.controlnet_models import tiny_controlnet


@pytest.fixture(scope="module")
def controlnet() -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    return tiny_controlnet(unet, embedding=(16, 32))


@pytest.mark.parametrize("mode", ["balanced", "prompt", "control"])
def test_the_negative_half_alone_equals_half_of_the_doubled_pair(controlnet, mode: str) -> None:
    from PIL import Image

    unit = ControlUnit(
        model=Path("unit.safetensors"),
        image=Image.new("RGB", (16, 16)),
        preprocessor="none",
        control_mode=mode,
        weight=0.8,
    )
    image = torch.rand(1, 3, 16, 16)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 8, 8, generator=generator)
    negative = torch.randn(1, 77, 32, generator=generator)
    t = torch.tensor(500.0)

    def extension() -> ControlNetResiduals:
        return ControlNetResiduals([(LoadedControl(unit, controlnet, "unit"), image)])

    with torch.no_grad():
        pair = extension().residuals(
            0, 4, t, torch.cat([x, x]), torch.cat([negative, negative]), None, None, True
        )
        alone = extension().residuals(0, 4, t, x, negative, None, None, False, True)
    assert pair is not None
    halves = [d.chunk(2)[0] for d in pair[0]], pair[1].chunk(2)[0]
    if mode == "control":  # it guides the prompt's half only: nothing for the negative
        assert alone is None
        assert all(float(d.abs().max()) == 0 for d in halves[0])
        return
    assert alone is not None
    assert float(halves[1].abs().max()) > 0  # the unit acts
    assert alone[0][0].shape[0] == 1  # computed at the call's own batch
    for got, want in zip([*alone[0], alone[1]], [*halves[0], halves[1]], strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_a_plain_controlnet_beside_an_lcm_model_ignores_the_guidance_embedding(
    controlnet,
) -> None:
    """An LCM-distilled checkpoint gives the UNet a guidance embedding (`timestep_cond`); an
    ordinary SD ControlNet has no projection for it. It used to be passed anyway, and the
    ControlNet failed ("'NoneType' object is not callable"). Now the ControlNet gets what
    diffusers' ControlNet pipelines give it: the same residuals as without the embedding."""
    from PIL import Image

    unit = ControlUnit(
        model=Path("unit.safetensors"), image=Image.new("RGB", (16, 16)), preprocessor="none"
    )
    image = torch.rand(1, 3, 16, 16)
    x, embeds = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    lcm_embedding = torch.randn(1, 256)
    extension = ControlNetResiduals([(LoadedControl(unit, controlnet, "unit"), image)])
    with torch.no_grad():
        given = extension.residuals(
            0, 4, torch.tensor(500.0), x, embeds, lcm_embedding, None, False
        )
        plain = extension.residuals(0, 4, torch.tensor(500.0), x, embeds, None, None, False)
    assert given is not None and plain is not None
    torch.testing.assert_close(given[1], plain[1])
