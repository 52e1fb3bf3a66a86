"""The ControlNet preprocessors as pure data: names, labels, options, and for those that run a
small network (an "annotator": soft edges, line art, depth) the weight files they read.

The window builds its preprocessor list and the CLI its `--control-pre` help from here without
importing numpy or torch. The weight-free ones run in `core/imaging/preprocess.py`, the
annotators in `core/annotators/`. Annotator files are never downloaded: they are read where the
user has them — A1111's `extensions/sd-webui-controlnet/annotator/downloads/<folder>/`,
ComfyUI's `custom_nodes/comfyui_controlnet_aux/ckpts/<repo>/`, or a folder of their own —
and `AnnotatorFiles.where` says in words where to put a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PreprocessorOption:
    """One number a preprocessor takes (a slider in the window, `--control-pre NAME:K=V`)."""

    name: str
    label: str
    default: float
    minimum: float
    maximum: float
    integer: bool = False


@dataclass(frozen=True)
class AnnotatorFiles:
    """Where an annotator's weights are found. `names`: the file names (any one will do, the
    first is the usual one; a `.safetensors` of the same stem counts too), or the folder names
    of a transformers model when `folder` is set. `a1111`: the sub-folder of A1111's annotator
    `downloads`; `comfy`: the sub-folders of comfyui_controlnet_aux's `ckpts`."""

    names: tuple[str, ...]
    a1111: str
    comfy: tuple[str, ...]
    folder: bool = False  # a transformers model folder (config.json + model.safetensors)

    def where(self) -> str:
        """Where to put the file, in words, for an error message."""
        what = f"the folder '{self.names[0]}'" if self.folder else f"'{self.names[0]}'"
        comfy = self.comfy[0] if self.comfy else ""
        return (
            f"Put {what} in A1111's extensions/sd-webui-controlnet/annotator/downloads/"
            f"{self.a1111}/, in ComfyUI's custom_nodes/comfyui_controlnet_aux/ckpts/{comfy}/, "
            "in the 'annotators' folder of Sneaker Studio's data folder, or in a folder named "
            "by the SNEAKERSTUDIO_ANNOTATORS environment variable."
        )


@dataclass(frozen=True)
class Preprocessor:
    """A preprocessor. `a1111` is the module name A1111 writes in the infotext ("Module:
    canny"); `files` is set for the ones that run a network with downloaded weights."""

    name: str
    label: str
    a1111: str
    options: tuple[PreprocessorOption, ...] = ()
    files: AnnotatorFiles | None = None

    def defaults(self) -> dict[str, float]:
        return {o.name: o.default for o in self.options}

    @property
    def needs_weights(self) -> bool:
        return self.files is not None


_ANNOTATORS = "lllyasviel/Annotators"
_RESOLUTION = PreprocessorOption("resolution", "Detect resolution", 512, 64, 2048, True)

HED_FILES = AnnotatorFiles(("ControlNetHED.pth",), "hed", (_ANNOTATORS,))
PIDINET_FILES = AnnotatorFiles(("table5_pidinet.pth",), "pidinet", (_ANNOTATORS,))
LINEART_FILES = AnnotatorFiles(("sk_model.pth",), "lineart", (_ANNOTATORS,))
LINEART_COARSE_FILES = AnnotatorFiles(("sk_model2.pth",), "lineart", (_ANNOTATORS,))
LINEART_ANIME_FILES = AnnotatorFiles(("netG.pth",), "lineart_anime", (_ANNOTATORS,))
OPENPOSE_FILES = AnnotatorFiles(("body_pose_model.pth",), "openpose", (_ANNOTATORS,))
MLSD_FILES = AnnotatorFiles(("mlsd_large_512_fp32.pth",), "mlsd", (_ANNOTATORS,))
DEPTH_ANYTHING_FILES = AnnotatorFiles(
    (
        "depth_anything_vitl14.pth",
        "depth_anything_vitb14.pth",
        "depth_anything_vits14.pth",
        "depth_anything_v2_vitl.pth",
        "depth_anything_v2_vitb.pth",
        "depth_anything_v2_vits.pth",
    ),
    "depth_anything",
    (
        "LiheYoung/Depth-Anything/checkpoints",
        "depth-anything/Depth-Anything-V2-Large",
        "depth-anything/Depth-Anything-V2-Base",
        "depth-anything/Depth-Anything-V2-Small",
    ),
)
# transformers' layout of a depth model (DPT / MiDaS 3, or Depth Anything): a folder.
DEPTH_FOLDER_FILES = AnnotatorFiles(
    (
        "dpt-hybrid-midas",
        "dpt-large",
        "depth-anything-small-hf",
        "Depth-Anything-V2-Small-hf",
        "Depth-Anything-V2-Base-hf",
        "Depth-Anything-V2-Large-hf",
    ),
    "midas",
    ("Intel", "depth-anything"),
    folder=True,
)

# A transformers ADE20K segmentation model: a folder.
SEG_FOLDER_FILES = AnnotatorFiles(
    (
        "segformer-b0-finetuned-ade-512-512",
        "segformer-b5-finetuned-ade-640-640",
        "upernet-convnext-small",
        "upernet-convnext-base",
    ),
    "segmentation",
    ("nvidia", "openmmlab"),
    folder=True,
)

WEIGHT_FREE: tuple[Preprocessor, ...] = (
    Preprocessor("none", "None (the image is the control map)", "none"),
    Preprocessor(
        "canny",
        "Canny edges",
        "canny",
        (
            PreprocessorOption("low", "Low threshold", 100, 1, 255, True),
            PreprocessorOption("high", "High threshold", 200, 1, 255, True),
        ),
    ),
    Preprocessor(
        "scribble",
        "Scribble (strokes → white lines on black)",
        "scribble_xdog",
        (PreprocessorOption("thickness", "Line thickness", 3, 1, 32, True),),
    ),
    Preprocessor(
        "threshold",
        "Threshold (black and white)",
        "threshold",
        (PreprocessorOption("level", "Threshold", 127, 0, 255, True),),
    ),
    Preprocessor("invert", "Invert (black lines on white → white on black)", "invert"),
    Preprocessor(
        "blur",
        "Blur",
        "blur_gaussian",
        (PreprocessorOption("sigma", "Sigma", 9.0, 0.1, 64.0),),
    ),
    Preprocessor(
        "tile",
        "Tile (down-sample)",
        "tile_resample",
        (PreprocessorOption("down", "Down-sampling rate", 1.0, 1.0, 8.0),),
    ),
    Preprocessor(
        "palette",
        "Colour palette",
        "color",
        (PreprocessorOption("cell", "Cell size", 64, 4, 256, True),),
    ),
    Preprocessor(
        "shuffle",
        "Shuffle",
        "shuffle",
        (PreprocessorOption("seed", "Seed", 0, 0, 2**31 - 1, True),),
    ),
)

ANNOTATORS: tuple[Preprocessor, ...] = (
    Preprocessor(
        "softedge_hed", "Soft edge (HED)", "softedge_hed", (_RESOLUTION,), files=HED_FILES
    ),
    Preprocessor(
        "softedge_hedsafe",
        "Soft edge (HED safe)",
        "softedge_hedsafe",
        (_RESOLUTION,),
        files=HED_FILES,
    ),
    Preprocessor(
        "softedge_pidinet",
        "Soft edge (PiDiNet)",
        "softedge_pidinet",
        (_RESOLUTION,),
        files=PIDINET_FILES,
    ),
    Preprocessor(
        "softedge_pidisafe",
        "Soft edge (PiDiNet safe)",
        "softedge_pidisafe",
        (_RESOLUTION,),
        files=PIDINET_FILES,
    ),
    Preprocessor(
        "lineart",
        "Line art (realistic)",
        "lineart_realistic",
        (_RESOLUTION,),
        files=LINEART_FILES,
    ),
    Preprocessor(
        "lineart_coarse",
        "Line art (coarse)",
        "lineart_coarse",
        (_RESOLUTION,),
        files=LINEART_COARSE_FILES,
    ),
    Preprocessor(
        "lineart_anime",
        "Line art (anime)",
        "lineart_anime",
        (_RESOLUTION,),
        files=LINEART_ANIME_FILES,
    ),
    Preprocessor(
        "openpose",
        "Pose (OpenPose body)",
        "openpose",
        (_RESOLUTION,),
        files=OPENPOSE_FILES,
    ),
    Preprocessor(
        "mlsd",
        "Straight lines (M-LSD)",
        "mlsd",
        (
            _RESOLUTION,
            PreprocessorOption("score", "Value threshold", 0.1, 0.01, 2.0),
            PreprocessorOption("distance", "Distance threshold", 0.1, 0.01, 20.0),
        ),
        files=MLSD_FILES,
    ),
    Preprocessor(
        "depth_anything",
        "Depth (Depth Anything)",
        "depth_anything",
        (_RESOLUTION,),
        files=DEPTH_ANYTHING_FILES,
    ),
    Preprocessor(
        "depth_midas",
        "Depth (MiDaS / DPT, transformers folder)",
        "depth_midas",
        (_RESOLUTION,),
        files=DEPTH_FOLDER_FILES,
    ),
    Preprocessor(
        "seg_ade20k",
        "Segmentation (ADE20K, transformers folder)",
        "seg_ofade20k",
        (_RESOLUTION,),
        files=SEG_FOLDER_FILES,
    ),
    Preprocessor(
        "normal_midas",
        "Normal map (from MiDaS / DPT depth)",
        "normal_midas",
        (_RESOLUTION, PreprocessorOption("background", "Background threshold", 0.4, 0.0, 1.0)),
        files=DEPTH_FOLDER_FILES,
    ),
)

PREPROCESSORS: tuple[Preprocessor, ...] = WEIGHT_FREE + ANNOTATORS

# A1111 module names (and other spellings) that mean one of ours.
_ALIASES = {
    "scribble_hed": "scribble",
    "scribble_pidinet": "scribble",
    "color": "palette",
    "hed": "softedge_hed",
    "softedge": "softedge_hed",
    "pidinet": "softedge_pidinet",
    "lineart_realistic": "lineart",
    "lineart_anime_denoise": "lineart_anime",
    "depth": "depth_midas",
    "depth_anything_v2": "depth_anything",
    "midas": "depth_midas",
    "seg_ufade20k": "seg_ade20k",
    "segmentation": "seg_ade20k",
}


def find_preprocessor(name: str) -> Preprocessor | None:
    """The preprocessor called `name` (ours or A1111's module name, any case), or None."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    for pre in PREPROCESSORS:
        if key in (pre.name, pre.a1111):
            return pre
    if key in _ALIASES:
        return find_preprocessor(_ALIASES[key])
    return None


def preprocessor_names() -> list[str]:
    return [p.name for p in PREPROCESSORS]
