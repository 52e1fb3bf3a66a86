"""Upscaler model files: detected from their weights (old and new ESRGAN layouts, compact, SwinIR),
pickles only through the safe conversion, non-upscalers refused by name; tiled inference equal to
the untiled result, with no seams, cancel between tiles; spandrel imported without torchvision."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("spandrel") is None:  # `import spandrel` itself needs torchvision
    pytest.skip("spandrel is not installed", allow_module_level=True)

from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.models.upscaler_files import load_upscaler
from sneakerstudio.core.protocol.errors import (
    GenerationCancelled,
    ModelFileError,
    RequestError,
    UnsafeFileError,
)
from tests import upscaler_models as um

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("upscalers")
    return {
        "old": um.save_safetensors(um.esrgan_old(), d / "4x-Old.safetensors"),
        "new": um.save_pth(um.esrgan_new(), d / "RealESRGAN_x4plus.pth", wrap="params_ema"),
        "compact": um.save_pth(um.compact(), d / "realesr-general-x4v3.pth", wrap="params"),
        "swinir": um.save_safetensors(um.swinir(), d / "2x-SwinIR.safetensors"),
        "dncnn": um.save_safetensors(um.dncnn(), d / "dncnn.safetensors"),
    }


def picture(width: int, height: int, seed: int = 0):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    small = Image.fromarray(base, "RGB")
    return small.resize((width, height), Image.Resampling.BICUBIC)


@pytest.mark.parametrize(
    ("key", "arch", "scale"),
    [
        ("old", "ESRGAN", 4),
        ("new", "ESRGAN", 4),
        ("compact", "RealESRGAN Compact", 4),
        ("swinir", "SwinIR", 2),
    ],
)
def test_detected_and_output_is_scale_times_input(files, key, arch, scale) -> None:
    up = load_upscaler(files[key])
    assert (up.arch, up.scale) == (arch, scale)
    info = identify(files[key])  # a pickle is read from its safetensors copy now
    assert (info.kind, info.arch, info.scale) == ("upscaler", arch, scale)
    assert f'"arch": "{arch}"' in info.to_json()

    from sneakerstudio.core.upscalers.image import upscale_image

    out = upscale_image(picture(24, 16), up, scale)
    assert out.size == (24 * scale, 16 * scale) and out.mode == "RGB"


def test_wrapped_pickle_equals_the_bare_safetensors(files, tmp_path: Path) -> None:
    """`params_ema` unwrapped: the new-layout pickle computes what the old-layout file does."""
    import numpy as np

    from sneakerstudio.core.upscalers.image import upscale_image

    img = picture(20, 20)
    a = np.asarray(upscale_image(img, load_upscaler(files["old"]), 4))
    b = np.asarray(upscale_image(img, load_upscaler(files["new"]), 4))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("key", ["old", "compact"])
def test_tiled_equals_untiled_and_has_no_seams(files, key) -> None:
    import numpy as np

    from sneakerstudio.core.upscalers.image import upscale_image

    up = load_upscaler(files[key])
    img = picture(70, 54, seed=3)
    whole = np.asarray(upscale_image(img, up, 4, tile=1024), dtype=np.int16)
    ticks: list[tuple[int, int]] = []
    tiled = np.asarray(
        upscale_image(
            img, up, 4, tile=24, overlap=8, context=24, on_tile=lambda d, n: ticks.append((d, n))
        ),
        dtype=np.int16,
    )
    assert len(ticks) == 9 and ticks[-1] == (9, 9)  # 3×3 tiles, each reported
    assert np.abs(whole - tiled).max() <= 2


def test_flat_picture_stays_flat_across_tile_borders(files) -> None:
    """A random-weight pixel-shuffle model turns a flat colour into a pattern that repeats every
    `scale` pixels; a seam anywhere would break the repetition."""
    import numpy as np
    from PIL import Image

    from sneakerstudio.core.upscalers.image import upscale_image

    up = load_upscaler(files["compact"])
    flat = Image.new("RGB", (64, 64), (120, 90, 200))
    out = np.asarray(upscale_image(flat, up, 4, tile=16, overlap=8), dtype=np.int16)
    inner = out[16:-16, 16:-16]  # the model's own response to the picture's border aside
    assert np.abs(inner[4:] - inner[:-4]).max() <= 2
    assert np.abs(inner[:, 4:] - inner[:, :-4]).max() <= 2


def test_cancel_between_tiles(files) -> None:
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.upscalers.image import upscale_image

    token = CancelToken()
    seen: list[int] = []

    def on_tile(done: int, total: int) -> None:
        seen.append(done)
        if done == 2:
            token.cancel()

    with pytest.raises(GenerationCancelled):
        upscale_image(
            picture(64, 64),
            load_upscaler(files["old"]),
            4,
            tile=16,
            on_tile=on_tile,
            check_cancel=token.check,
        )
    assert seen == [1, 2]


def test_any_factor_alpha_and_grey(files) -> None:
    import numpy as np
    from PIL import Image

    from sneakerstudio.core.upscalers.image import upscale_image

    up = load_upscaler(files["compact"])
    rgba = picture(16, 16).convert("RGBA")
    alpha = Image.new("L", (16, 16), 0)
    alpha.paste(255, (0, 0, 8, 16))
    rgba.putalpha(alpha)
    out = upscale_image(rgba, up, 2.5)
    assert out.size == (40, 40) and out.mode == "RGBA"
    a = np.asarray(out.getchannel("A"))
    assert a[:, :15].min() > 200 and a[:, 25:].max() < 50
    assert upscale_image(picture(16, 16).convert("L"), up, 8).size == (128, 128)  # two passes
    sixteen = Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)
    assert sixteen.mode.startswith("I")
    assert upscale_image(sixteen, up, 2).size == (32, 32)


@pytest.mark.parametrize("factor", [0, -1, 100, float("nan"), float("inf")])
def test_bad_factor_refused(files, factor) -> None:
    from sneakerstudio.core.upscalers.image import upscale_image

    with pytest.raises(RequestError):
        upscale_image(picture(16, 16), load_upscaler(files["compact"]), factor)


def test_tiny_and_huge_results_refused() -> None:
    from sneakerstudio.core.upscalers.image import check_upscale

    with pytest.raises(RequestError, match="at least"):
        check_upscale(1, 1, 4)
    with pytest.raises(RequestError, match="smaller factor"):
        check_upscale(8192, 8192, 4)


def test_non_upscaler_refused_with_its_name(files) -> None:
    with pytest.raises(ModelFileError, match="DnCNN") as err:
        load_upscaler(files["dncnn"])
    assert "ESRGAN" in str(err.value) and "SwinIR" in str(err.value)  # what is supported


def test_checkpoint_and_truncated_file_refused(tiny_sd1, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="checkpoint"):
        load_upscaler(tiny_sd1.single_file)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_sd1.single_file.read_bytes()[:5000])
    with pytest.raises(ModelFileError):
        load_upscaler(cut)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_with_a_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "sentinel"
    path = tmp_path / "4x-evil.pth"
    path.write_bytes(pickle.dumps({"params_ema": um.compact(), "x": _Payload(marker)}))
    with pytest.raises(UnsafeFileError, match="could run code"):
        load_upscaler(path)
    assert not marker.exists()


@pytest.mark.parametrize("with_broken_torchvision", [False, True])
def test_spandrel_imports_without_a_working_torchvision(
    tmp_path: Path, with_broken_torchvision
) -> None:
    """In a fresh process: torchvision absent, or the index's wheel that fails with CPU torch
    (put on the path when it is available here): upscalers load, no stand-in is left behind,
    and diffusers' pipelines (whose image processors import torchvision when it is installed)
    still import."""
    extra = os.environ.get("SNEAKERSTUDIO_TEST_TORCHVISION_SITE", "/tmp/tvsite")
    if with_broken_torchvision and not Path(extra, "torchvision").is_dir():
        pytest.skip(
            "no torchvision wheel unpacked to test with (SNEAKERSTUDIO_TEST_TORCHVISION_SITE)"
        )
    path = um.save_safetensors(um.compact(), tmp_path / "c.safetensors")
    code = (
        "import sys\n"
        "from sneakerstudio.core.models.upscaler_files import load_upscaler\n"
        f"u = load_upscaler({str(path)!r})\n"
        "assert u.arch == 'RealESRGAN Compact', u.arch\n"
        "left = [k for k, m in sys.modules.items() if k.startswith('torchvision') and m]\n"
        "assert not left, left\n"
        "from diffusers import StableDiffusionPipeline\n"
        "try:\n    import torchvision\n"
        "except Exception as e:\n    print('torchvision:', type(e).__name__)\n"
        "else:\n    print('torchvision: ok')\n"
    )
    paths = [str(ROOT), *sys.path[1:]]
    if with_broken_torchvision:
        paths.append(extra)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torchvision: ModuleNotFoundError" in done.stdout  # absent, or hidden as unloadable


def test_library_lists_upscalers_of_every_usual_folder(tmp_path: Path) -> None:
    from sneakerstudio.core.models.library import Library
    from sneakerstudio.core.upscalers.loading import get_upscaler
    from tests.core.library_helpers import make_a1111

    root = make_a1111(tmp_path / "a1111")
    for sub in ("ESRGAN", "SwinIR", "DAT"):
        (root / "models" / sub).mkdir(parents=True, exist_ok=True)
    um.save_safetensors(um.esrgan_old(), root / "models/ESRGAN/4x-UltraSharp.safetensors")
    um.save_safetensors(um.swinir(), root / "models/SwinIR/2x-Swin.safetensors")
    um.save_safetensors(um.compact(), root / "models/DAT/4xNomos-ish.safetensors")
    comfy = tmp_path / "comfy"
    (comfy / "models/checkpoints").mkdir(parents=True)
    (comfy / "models/upscale_models").mkdir(parents=True)
    target = comfy / "models/upscale_models/RealESRGAN_x4plus.pth"
    um.save_pth(um.esrgan_new(), target, "params_ema")
    lib = Library(tmp_path / "data", detect_home=tmp_path / "nohome")
    try:
        lib.add_folder(root)
        lib.add_folder(comfy)
        lib.scan()
        ups = {m.name for m in lib.models(kind="upscaler")}
        assert ups == {"4x-UltraSharp", "2x-Swin", "4xNomos-ish", "RealESRGAN_x4plus"}
        up = get_upscaler("4x-UltraSharp", library=lib)
        assert (up.arch, up.scale, up.path.parent.name) == ("ESRGAN", 4, "ESRGAN")
    finally:
        lib.close()
