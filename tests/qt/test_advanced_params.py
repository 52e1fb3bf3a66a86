"""The params panel's Advanced section: every value reaches the request under the field the
CLI sets, comes back from a PNG (ours and A1111's) and from the settings file, the section
remembers whether it is open, and the library's embeddings "Use" puts the token in the prompt
and the file in the request."""

from __future__ import annotations

import json
from pathlib import Path

from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt.files import params_from_metadata
from sneakerstudio.qt.settings import SettingsStore

ADVANCED = {
    "hires_scale": 1.5,
    "hires_strength": 0.35,
    "hires_steps": 12,
    "hires_upscaler": "4x-UltraSharp",
    "variation_seed": 777,
    "variation_strength": 0.2,
    "batch_count": 3,
    "clip_skip": 2,
}


def _cli_request(model: Path, vae: Path) -> GenerationRequest:
    """The request `sneakerstudio generate` builds for the same options."""
    from sneakerstudio.cli import build_parser
    from sneakerstudio.cli.generate import mode_fields
    from sneakerstudio.cli.model_file_args import model_file_fields

    args = build_parser().parse_args(
        [
            "generate",
            "--model",
            str(model),
            "--prompt",
            "a sneaker",
            "--hires",
            "1.5",
            "--hires-strength",
            "0.35",
            "--hires-steps",
            "12",
            "--hires-upscaler",
            "4x-UltraSharp",
            "--variation-seed",
            "777",
            "--variation-strength",
            "0.2",
            "--batch-count",
            "3",
            "--clip-skip",
            "2",
            "--vae",
            str(vae),
        ]
    )
    return GenerationRequest(
        model=model, prompt="a sneaker", **mode_fields(args), **model_file_fields(args)
    )


def test_every_advanced_value_reaches_the_request_as_the_cli_sets_it(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    vae = tmp_path / "vae-ft-mse.safetensors"
    vae.write_bytes(b"\0" * 8)
    window = make_window(start=False)
    window.set_model(model_file)
    window.params.set_values({"prompt": "a sneaker", **ADVANCED, "vae": str(vae)})
    request = window.build_request()
    expected = _cli_request(model_file, vae)
    for name in (
        "hires_scale",
        "hires_strength",
        "hires_steps",
        "hires_upscaler",
        "hires_upscaler_model",
        "variation_seed",
        "variation_strength",
        "batch_count",
        "clip_skip",
        "vae",
    ):
        assert getattr(request, name) == getattr(expected, name), name
    assert request.hires_upscaler_model == "4x-UltraSharp"
    assert request.hires_size() == (768, 768)


def test_a_png_of_ours_restores_every_advanced_value(make_window, model_file: Path) -> None:
    request = GenerationRequest(
        model=model_file,
        prompt="a sneaker",
        hires_scale=2.0,
        hires_strength=0.4,
        hires_steps=9,
        hires_upscaler="lanczos",
        hires_upscaler_model="RealESRGAN_x4plus",
        variation_seed=5,
        variation_strength=0.3,
        batch_count=2,
        clip_skip=2,
        embeddings=("/models/embeddings/easynegative.safetensors",),
    )
    meta = {"request": json.loads(request.to_json())}
    window = make_window(start=False)
    window.set_model(model_file)
    window.params.set_values(params_from_metadata(meta))
    again = window.build_request()
    for name in (
        "hires_scale",
        "hires_strength",
        "hires_steps",
        "hires_upscaler_model",
        "variation_seed",
        "variation_strength",
        "batch_count",
        "clip_skip",
        "embeddings",
    ):
        assert getattr(again, name) == getattr(request, name), name
    # A model the library does not list stays chosen, and says so.
    assert "not in the library" in window.params.advanced.hires_upscaler.currentText()


def test_a1111_parameters_restore_the_hires_pass_and_variations() -> None:
    extras = {
        "Hires upscale": "2",
        "Hires steps": "10",
        "Hires upscaler": "Latent (nearest-exact)",
        "Denoising strength": "0.45",
        "Variation seed": "123",
        "Variation seed strength": "0.1",
        "Clip skip": "2",
    }
    values = params_from_metadata({"prompt": "x", "extras": extras})
    assert values["hires_scale"] == 2.0 and values["hires_steps"] == 10
    assert values["hires_upscaler"] == "latent" and values["hires_strength"] == 0.45
    assert (values["variation_seed"], values["variation_strength"]) == (123, 0.1)
    assert values["clip_skip"] == 2
    plain = params_from_metadata({"prompt": "x", "extras": {"Steps": "20"}})
    assert (plain["hires_scale"], plain["variation_strength"], plain["clip_skip"]) == (1.0, 0.0, 1)


def test_the_section_remembers_that_it_is_open(
    qtbot, make_window, tmp_path: Path, model_file: Path
) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    window = make_window(store=store, start=False)
    advanced = window.params.advanced
    assert not advanced.is_expanded() and advanced.body.isHidden()
    qtbot.mouseClick(advanced.header, qtbot_button())
    assert advanced.is_expanded() and advanced.body.isVisible()
    advanced.batch_count.setValue(4)
    window.close()
    again = make_window(store=SettingsStore(tmp_path / "settings.json"), start=False)
    assert again.params.advanced.is_expanded()
    assert again.params.advanced.batch_count.value() == 4


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_hires_off_disables_its_fields(make_window) -> None:
    advanced = make_window(start=False).params.advanced
    assert not advanced.hires_strength.isEnabled()
    advanced.hires_scale.setValue(2.0)
    assert advanced.hires_strength.isEnabled() and advanced.hires_upscaler.isEnabled()


def test_a_closed_section_still_says_what_is_on(make_window) -> None:
    advanced = make_window(start=False).params.advanced
    assert advanced.header.text() == "Advanced"
    advanced.set_values({"hires_scale": 2.0, "batch_count": 3, "clip_skip": 2})
    assert not advanced.is_expanded()
    assert advanced.header.text() == "Advanced · hires 2× latent · batch count 3 · CLIP skip 2"


def test_embedding_use_puts_its_token_in_the_prompt_and_the_file_in_the_request(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    window = make_window(start=False)
    window.set_model(model_file)
    window.params.prompt.setPlainText("a sneaker")
    path = str(tmp_path / "embeddings" / "sneakerstyle.safetensors")
    window.library._use_embedding(path)
    assert "sneakerstyle" in window.params.prompt.toPlainText()
    assert window.build_request().embeddings == (path,)
    window.params.prompt.undo()  # one undoable edit
    assert window.params.prompt.toPlainText() == "a sneaker"
    window.params.advanced.embeddings_clear.click()
    assert window.build_request().embeddings == ()


def test_a_project_keeps_every_advanced_value(make_window, model_file: Path, tmp_path) -> None:
    window = make_window(start=False)
    window.set_model(model_file)
    embedding = str(tmp_path / "embeddings" / "sneakerstyle.safetensors")
    window.params.set_values({**ADVANCED, "embeddings": [embedding]})
    before = window.build_request()
    assert window.save_project_to(tmp_path / "shoe.sneaker")
    again = make_window(start=False)
    again.set_model(model_file)
    assert again.load_project_file(tmp_path / "shoe.sneaker")
    after = again.build_request()
    for name in (*ADVANCED, "hires_upscaler_model", "embeddings"):
        if name != "hires_upscaler":
            assert getattr(after, name) == getattr(before, name), name


def test_a_long_summary_never_widens_the_panel(make_window, tmp_path: Path) -> None:
    window = make_window(start=False)
    before = window.params_dock.minimumSizeHint().width()
    window.params.set_values(
        {
            "hires_scale": 2.0,
            "hires_upscaler": "4x_NMKD-Siax_200k-with-a-very-long-file-name-indeed",
            "variation_seed": 1,
            "variation_strength": 0.3,
            "batch_count": 9,
            "vae": str(tmp_path / "a-very-long-vae-file-name-for-testing.safetensors"),
            "clip_skip": 2,
        }
    )
    assert window.params_dock.minimumSizeHint().width() <= before
    assert "NMKD" in window.params.advanced.header.toolTip()
