"""Seamless tiling and the SDXL refiner in the window's Advanced section: they reach the request
as the CLI sets them (`--tiling --refiner M --refiner-switch-at F`), come back from our PNGs and
from A1111's text, the header says they are on, and the refiner list puts SDXL refiners first."""

from __future__ import annotations

import json
from pathlib import Path

from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.qt.files import params_from_metadata


def test_tiling_and_refiner_reach_the_request_as_the_cli_sets_them(
    make_window, model_file: Path, tmp_path: Path
) -> None:
    from sneakerstudio.cli import build_parser
    from sneakerstudio.cli.tiling_refiner_args import tiling_refiner_fields

    refiner = tmp_path / "sd_xl_refiner_1.0.safetensors"
    refiner.write_bytes(b"\0" * 8)
    window = make_window(start=False)
    window.set_model(model_file)
    advanced = window.params.advanced
    advanced.tiling_refiner.set_refiners([str(refiner)])
    window.params.set_values(
        {"prompt": "a sneaker", "tiling": True, "refiner": str(refiner), "refiner_switch_at": 0.7}
    )
    request = window.build_request()
    args = build_parser().parse_args(
        ["generate", "--model", str(model_file), "--prompt", "a sneaker", "--tiling",
         "--refiner", str(refiner), "--refiner-switch-at", "0.7"]
    )  # fmt: skip
    expected = GenerationRequest(
        model=model_file, prompt="a sneaker", **tiling_refiner_fields(args)
    )
    assert (request.tiling, request.refiner_switch_at) == (True, 0.7)
    assert (expected.tiling, expected.refiner_switch_at) == (True, 0.7)
    assert Path(str(request.refiner)) == refiner
    advanced.set_expanded(False)
    assert (
        "tiling" in advanced.header.text() and "refiner sd_xl_refiner_1.0" in advanced.header.text()
    )
    window.params.set_values({"tiling": False, "refiner": ""})
    request = window.build_request()
    assert request.tiling is False and request.refiner is None
    assert not advanced.tiling_refiner.switch_at.isEnabled()  # no refiner: nothing to switch


def test_they_come_back_from_our_png_and_from_a1111_text(make_window, model_file: Path) -> None:
    request = GenerationRequest(
        model=model_file, prompt="a sneaker", tiling=True, refiner="sd_xl_refiner_1.0",
        refiner_switch_at=0.6,
    )  # fmt: skip
    window = make_window(start=False)
    window.set_model(model_file)
    window.params.set_values(params_from_metadata({"request": json.loads(request.to_json())}))
    again = window.build_request()
    assert again.tiling is True and again.refiner_switch_at == 0.6
    assert again.refiner == "sd_xl_refiner_1.0"  # a library name, found by the engine
    assert "not in the library" in window.params.advanced.tiling_refiner.refiner.currentText()

    extras = {"Refiner": "sd_xl_refiner_1.0 [7440042bbd]", "Refiner switch at": "0.75"}
    values = params_from_metadata({"prompt": "x", "extras": extras})
    assert values["refiner"] == "sd_xl_refiner_1.0" and values["refiner_switch_at"] == 0.75
    assert values["tiling"] is False  # absent in A1111's text: off, as it made the image
    values = params_from_metadata({"prompt": "x", "extras": {"Tiling": "True"}})
    assert values["tiling"] is True and values["refiner"] == ""


def test_the_refiner_list_puts_sdxl_refiners_first(make_window, model_file: Path) -> None:
    window = make_window(start=False)
    rows = window.params.advanced.tiling_refiner
    rows.set_refiners(["/m/sd_xl_refiner_1.0.safetensors", "/m/juggernaut.safetensors"])
    names = [rows.refiner.itemText(i) for i in range(rows.refiner.count())]
    assert names == ["None", "sd_xl_refiner_1.0", "juggernaut"]
