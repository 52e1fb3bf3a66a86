"""Preprocessors that run a network on the user's annotator files (HED soft edges, line art,
anime line art, Depth Anything, a transformers DPT folder): random weights of the real
architectures, written as users have them (`.pth` pickles and `.safetensors`), found in A1111's
and ComfyUI's folders, compared with the reference networks on the same weights."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sneakerstudio.core.annotators import (
    AnnotatorMissingError,
    annotator_roots,
    forget_loaded,
    run_preprocessor,
)
from sneakerstudio.core.annotators.run import annotator
from sneakerstudio.core.protocol.errors import ModelFileError, UnsafeFileError
from sneakerstudio.core.protocol.preprocessors import find_preprocessor
from tests import annotator_models as am
from tests import annotator_networks as an

A1111 = Path("extensions/sd-webui-controlnet/annotator/downloads")
COMFY = Path("custom_nodes/comfyui_controlnet_aux/ckpts/lllyasviel/Annotators")


@pytest.fixture(autouse=True)
def _fresh_cache():
    forget_loaded()
    yield
    forget_loaded()


def picture(w: int = 128, h: int = 128, seed: int = 0) -> Image.Image:
    """A picture with shapes (a dark rectangle and a bright disc on a gradient)."""
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx / w * 200, yy / h * 200, np.full_like(xx, 90.0)], axis=2)
    rgb[h // 4 : h // 2, w // 5 : w // 2] = 20
    rgb[(yy - h * 0.65) ** 2 + (xx - w * 0.7) ** 2 < (h / 6) ** 2] = 240
    noise = np.random.default_rng(seed).normal(0, 4, rgb.shape)
    return Image.fromarray(np.clip(rgb + noise, 0, 255).astype(np.uint8))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int32)


# -- HED ------------------------------------------------------------------------------------


def test_hed_from_an_a1111_pth_matches_the_reference_network(tmp_path: Path) -> None:
    ref = am.randomise(am.ReferenceHED(), seed=1)
    webui = tmp_path / "webui"
    am.save_pth(ref.state_dict(), webui / A1111 / "hed" / "ControlNetHED.pth")
    model = webui / "models" / "ControlNet" / "control_v11p_sd15_softedge.safetensors"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    image = picture()
    out = run_preprocessor(image, "softedge_hed", {"resolution": 128}, near=[model])
    assert out.size == image.size and out.mode == "RGB"
    # The reference: five maps at the input size, averaged, through a sigmoid.
    x = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        maps = ref(x)
    expected = []
    for m in maps:
        resized = torch.nn.functional.interpolate(m, size=(128, 128), mode="bilinear")
        expected.append(resized[0, 0].numpy())
    net = annotator(find_preprocessor("softedge_hed"), annotator_roots([model]))
    with torch.no_grad():
        ours = net(x)
    for a, b in zip(ours, maps, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    edge = 1 / (1 + np.exp(-np.clip(np.mean(expected, axis=0), -60, 60)))
    want = np.clip(edge * 255 + 0.5, 0, 255).astype(np.int32)
    assert np.abs(pixels(out)[..., 0] - want).max() <= 2
    assert np.array_equal(pixels(out)[..., 0], pixels(out)[..., 2])  # grey


def test_hed_safe_has_three_levels_and_differs_from_plain(tmp_path: Path) -> None:
    am.save_safetensors(
        am.randomise(am.ReferenceHED(), seed=2, scale=0.02).state_dict(),
        tmp_path / COMFY / "ControlNetHED.safetensors",
    )
    comfy_root = tmp_path / "custom_nodes" / "comfyui_controlnet_aux" / "ckpts"
    image = picture()
    safe = run_preprocessor(image, "softedge_hedsafe", {"resolution": 128}, roots=[comfy_root])
    plain = run_preprocessor(image, "hed", {"resolution": 128}, roots=[comfy_root])
    assert len(np.unique(pixels(safe))) <= 3
    assert len(np.unique(pixels(plain))) > 3


# -- line art ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, file", [("lineart", "sk_model.pth"), ("lineart_coarse", "sk_model2.pth")]
)
def test_lineart_is_the_inverted_generator_output(tmp_path: Path, name: str, file: str) -> None:
    ref = am.randomise(am.ReferenceLineart(), seed=3, scale=0.1)
    am.save_safetensors(ref.state_dict(), tmp_path / "lineart" / (Path(file).stem + ".safetensors"))
    image = picture()
    out = run_preprocessor(image, name, {"resolution": 128}, roots=[tmp_path])
    x = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1).copy())[None] / 255
    with torch.no_grad():
        line = ref(x)[0, 0].numpy()
    want = 255 - (line * 255).clip(0, 255).astype(np.int32)  # A1111: 255 - the drawing
    assert np.abs(pixels(out)[..., 1] - want).max() <= 1
    assert out.size == image.size


def test_anime_lineart_unet_of_the_real_depth(tmp_path: Path) -> None:
    """netG.pth's U-Net (8 levels, here 4 filters wide instead of 64) with `module.` prefixes
    as in the published file; 256 × 256 needs no resize."""
    ref = am.randomise(am.ReferenceAnimeUnet(num_downs=8, ngf=4), seed=4, scale=0.2)
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}
    am.save_pth(state, tmp_path / "lineart_anime" / "netG.pth")
    image = picture(256, 256)
    out = run_preprocessor(image, "lineart_anime", {"resolution": 256}, roots=[tmp_path])
    x = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        line = ref(x / 127.5 - 1.0)[0, 0].numpy() * 127.5 + 127.5
    want = 255 - line.clip(0, 255).astype(np.int32)
    assert np.abs(pixels(out)[..., 0] - want).max() <= 1
    assert out.size == (256, 256)


# -- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_depth_anything_original_file_equals_transformers_model(
    tmp_path: Path, suffix: str
) -> None:
    model = am.tiny_depth_anything(seed=5)
    state = am.depth_anything_original_state(model)
    path = tmp_path / "depth_anything" / f"depth_anything_vits14{suffix}"
    (am.save_pth if suffix == ".pth" else am.save_safetensors)(state, path)
    net = annotator(find_preprocessor("depth_anything"), [tmp_path])
    x = torch.randn(1, 3, 56, 70, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(pixel_values=x).predicted_depth
        got = net(pixel_values=x).predicted_depth
    assert torch.allclose(got, want, atol=1e-5)
    out = run_preprocessor(picture(100, 80), "depth_anything", {"resolution": 56}, roots=[tmp_path])
    assert out.size == (100, 80)
    assert pixels(out).min() == 0 and pixels(out).max() == 255  # scaled to the full range


def test_depth_from_a_transformers_dpt_folder(tmp_path: Path) -> None:
    from transformers import DPTConfig, DPTForDepthEstimation

    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=64,
        patch_size=16,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        head_in_index=-1,
    )
    torch.manual_seed(0)
    model = am.randomise(DPTForDepthEstimation(config), seed=6, scale=0.1)
    folder = tmp_path / "Intel" / "dpt-large"
    model.save_pretrained(folder, safe_serialization=True)
    out = run_preprocessor(picture(96, 64), "depth_midas", {"resolution": 64}, roots=[tmp_path])
    assert out.size == (96, 64)
    assert pixels(out).max() == 255 and pixels(out).min() == 0
    normal = run_preprocessor(picture(96, 64), "normal_midas", {"resolution": 64}, roots=[tmp_path])
    assert normal.size == (96, 64) and len(np.unique(pixels(normal)[..., 2])) > 1
    net = annotator(find_preprocessor("depth_midas"), [tmp_path])
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(
            net(pixel_values=x).predicted_depth, model(pixel_values=x).predicted_depth, atol=1e-5
        )


# -- finding files, bad files ---------------------------------------------------------------


def test_missing_file_names_it_and_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(AnnotatorMissingError) as caught:
        run_preprocessor(picture(), "lineart_anime", roots=[tmp_path])
    text = str(caught.value) + " " + caught.value.hint
    assert "netG.pth" in text
    assert "extensions/sd-webui-controlnet/annotator/downloads/lineart_anime" in text
    assert "comfyui_controlnet_aux/ckpts/lllyasviel/Annotators" in text


def test_user_folder_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    am.save_safetensors(
        am.randomise(am.ReferenceLineart(blocks=1)).state_dict(),
        tmp_path / "mine" / "sk_model.safetensors",
    )
    monkeypatch.setenv("SNEAKERSTUDIO_ANNOTATORS", str(tmp_path / "mine"))
    out = run_preprocessor(picture(64, 64), "lineart", {"resolution": 64}, near=[])
    assert out.size == (64, 64)


def test_pickle_with_a_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "sentinel"
    path = tmp_path / "hed" / "ControlNetHED.pth"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"norm": torch.zeros(1, 3, 1, 1), "x": am.Payload(marker)}))
    with pytest.raises(UnsafeFileError):
        run_preprocessor(picture(), "softedge_hed", roots=[tmp_path])
    assert not marker.exists()


def test_truncated_and_wrong_files_are_refused_by_name(tmp_path: Path) -> None:
    path = am.save_safetensors(
        am.randomise(am.ReferenceLineart(blocks=1)).state_dict(),
        tmp_path / "lineart" / "sk_model.safetensors",
    )
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="sk_model"):
        run_preprocessor(picture(), "lineart", roots=[tmp_path])
    # a line-art file where the HED file should be
    hed = tmp_path / "hed" / "ControlNetHED.safetensors"
    am.save_safetensors(am.randomise(am.ReferenceLineart(blocks=1)).state_dict(), hed)
    with pytest.raises(ModelFileError, match="not a HED soft edge annotator file"):
        run_preprocessor(picture(), "softedge_hed", roots=[tmp_path])


def test_a_loaded_annotator_is_kept(tmp_path: Path) -> None:
    am.save_safetensors(
        am.randomise(am.ReferenceLineart(blocks=1)).state_dict(),
        tmp_path / "lineart" / "sk_model.safetensors",
    )
    pre = find_preprocessor("lineart")
    assert annotator(pre, [tmp_path]) is annotator(pre, [tmp_path])


# -- the command line ----------------------------------------------------------------------


def test_cli_preprocess_with_an_annotator_folder(tmp_path: Path, capsys) -> None:
    from sneakerstudio.cli import EXIT_FAILED, main

    picture(96, 64).save(tmp_path / "photo.png")
    out = tmp_path / "map.png"
    args = ["preprocess", "--pre", "lineart:resolution=64", str(tmp_path / "photo.png")]
    args += ["--out", str(out), "--annotators", str(tmp_path / "ann")]
    (tmp_path / "ann").mkdir()
    assert main(args) == EXIT_FAILED
    assert "sk_model.pth" in capsys.readouterr().err
    am.save_safetensors(
        am.randomise(am.ReferenceLineart(blocks=1)).state_dict(),
        tmp_path / "ann" / "sk_model.safetensors",
    )
    assert main(args) == 0
    assert Image.open(out).size == (96, 64)


# -- M-LSD -------------------------------------------------------------------------------------


def test_mlsd_network_matches_the_reference(tmp_path: Path) -> None:
    ref = am.randomise(an.ReferenceMLSD(), seed=7, scale=0.1)
    am.save_pth(ref.state_dict(), tmp_path / "mlsd" / "mlsd_large_512_fp32.pth")
    net = annotator(find_preprocessor("mlsd"), [tmp_path])
    x = torch.randn(1, 4, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-4)
    out = run_preprocessor(picture(96, 64), "mlsd", {"resolution": 64}, roots=[tmp_path])
    assert out.size == (96, 64) and out.mode == "RGB"


def test_mlsd_draws_the_segment_the_network_points_at() -> None:
    """A network whose map has one line centre at (x 10, y 6) of a 32 × 32 map, with ends 5
    pixels left and right of it: one horizontal line from x 10 to 30 at y 12 (map × 2)."""
    from sneakerstudio.core.annotators import mlsd

    class OneLine(torch.nn.Module):
        def forward(self, x):
            out = torch.full((1, 9, 32, 32), -20.0)
            out[0, 0, 6, 10] = 5.0  # the centre
            out[0, 1:5, 6, 10] = torch.tensor([-5.0, 0.0, 5.0, 0.0])
            return out

    found = mlsd.segments(OneLine(), Image.new("RGB", (64, 64)), 0.1, 0.1)
    assert found.tolist() == [[10.0, 12.0, 30.0, 12.0]]
    drawn = pixels(mlsd.run(OneLine(), Image.new("RGB", (64, 64)), 64, 0.1, 0.1))[..., 0]
    assert drawn[12, 10:31].min() == 255 and drawn[:10].max() == 0 and drawn[14:].max() == 0
    assert mlsd.segments(OneLine(), Image.new("RGB", (64, 64)), 0.1, 20.0).size == 0  # too short


def test_normal_map_follows_the_depth_slope() -> None:
    """A depth that rises to the right (nearer on the right): the foreground's normals lean
    right (red above mid-grey), the far quarter on the left faces the viewer (flat blue)."""
    from types import SimpleNamespace

    from sneakerstudio.core.annotators import depth

    class Ramp:
        sneaker_input = (32, (0.5,) * 3, (0.5,) * 3, True)

        def __call__(self, pixel_values):
            h, w = pixel_values.shape[-2:]
            ramp = torch.linspace(0, 1, w).repeat(h, 1)[None]
            return SimpleNamespace(predicted_depth=ramp * 10)

    out = pixels(depth.run_normal(Ramp(), picture(64, 64), 64, 0.25))
    assert out.shape == (64, 64, 3)
    right, left = out[:, 40:60], out[:, 2:12]
    assert right[..., 0].min() > 140 and abs(int(np.median(right[..., 1])) - 128) <= 2
    assert np.abs(left[..., 0] - 128).max() <= 1 and left[..., 2].min() >= 254


# -- OpenPose ----------------------------------------------------------------------------------


def test_openpose_network_matches_the_published_one(tmp_path: Path) -> None:
    ref = am.randomise(an.ReferenceBodyPose(), seed=8, scale=0.02)
    am.save_safetensors(
        ref.published_state(), tmp_path / "openpose" / "body_pose_model.safetensors"
    )
    net = annotator(find_preprocessor("openpose"), [tmp_path])
    x = torch.randn(1, 3, 32, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for a, b in zip(net(x), ref(x), strict=True):
            assert torch.allclose(a, b, atol=1e-5)
    out = run_preprocessor(picture(64, 64), "openpose", {"resolution": 64}, roots=[tmp_path])
    assert out.size == (64, 64) and out.mode == "RGB"


def stick_figure_maps(size: int = 128) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[int, int]]]:
    """Heat maps with one bump per keypoint and affinity fields along each limb of one person."""
    from sneakerstudio.core.annotators import openpose

    # 0-based keypoints: nose, neck, shoulders, elbows, wrists, hips, knees, ankles, eyes, ears
    points = {
        0: (64, 20), 1: (64, 36), 2: (48, 36), 3: (40, 56), 4: (36, 76), 5: (80, 36), 6: (88, 56),
        7: (92, 76), 8: (54, 76), 9: (54, 98), 10: (54, 120), 11: (74, 76), 12: (74, 98),
        13: (74, 120), 14: (60, 16), 15: (68, 16), 16: (56, 18), 17: (72, 18),
    }  # fmt: skip
    yy, xx = np.mgrid[0:size, 0:size]
    heat = np.zeros((size, size, 19))
    for k, (x, y) in points.items():
        heat[:, :, k] = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))
    paf = np.zeros((size, size, 38))
    for (a, b), (cx, cy) in zip(openpose.LIMBS, openpose.PAF_CHANNELS, strict=True):
        (xa, ya), (xb, yb) = points[a - 1], points[b - 1]
        v = np.array([xb - xa, yb - ya], float)
        length = np.hypot(*v)
        v /= length
        t = ((xx - xa) * v[0] + (yy - ya) * v[1]) / length
        d = np.abs((xx - xa) * v[1] - (yy - ya) * v[0])
        on = (t >= -0.05) & (t <= 1.05) & (d <= 2)
        paf[:, :, cx - 19][on] = v[0]
        paf[:, :, cy - 19][on] = v[1]
    return heat, paf, points


def test_openpose_finds_one_person_and_draws_the_sticks() -> None:
    from sneakerstudio.core.annotators import openpose

    heat, paf, points = stick_figure_maps()
    candidates, people = openpose.find_people(heat, paf)
    assert people.shape == (1, 20) and people[0, -1] == 18
    for k, (x, y) in points.items():
        found = candidates[int(people[0, k]), :2]
        assert abs(found[0] - x) <= 1 and abs(found[1] - y) <= 1, k
    picture_ = pixels(openpose.draw((128, 128), candidates, people))
    neck_to_hip = picture_[56, 59]  # on the neck → right hip stick (limb 7: (0, 255, 0) × 0.6)
    assert tuple(neck_to_hip) == (0, 153, 0)
    assert tuple(picture_[36, 64]) == openpose.COLOURS[1]  # the neck's dot, full strength
    assert picture_[2, 2].max() == 0  # black elsewhere
    # Nothing above the thresholds: nobody.
    assert openpose.find_people(heat * 0.05, paf)[1].shape == (0, 20)


# -- segmentation ----------------------------------------------------------------------------


def test_segmentation_paints_ade20k_classes(tmp_path: Path) -> None:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    from sneakerstudio.core.annotators.seg import ADE20K_PALETTE

    config = SegformerConfig(
        num_labels=150, hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
        depths=[1, 1, 1, 1], decoder_hidden_size=16, sr_ratios=[4, 2, 1, 1],
    )  # fmt: skip
    torch.manual_seed(0)
    model = am.randomise(SegformerForSemanticSegmentation(config), seed=9, scale=0.3)
    model.save_pretrained(tmp_path / "nvidia" / "segformer-b0-finetuned-ade-512-512")
    out = run_preprocessor(picture(96, 64), "seg_ofade20k", {"resolution": 64}, roots=[tmp_path])
    assert out.size == (96, 64)
    colours = {tuple(c) for c in pixels(out).reshape(-1, 3)}
    assert len(colours) > 1 and colours <= {tuple(int(v) for v in c) for c in ADE20K_PALETTE}
    # a 19-class (Cityscapes) model is refused by name
    config.num_labels = 19
    config.id2label = {i: str(i) for i in range(19)}
    config.label2id = {str(i): i for i in range(19)}
    other = tmp_path / "other"
    SegformerForSemanticSegmentation(config).save_pretrained(other / "upernet-convnext-small")
    with pytest.raises(ModelFileError, match="not an ADE20K segmentation model"):
        run_preprocessor(picture(), "seg_ade20k", roots=[other])


# -- every annotator is wired; sizes stay sane -------------------------------------------------


def test_every_annotator_preprocessor_can_run() -> None:
    from sneakerstudio.core.annotators import run as runs
    from sneakerstudio.core.protocol.preprocessors import ANNOTATORS

    for pre in ANNOTATORS:
        assert pre.files is not None and pre.name in runs._RUNNERS, pre.name
        assert pre.files.folder or pre.name in runs._BUILDERS, pre.name
        assert find_preprocessor(pre.a1111) is pre  # A1111's module name finds it


def test_detect_size_keeps_a_strip_bounded() -> None:
    from sneakerstudio.core.annotators.common import MAX_DETECT_SIDE, detect_size

    assert detect_size(768, 512, 512) == (768, 512)
    assert detect_size(640, 480, 512, 14) == (686, 518)  # Depth Anything's 518
    w, h = detect_size(16, 4000, 512)
    assert h <= MAX_DETECT_SIDE and w >= 64


# -- PiDiNet -----------------------------------------------------------------------------------


def test_pidinet_plain_kernels_equal_the_pixel_difference_network(tmp_path: Path) -> None:
    """The published file's layout (`state_dict` inside, `module.` prefixes) of the real
    network; our plain-kernel network gives the training-form network's edges."""
    ref = am.randomise(an.ReferencePiDiNet(), seed=10, scale=0.2)
    path = tmp_path / "pidinet" / "table5_pidinet.pth"
    path.parent.mkdir()
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, path)
    net = annotator(find_preprocessor("softedge_pidinet"), [tmp_path])
    x = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)
    image = picture(128, 128)
    out = run_preprocessor(image, "softedge_pidinet", {"resolution": 128}, roots=[tmp_path])
    bgr = torch.from_numpy(np.asarray(image, np.float32)[:, :, ::-1].transpose(2, 0, 1).copy())
    with torch.no_grad():
        want = ref(bgr[None] / 255)[0, 0].numpy()
    assert np.abs(pixels(out)[..., 0] - np.clip(want * 255 + 0.5, 0, 255).astype(int)).max() <= 1
    safe = run_preprocessor(image, "softedge_pidisafe", {"resolution": 128}, roots=[tmp_path])
    assert len(np.unique(pixels(safe))) <= 3


def test_odd_images_give_a_map_of_their_size(tmp_path: Path) -> None:
    """A 16-pixel square, a 4000 × 16 strip, transparent RGBA, 16-bit grey and CMYK."""
    am.save_safetensors(
        am.randomise(am.ReferenceLineart(blocks=1)).state_dict(),
        tmp_path / "lineart" / "sk_model.safetensors",
    )
    am.save_safetensors(
        am.depth_anything_original_state(am.tiny_depth_anything()),
        tmp_path / "depth_anything" / "depth_anything_vits14.safetensors",
    )
    images = [
        Image.new("RGB", (16, 16), "white"),
        Image.new("RGB", (4000, 16), "grey"),
        Image.new("RGBA", (100, 70), (255, 0, 0, 0)),
        Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)),
        Image.new("CMYK", (80, 60), (0, 100, 0, 0)),
    ]
    for name in ("lineart", "depth_anything"):
        for image in images:
            out = run_preprocessor(image, name, {"resolution": 64}, roots=[tmp_path])
            assert out.size == image.size and out.mode == "RGB", (name, image.mode)
