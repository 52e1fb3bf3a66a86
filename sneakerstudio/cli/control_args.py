"""ControlNet options of `sneakerstudio generate`: one group per unit.

    --control MODEL[:WEIGHT[:START:END]]  starts a unit (repeatable)
    --control-image PATH                  its control image (default: the --init-image)
    --control-pre NAME[:KEY=VALUE...]      its preprocessor (default none), e.g. canny:low=50
    --control-mode balanced|prompt|control
    --control-resize crop|just|fill
    --control-type canny|depth|…          for a union ControlNet: what the map shows

Each `--control-*` option belongs to the `--control` before it, so
`--control a --control-pre canny --control b --control-pre scribble` makes two units.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_KEYS = {
    "--control-image": "image",
    "--control-pre": "preprocessor",
    "--control-mode": "control_mode",
    "--control-resize": "resize_mode",
    "--control-type": "control_type",
}


class _UnitAction(argparse.Action):
    """`--control` opens a unit; the other options set a field of the last one opened."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        units: list[dict[str, Any]] = list(getattr(namespace, "control_units", None) or [])
        if option_string == "--control":
            units.append({"spec": values})
        else:
            if not units:
                parser.error(f"{option_string} must come after the --control MODEL it belongs to")
            key = _KEYS[str(option_string)]
            if key in units[-1]:
                parser.error(
                    f"{option_string} given twice for one unit: start another unit with --control"
                )
            units[-1][key] = values
        namespace.control_units = units


def add_control_arguments(gen: argparse.ArgumentParser) -> None:
    from sneakerstudio.core.protocol.control import (
        CONTROL_MODES,
        RESIZE_MODES,
        preprocessor_names,
    )
    from sneakerstudio.core.protocol.union_types import UNION_TYPES

    group = gen.add_argument_group("ControlNet (repeat --control for more units)")
    gen.set_defaults(control_units=[])
    group.add_argument(
        "--control",
        action=_UnitAction,
        metavar="MODEL[:WEIGHT[:START:END]]",
        help="a ControlNet file, folder or library name; weight (default 1) and the fraction "
        "of the steps it acts on (default 0:1)",
    )
    group.add_argument(
        "--control-image",
        action=_UnitAction,
        metavar="PATH",
        help="the unit's control image (default: --init-image)",
    )
    group.add_argument(
        "--control-pre",
        action=_UnitAction,
        metavar="NAME[:KEY=VALUE...]",
        help=f"preprocessor: {', '.join(preprocessor_names())} (default none), options e.g. "
        "canny:low=50:high=150, scribble:thickness=5",
    )
    group.add_argument(
        "--control-mode",
        action=_UnitAction,
        choices=CONTROL_MODES,
        help="balanced (default), prompt (my prompt is more important) or control (ControlNet "
        "is more important)",
    )
    group.add_argument(
        "--control-resize",
        action=_UnitAction,
        choices=RESIZE_MODES,
        help="crop = crop and resize (default), just = stretch, fill = resize and fill",
    )
    group.add_argument(
        "--control-type",
        action=_UnitAction,
        choices=UNION_TYPES,
        help="for a union / ProMax ControlNet: what the map shows (default: from the preprocessor)",
    )


def parse_control_spec(spec: str) -> tuple[str, float, float, float]:
    """`MODEL[:WEIGHT[:START:END]]` → (model, weight, start, end). Raises `RequestError`."""
    from sneakerstudio.core.protocol.errors import RequestError

    if Path(spec).expanduser().exists():
        return spec, 1.0, 0.0, 1.0
    parts = spec.split(":")
    numbers: list[float] = []
    while len(parts) > 1 and len(numbers) < 3:
        try:
            numbers.insert(0, float(parts[-1]))
        except ValueError:
            break
        parts.pop()
    model = ":".join(parts)
    if len(numbers) == 1:
        return model, numbers[0], 0.0, 1.0
    if len(numbers) == 3:
        return model, numbers[0], numbers[1], numbers[2]
    if len(numbers) == 2:
        raise RequestError(
            [f"'--control {spec}': give WEIGHT, or WEIGHT:START:END (e.g. model:0.8:0:0.6)."]
        )
    return spec, 1.0, 0.0, 1.0


def parse_pre_spec(spec: str) -> tuple[str, tuple[tuple[str, float], ...]]:
    """`canny:low=50:high=150` (or with commas) → ("canny", (("low", 50.0), ("high", 150.0)))."""
    from sneakerstudio.core.protocol.errors import RequestError

    name, *rest = spec.replace(",", ":").split(":")
    options = []
    for item in rest:
        key, sep, value = item.partition("=")
        try:
            options.append((key.strip(), float(value)))
        except ValueError:
            sep = ""
        if not sep:
            raise RequestError(
                [f"Preprocessor option '{item}' in '--control-pre {spec}' is not KEY=NUMBER."]
            ) from None
    return name.strip(), tuple(options)


def control_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request's `control` field from the command line; images are read here. Raises
    `RequestError` or `ImageFileError`."""
    from sneakerstudio.core.imaging.imageops import load_image
    from sneakerstudio.core.protocol.control import ControlUnit

    units = []
    for group in getattr(args, "control_units", None) or []:
        model, weight, start, end = parse_control_spec(group["spec"])
        pre, options = parse_pre_spec(group.get("preprocessor", "none"))
        image = load_image(group["image"], "RGBA") if group.get("image") else None
        units.append(
            ControlUnit(
                model=_library_controlnet(model),
                image=image,
                preprocessor=pre,
                options=options,
                weight=weight,
                start=start,
                end=end,
                control_mode=group.get("control_mode", "balanced"),
                resize_mode=group.get("resize_mode", "crop"),
                control_type=group.get("control_type", ""),
            )
        )
    return {"control": tuple(units)} if units else {}


def _library_controlnet(name: str) -> Path | str:
    """A path as it is; a name from the model library's ControlNets, else the name itself
    (the engine looks in the ControlNet folders beside the model)."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    from sneakerstudio.core.models.library import LibraryError, ModelNotFoundError, resolve
    from sneakerstudio.core.protocol.errors import RequestError

    try:
        return resolve(name, "controlnet")
    except ModelNotFoundError:
        return name
    except LibraryError as exc:  # e.g. a name that matches several ControlNets
        raise RequestError([str(exc)]) from None
