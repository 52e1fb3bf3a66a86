"""The control types of a "union" ControlNet (xinsir's controlnet-union-sdxl and its ProMax
version): one model, told per unit which kind of control map it gets. The order is the
model's own (its task embedding rows): openpose, depth, soft edge (HED / PiDiNet / scribble),
hard edge (canny / line art / MLSD), normal, segmentation, then ProMax's tile and inpaint.

A unit names its type (`ControlUnit.control_type`), or it follows from the preprocessor."""

from __future__ import annotations

UNION_TYPES = ("openpose", "depth", "softedge", "canny", "normal", "segment", "tile", "inpaint")
UNION_TYPE_LABELS = {
    "openpose": "Pose (OpenPose)",
    "depth": "Depth",
    "softedge": "Soft edge / scribble (HED, PiDiNet)",
    "canny": "Hard edge (canny, line art, MLSD)",
    "normal": "Normal map",
    "segment": "Segmentation",
    "tile": "Tile / blur",
    "inpaint": "Inpaint (ProMax)",
}
# A1111's words for them in the infotext ("Union Control Type: Canny").
UNION_TYPE_INFOTEXT = {
    "openpose": "OpenPose",
    "depth": "Depth",
    "softedge": "Soft Edge",
    "canny": "Canny",
    "normal": "Normal Map",
    "segment": "Segmentation",
    "tile": "Tile",
    "inpaint": "Inpaint",
}
# Other spellings (A1111's control types, model names) of the same types.
_ALIASES = {
    "pose": "openpose",
    "scribble": "softedge",
    "hed": "softedge",
    "pidinet": "softedge",
    "sketch": "softedge",
    "soft_edge": "softedge",
    "normal_map": "normal",
    "lineart": "canny",
    "lineart_anime": "canny",
    "mlsd": "canny",
    "edge": "canny",
    "seg": "segment",
    "segmentation": "segment",
    "blur": "tile",
    "repaint": "inpaint",
}
# The type a preprocessor's map is, when the unit does not say.
_BY_PREPROCESSOR = {
    "canny": "canny",
    "invert": "canny",
    "threshold": "canny",
    "lineart": "canny",
    "lineart_coarse": "canny",
    "lineart_anime": "canny",
    "mlsd": "canny",
    "scribble": "softedge",
    "softedge_hed": "softedge",
    "softedge_hedsafe": "softedge",
    "softedge_pidinet": "softedge",
    "softedge_pidisafe": "softedge",
    "openpose": "openpose",
    "depth_anything": "depth",
    "depth_midas": "depth",
    "normal_midas": "normal",
    "seg_ade20k": "segment",
    "tile": "tile",
    "blur": "tile",
}


def find_union_type(name: str) -> str | None:
    """Our name of a union control type (any spelling above, any case), or None."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower().replace(" ", "_")
    if key in UNION_TYPES:
        return key
    return _ALIASES.get(key)


def union_type_for(control_type: str, preprocessor: str) -> str | None:
    """The union type of a unit: the one it names, else its preprocessor's; None if neither
    says (e.g. preprocessor "none" and no type)."""
    if control_type:
        return find_union_type(control_type)
    return _BY_PREPROCESSOR.get(preprocessor.strip().lower() if preprocessor else "")
