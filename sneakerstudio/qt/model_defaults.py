"""Generate → Use the model's defaults: the core's rule (`core/patches/defaults.py`) for the
current model and the prompt's LoRAs, read from the files' headers off the GUI thread, applied
to the parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.qt.main_window import MainWindow


def use_model_defaults(window: MainWindow) -> None:
    model = window.model()
    if model is None:
        window.banner.show_message("Choose a model first (File → Open model file…).")
        return
    names = [name for name, _weight in window.params.loras.loras()]

    def work() -> dict[str, Any]:
        from sneakerstudio.core.patches.defaults import model_file_defaults, prompt_lora_paths

        return model_file_defaults(model, prompt_lora_paths(model, names))

    def done(values: dict[str, Any]) -> None:
        window.params.set_values(values)
        window.status_line.say(
            f"{model.name}: {values['width']}×{values['height']}, {values['steps']} steps, "
            f"CFG {values['guidance']:g}, {values['sampler']}"
        )

    window.files.reads.start(f"'{model.name}'", work, done, window.files.read_failed)
