"""`sneakerstudio generate`: make images from a prompt and save them as PNGs with their
parameters."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, err
from sneakerstudio.cli.control_args import add_control_arguments, control_fields
from sneakerstudio.cli.model_file_args import add_model_file_arguments, model_file_fields
from sneakerstudio.cli.prepare import background_note
from sneakerstudio.cli.tiling_refiner_args import (
    add_tiling_refiner_arguments,
    tiling_refiner_fields,
)


def add_parser(sub: Any) -> argparse.ArgumentParser:

    gen = sub.add_parser("generate", help="make images from a prompt")
    add_generation_arguments(gen)
    gen.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return gen


def add_generation_arguments(gen: argparse.ArgumentParser) -> None:
    """The options that say what to generate and where it runs (generate's and grid's)."""
    from sneakerstudio.core.protocol.samplers import DEFAULT_SAMPLER, sampler_names

    gen.add_argument(
        "--model",
        required=True,
        help="checkpoint .safetensors file, diffusers folder, or a name from the model library",
    )
    gen.add_argument("--prompt", required=True, help="what to draw")
    gen.add_argument("--negative", default="", help="what to avoid (negative prompt)")
    gen.add_argument(
        "--steps",
        type=int,
        default=None,
        help="denoising steps (default: the model family's, e.g. 20 for SD 1.5, 1 for Turbo)",
    )
    gen.add_argument(
        "--cfg",
        type=float,
        default=None,
        help="guidance / CFG scale (default: the model family's, e.g. 7 for SD 1.5, 0 for Turbo)",
    )
    gen.add_argument(
        "--size",
        default=None,
        help="WIDTHxHEIGHT, multiples of 8 (default: the size the model was trained at)",
    )
    gen.add_argument("--seed", type=int, default=None, help="seed; a random one if left out")
    gen.add_argument(
        "--scheduler",
        "--sampler",
        dest="sampler",
        default=None,
        help=f"sampler by its AUTOMATIC1111 name or alias: {', '.join(sampler_names())} "
        f"(aliases such as euler_a, dpmpp_2m_karras; default: the model family's, usually "
        f"{DEFAULT_SAMPLER})",
    )
    gen.add_argument(
        "--schedule",
        default="Automatic",
        metavar="TYPE",
        help="schedule type by its A1111 name: Automatic (the sampler's usual, e.g. Karras for "
        "DPM++ 2M), Uniform, Karras, Exponential, Polyexponential, SGM Uniform, KL Optimal, "
        "Align Your Steps, Simple, Normal, DDIM, Beta",
    )
    gen.add_argument(
        "--ensd",
        type=int,
        default=0,
        help="eta noise seed delta (A1111's ENSD): offsets the seed of ancestral samplers' "
        "per-step noise (default 0)",
    )
    gen.add_argument("--batch-size", type=int, default=1, help="images per run (default 1)")
    add_mode_arguments(gen)
    add_model_file_arguments(gen)
    add_control_arguments(gen)
    add_tiling_refiner_arguments(gen)
    gen.add_argument(
        "--out", default=None, help="output folder (default: the app's outputs folder)"
    )
    gen.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    gen.add_argument(
        "--precision",
        default=None,
        choices=("fp32", "bf16", "fp16"),
        help="weights' precision (default: the device's best; fp16 is never used on a CPU)",
    )
    gen.add_argument(
        "--backend",
        default="local",
        metavar="local|ray|ADDRESS",
        help="where the jobs run: local (default, this process), ray (a Ray of its own on this "
        "machine, one worker per GPU), or a Ray cluster's HOST:PORT or ray://HOST:PORT "
        '(needs pip install "sneakerstudio[cluster]")',
    )


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.errors import SneakerError
    from sneakerstudio.core.protocol.events import Cancelled, Failed, Finished

    request = build_request(args)
    if isinstance(request, int):
        return request

    from sneakerstudio.core.files.paths import outputs_dir
    from sneakerstudio.core.imaging.outputs import check_output_folder
    from sneakerstudio.core.protocol.errors import SaveError
    from sneakerstudio.core.remote.ray_backend import backend_for

    out_dir = Path(args.out).expanduser() if args.out else outputs_dir()
    try:  # before the job: a folder that cannot take the images must not cost a generation
        check_output_folder(out_dir)
    except SaveError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    cancel = CancelToken()
    outcome: dict[str, Any] = {}
    progress = progress_printer()

    def emit(event: Any) -> None:
        progress(event)
        if isinstance(event, (Finished, Failed, Cancelled)):
            outcome["event"] = event

    backend = backend_for(args.backend, device=args.device, precision=args.precision)
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        description = backend.prepare()
        backend.generate(request, job_id="cli", emit=emit, cancel=cancel)
        if note := background_note(backend):
            err(note)
    except SneakerError as exc:  # the cluster cannot be reached, Ray is missing …
        err(f"error: {exc}")
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous)
        close = getattr(backend, "close", None)
        if close is not None:
            close()
    event = outcome.get("event")
    if isinstance(event, Cancelled):
        err(f"Cancelled after step {event.step}; nothing was saved.")
        return EXIT_CANCELLED
    if isinstance(event, Failed):
        err(f"error: {event.message}")
        return EXIT_USAGE if event.kind == "request" else EXIT_FAILED
    assert isinstance(event, Finished)
    paths = save_or_rescue(event, out_dir)
    if paths is None:
        return EXIT_FAILED
    if args.json:
        print(
            json.dumps(
                {
                    "images": [str(p) for p in paths],
                    "seed": event.seeds[0],
                    "seeds": list(event.seeds),
                    "model": str(request.model),
                    "size": "{}x{}".format(*event.images[0].size),
                    "device": description,
                    "timings": {k: round(v, 4) for k, v in event.timings.items()},
                    "parameters": list(event.parameters),
                },
                ensure_ascii=False,
            )
        )
    else:
        for path in paths:
            print(path)
        err(f"seed {event.seeds[0]} · {event.timings.get('total_s', 0.0):.1f} s")
    return EXIT_OK


def progress_printer() -> Any:
    """An `emit` that prints status lines and step progress on stderr (one updating line on a
    terminal)."""
    from sneakerstudio.core.protocol.events import Progress, Status

    interactive = sys.stderr.isatty()

    def emit(event: Any) -> None:
        if isinstance(event, Status):
            err(event.message)
        elif isinstance(event, Progress):
            line = (
                f"step {event.step}/{event.total}  {event.it_per_s:.2f} it/s  "
                f"ETA {event.eta_s:.0f}s"
            )
            if interactive:
                print(f"\r{line}", end="", file=sys.stderr, flush=True)
                if event.step == event.total:
                    print(file=sys.stderr)
            else:
                err(line)

    return emit


def build_request(args: argparse.Namespace) -> Any:
    """The validated `GenerationRequest` the options describe, or an exit code after telling
    the user what is wrong."""
    from sneakerstudio.core.models.library import LibraryError, resolve
    from sneakerstudio.core.protocol.errors import ImageFileError, RequestError
    from sneakerstudio.core.protocol.request import GenerationRequest, parse_size

    try:  # a path as it is, or a name from the model library
        model_path = resolve(args.model, "checkpoint")
    except LibraryError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    try:
        defaults = model_defaults(model_path, args)
        width, height = (
            parse_size(args.size) if args.size else (defaults["width"], defaults["height"])
        )
        request = GenerationRequest(
            model=model_path,
            prompt=args.prompt,
            negative_prompt=args.negative,
            steps=args.steps if args.steps is not None else defaults["steps"],
            guidance=args.cfg if args.cfg is not None else defaults["guidance"],
            width=width,
            height=height,
            seed=args.seed,
            sampler=args.sampler or defaults["sampler"],
            batch_size=args.batch_size,
            **mode_fields(args),
            **model_file_fields(args),
            **control_fields(args),
            **tiling_refiner_fields(args),
        )
        request = with_preset(request, args).validate()
    except (RequestError, ImageFileError) as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            err(f"error: {problem}")
        return EXIT_USAGE
    return request


def save_or_rescue(event: Any, out_dir: Path) -> list[Path] | None:
    """Save the images in `out_dir`; when that fails (disk full, folder gone since the job
    started), keep them in the unsaved-images folder and say where. None: not saved where asked
    (the caller exits with a failure), whether or not the rescue worked."""
    from sneakerstudio.core.imaging.outputs import rescue_outputs, save_outputs

    try:
        return save_outputs(event, out_dir)
    except Exception as exc:  # any failure: the images exist only in memory now
        err(f"error: {exc}")
        kept = [Path(str(p)) for p in getattr(exc, "written", [])]
    try:
        kept += rescue_outputs(event, already_written=len(kept))
    except Exception as exc:
        err(f"error: the images could not be kept anywhere: {exc}")
        return None
    err("The images are here:")
    for path in kept:
        err(f"  {path}")
    return None


# -- modes: img2img, inpaint, outpaint, batches, hires, presets --------------------------------


def add_mode_arguments(gen: argparse.ArgumentParser) -> None:
    """The options of the image modes. The mode follows from them: --outpaint → outpaint,
    --mask → inpaint, --init-image → img2img, none → txt2img."""
    from sneakerstudio.core.protocol.presets import preset_names
    from sneakerstudio.core.protocol.request import (
        INPAINT_AREAS,
        MASKED_CONTENTS,
        OUTPAINT_FILLS,
    )

    modes = gen.add_argument_group("image modes")
    modes.add_argument("--init-image", metavar="PNG", help="start from this image (img2img)")
    modes.add_argument(
        "--strength", type=float, default=0.75, help="denoising strength 0–1 (default 0.75)"
    )
    modes.add_argument("--mask", metavar="PNG", help="inpaint: white = repaint, same size as image")
    modes.add_argument("--mask-blur", type=int, default=4, help="mask blur in pixels (default 4)")
    modes.add_argument(
        "--inpaint-area",
        choices=INPAINT_AREAS,
        default="whole",
        help="whole picture, or only the masked box at full resolution (default whole)",
    )
    modes.add_argument(
        "--padding", type=int, default=32, help="only-masked padding in pixels (default 32)"
    )
    modes.add_argument(
        "--masked-content",
        choices=MASKED_CONTENTS,
        default="original",
        help="what the masked area starts from (default original)",
    )
    modes.add_argument(
        "--outpaint", metavar="L,T,R,B", help="extend the init image by these pixel amounts"
    )
    modes.add_argument(
        "--fill",
        choices=OUTPAINT_FILLS,
        default="edge",
        help="how the outpainted area is filled before it is generated (default edge)",
    )
    modes.add_argument("--fill-color", default="127,127,127", help="R,G,B for --fill color")
    modes.add_argument(
        "--batch-count", type=int, default=1, help="runs of --batch-size images (default 1)"
    )
    modes.add_argument("--variation-seed", type=int, default=None, help="second seed to blend in")
    modes.add_argument(
        "--rng",
        choices=("cpu", "nv"),
        default="cpu",
        help="noise source: cpu (default) or nv, the numbers an NVIDIA GPU gives (A1111's GPU "
        "seeds, reproduced on any machine)",
    )
    modes.add_argument(
        "--variation-strength", type=float, default=0.0, help="0–1 share of the variation seed"
    )
    modes.add_argument(
        "--hires",
        type=float,
        default=1.0,
        metavar="SCALE",
        help="upscale by SCALE, then an img2img pass at that size (txt2img only)",
    )
    modes.add_argument(
        "--hires-strength", type=float, default=0.5, help="hires denoising (default 0.5)"
    )
    modes.add_argument(
        "--hires-steps",
        type=int,
        default=0,
        help="steps of the hires pass (default 0: the --steps share of its strength)",
    )
    modes.add_argument(
        "--hires-upscaler",
        default="latent",
        metavar="NAME",
        help="latent, lanczos, or an upscaler model's name or path, e.g. 4x-UltraSharp "
        "(default latent)",
    )
    modes.add_argument(
        "--preset",
        choices=preset_names(),
        default=None,
        help="few-step models: turbo (1–4 steps, CFG 0) or lcm (2–8 steps, CFG 1.5, LCM)",
    )


def _int_list(text: str, count: int, what: str) -> tuple[int, ...]:
    from sneakerstudio.core.protocol.errors import RequestError

    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        raise RequestError([f"{what} must be {count} whole numbers separated by commas: '{text}'."])
    return values


def mode_fields(args: argparse.Namespace) -> dict[str, Any]:
    """GenerationRequest fields from the mode options; images are read here (PNG, JPEG or
    WebP only, size-checked). Raises RequestError or ImageFileError."""
    from sneakerstudio.core.imaging.imageops import load_image
    from sneakerstudio.core.protocol.request import HIRES_UPSCALERS

    init = load_image(args.init_image, "RGB") if args.init_image else None
    mask = load_image(args.mask, "L") if args.mask else None
    outpaint = (
        _int_list(args.outpaint, 4, "--outpaint (left,top,right,bottom)")
        if args.outpaint
        else (0, 0, 0, 0)
    )
    if any(outpaint):
        mode = "outpaint"
    elif args.mask:
        mode = "inpaint"
    elif args.init_image:
        mode = "img2img"
    else:
        mode = "txt2img"
    return {
        "mode": mode,
        "init_image": init,
        "mask": mask,
        "strength": args.strength,
        "mask_blur": args.mask_blur,
        "inpaint_area": args.inpaint_area,
        "padding": args.padding,
        "masked_content": args.masked_content,
        "outpaint": outpaint,
        "fill": args.fill,
        "fill_color": _int_list(args.fill_color, 3, "--fill-color (R,G,B)"),
        "batch_count": args.batch_count,
        "variation_seed": args.variation_seed,
        "variation_strength": args.variation_strength,
        "rng": args.rng,
        "schedule_type": _schedule(args.schedule),
        "ensd": args.ensd,
        "hires_scale": args.hires,
        "hires_strength": args.hires_strength,
        "hires_steps": args.hires_steps,
        "hires_upscaler": (
            args.hires_upscaler if args.hires_upscaler in HIRES_UPSCALERS else "lanczos"
        ),
        "hires_upscaler_model": (
            None if args.hires_upscaler in HIRES_UPSCALERS else args.hires_upscaler
        ),
    }


def _schedule(text: str) -> str:
    """The A1111 name for a `--schedule` value (aliases such as sgm_uniform accepted); an
    unknown name goes on as typed, for the request's check to name the choices."""
    from sneakerstudio.core.protocol.schedules import find_schedule

    return find_schedule(text) or text


def with_preset(request: Any, args: argparse.Namespace) -> Any:
    """The request with --preset applied; an explicit --steps is kept within its range."""
    if not getattr(args, "preset", None):
        return request
    from sneakerstudio.core.protocol.presets import apply_preset

    return apply_preset(request, args.preset, steps=args.steps)


def model_defaults(model_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """What the options left out default to: core's one rule for the model file and the
    LoRAs given (`core/patches/defaults.py`, the window's Generate → Use the model's
    defaults too). Options the user gave win."""
    from sneakerstudio.core.patches.defaults import model_file_defaults

    loras = [Path(name) for name, _weight in model_file_fields(args).get("loras", ())]
    return model_file_defaults(model_path, loras)
