"""OpenVINO for CPU jobs: the UNet (about 1.2-1.45x faster per step than PyTorch on this
project's 2-core CPU) and the TAESD fast decoder (1.85x), same maths (docs/PERFORMANCE.md).

How it works, once per model: the loaded PyTorch module is traced into an OpenVINO model
(about half a minute to a minute for a full-size SD1.5 UNet, seconds for TAESD) and saved to
the cache folder (`<cache>/openvino/<kind>/<key>/`; fp16 weights when that loses nothing, i.e.
when they came from an fp16 checkpoint); later sessions read it back in a fraction of a second.
Per input size: the model is compiled for that size (seconds) and kept compiled until the size
changes. The UNet's waits are announced in the job's status.

PyTorch's modules stay loaded and run instead whenever OpenVINO cannot give the same image:
LoRAs merged into the UNet (the traced weights would be stale; each LoRA mix would need its own
conversion), a latent size the trace does not cover (not a multiple of 8, i.e. an image side
not a multiple of 64 for SD), weights that are not fp32, too little free memory for a second
copy of the UNet, or any OpenVINO error (the reason goes into the job's info; the job goes on).
The choice is the user's: `SNEAKERSTUDIO_CPU_RUNTIME=torch` (or `Engine(cpu_runtime="torch")`)
turns it off; the default is OpenVINO when the package is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNTIME_ENV = "SNEAKERSTUDIO_CPU_RUNTIME"
RUNTIMES = ("openvino", "torch")
CONVERTER_VERSION = 1  # bump when the traced graph or its inputs change: old IRs are ignored
KEEP_CONVERTED = 3  # converted models of each kind kept on disk (least recently used go first)
POLL_S = 0.1  # how often a running step or conversion looks at the cancel button
CONVERTER_MODULE = "sneakerstudio.core.runtime.openvino"  # run with -m: the converter process


def openvino_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def runtime_wanted(choice: str | None = None) -> str:
    """ "openvino" or "torch": the argument, else SNEAKERSTUDIO_CPU_RUNTIME, else OpenVINO when it
    is installed."""
    wanted = (choice or os.environ.get(RUNTIME_ENV, "")).strip().lower()
    if wanted == "torch":
        return "torch"
    return "openvino" if openvino_installed() else "torch"


def import_openvino() -> Any:
    """`import openvino` without its usage-telemetry client: the app is offline, and its model
    conversion would otherwise look for a consent file and try to report. With the client
    module marked missing, OpenVINO uses its built-in no-op stub."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


@dataclass(frozen=True)
class UnetInputs:
    """The UNet's inputs in the traced order: always sample, timestep, encoder_hidden_states;
    then timestep_cond (LCM-distilled models), text_embeds and time_ids (SDXL)."""

    names: tuple[str, ...]

    @staticmethod
    def for_unet(unet: Any) -> UnetInputs:
        names = ["sample", "timestep", "encoder_hidden_states"]
        if getattr(unet.config, "time_cond_proj_dim", None) is not None:
            names.append("timestep_cond")
        if getattr(unet.config, "addition_embed_type", None) == "text_time":
            names += ["text_embeds", "time_ids"]
        return UnetInputs(tuple(names))


def _unsupported_reason(unet: Any, sample: Any, scale_factor: int) -> str | None:
    """Why this call cannot run on OpenVINO and give the same result, or None."""
    import torch

    if unet.dtype != torch.float32:
        return f"the weights are {str(unet.dtype).rsplit('.', 1)[-1]}, not fp32"
    ups = 2 ** sum(1 for block in unet.up_blocks if getattr(block, "upsamplers", None))
    if sample.shape[-1] % ups or sample.shape[-2] % ups:
        return f"the image sides are not multiples of {ups * scale_factor} pixels"
    return None


class OpenVinoGraph:
    """A PyTorch module converted once to OpenVINO (kept in the cache folder, see the module
    docstring), compiled for one set of input shapes at a time, run asynchronously so that a
    cancel stops it inside the call. Subclasses say what is traced and how it is fed."""

    kind = "graph"  # the file name in the cache folder, and what the messages call it

    def __init__(self, module: Any, source: dict[str, Any], folder: Path, threads: int) -> None:
        """`module`: the PyTorch module as loaded (its weights are what gets converted);
        `source`: what identifies those weights (file, size, mtime, config), for the cache
        key; `folder`: where converted models are kept."""
        self.module = module
        self.source = source
        self.root = folder
        self.threads = max(1, threads)
        self.failed: str | None = None  # set once OpenVINO failed here: PyTorch from then on
        self._model: Any = None  # the converted, shape-free openvino.Model
        self._compiled: Any = None
        self._request: Any = None
        self.compiled_shapes: tuple[tuple[int, ...], ...] | None = None
        self.compiled_bytes = 0

    # -- what subclasses provide -------------------------------------------------------------

    def traced_module(self) -> Any:
        """A torch.nn.Module whose forward takes the inputs positionally, returns one tensor."""
        raise NotImplementedError

    def example(self) -> tuple[list[Any], list[list[int]]]:
        """Example inputs for the trace and their shape-free shapes (-1: any size)."""
        raise NotImplementedError

    def compiling_message(self, shapes: tuple[tuple[int, ...], ...]) -> str | None:
        return None

    def converting_message(self) -> str | None:
        return None

    # -- where the converted model lives ---------------------------------------------------

    def cache_key(self) -> str:
        ov = import_openvino()
        described = {
            "kind": self.kind,
            "source": self.source,
            "openvino": ov.__version__,
            "converter": CONVERTER_VERSION,
        }
        text = json.dumps(described, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    @property
    def folder(self) -> Path:
        return self.root / self.kind / self.cache_key()

    # -- preparing -------------------------------------------------------------------------

    def ensure_converted(
        self, status: Callable[[str], None], poll: Callable[[], None] = lambda: None
    ) -> None:
        """Read the converted model from the cache folder, or convert and save it (slow; in a
        child process, see `_convert_in_child`). `poll` may raise to cancel the conversion."""
        if self._model is not None:
            return
        ov = import_openvino()
        folder = self.folder
        xml = folder / f"{self.kind}.xml"
        if xml.is_file() and xml.with_suffix(".bin").is_file():
            try:
                self._model = ov.Core().read_model(str(xml))
                os.utime(folder / "source.json")  # recently used: kept longest
                return
            except Exception:
                shutil.rmtree(folder, ignore_errors=True)  # damaged: convert again
        message = self.converting_message()
        if message:
            status(message)
        self._convert_in_child(poll)
        prune_cache(folder.parent, KEEP_CONVERTED)
        self._model = ov.Core().read_model(str(xml))

    def child_source(self) -> str:
        """What the converter process loads: the model file or folder."""
        return str(self.source["file"][0])

    def _convert_in_child(self, poll: Callable[[], None]) -> None:
        """Convert in a separate process. Tracing and OpenVINO's conversion hold the GIL for
        long stretches (measured: up to 250 ms at a time for the tiny test UNet, more for a
        full-size one), which would freeze the window; the child loads the same file through
        the same loader, converts and saves, and can be stopped at any time."""
        import subprocess
        import tempfile

        command = [
            sys.executable,
            "-m",
            CONVERTER_MODULE,
            self.kind,
            self.child_source(),
            str(self.folder),
        ]
        with tempfile.TemporaryFile() as errors:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors
            )
            try:
                while True:
                    try:
                        child.wait(timeout=POLL_S)
                        break
                    except subprocess.TimeoutExpired:
                        poll()
            except BaseException:
                child.kill()
                child.wait()
                # What it had written so far (`_save` writes beside, then renames).
                partial = self.folder.with_name(f"{self.folder.name}.partial-{child.pid}")
                shutil.rmtree(partial, ignore_errors=True)
                raise
            if child.returncode != 0:
                errors.seek(0)
                lines = errors.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
                last = lines[-1] if lines else "no message"
                raise RuntimeError(
                    f"the converter stopped with exit code {child.returncode}: {last}"
                )

    def _convert(self, ov: Any) -> tuple[Any, bool]:
        import torch

        example, shapes = self.example()
        with torch.no_grad():
            # Traced here rather than by OpenVINO: its trace re-runs the model twice to check
            # the trace (two thirds of the conversion time), a check that proves nothing
            # here (tests/e2e/test_openvino.py compares the images with PyTorch's).
            with warnings.catch_warnings():  # "converting a tensor to a Python boolean…":
                # the branches diffusers takes on shapes; sizes where they would differ are
                # kept on PyTorch (`_unsupported_reason`).
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                # torch 2.13 calls jit.trace deprecated; OpenVINO's torch.export route is the
                # successor (not yet measured here).
                warnings.simplefilter("ignore", DeprecationWarning)
                traced = torch.jit.trace(
                    self.traced_module(), tuple(example), check_trace=False, strict=False
                )
            model = ov.convert_model(
                traced, example_input=tuple(example), input=[ov.PartialShape(s) for s in shapes]
            )
        return model, _fp16_lossless(self.module)

    def _save(self, ov: Any, model: Any, compressed: bool, seconds: float, folder: Path) -> None:
        """Write the IR to `folder`, atomically (a half-written folder never counts)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            ov.save_model(model, str(partial / f"{self.kind}.xml"), compress_to_fp16=compressed)
            (partial / "source.json").write_text(
                json.dumps(
                    {
                        "kind": self.kind,
                        "source": self.child_source(),
                        "fp16_weights": compressed,
                        "convert_s": round(seconds, 1),
                        "openvino": ov.__version__,
                    },
                    indent=1,
                    default=str,
                ),
                "utf-8",
            )
            shutil.rmtree(folder, ignore_errors=True)
            partial.rename(folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def prepare(
        self,
        feeds: list[Any],
        status: Callable[[str], None],
        poll: Callable[[], None] = lambda: None,
    ) -> None:
        """Converted (or read back) and compiled for these inputs."""
        self.ensure_converted(status, poll)
        self.ensure_compiled(tuple(tuple(int(d) for d in f.shape) for f in feeds), status)

    def ensure_compiled(
        self, shapes: tuple[tuple[int, ...], ...], status: Callable[[str], None]
    ) -> None:
        """Compile for these input shapes (the previous shapes' compiled model is dropped
        first: each holds a full copy of the weights)."""
        if self._compiled is not None and self.compiled_shapes == shapes:
            return
        ov = import_openvino()
        self._request = self._compiled = None
        self.compiled_shapes = None
        self.compiled_bytes = 0
        message = self.compiling_message(shapes)
        if message:
            status(message)
        model = self._model.clone()
        model.reshape({index: ov.PartialShape(list(shape)) for index, shape in enumerate(shapes)})
        self._compiled = ov.Core().compile_model(
            model,
            "CPU",
            {
                "INFERENCE_NUM_THREADS": self.threads,
                "PERFORMANCE_HINT": "LATENCY",
                # OpenVINO runs bf16 by default on CPUs with native bf16 (AVX512-BF16, AMX):
                # an fp32 job must stay fp32 (up to 6 levels off PyTorch's image otherwise).
                "INFERENCE_PRECISION_HINT": "f32",
            },
        )
        self._request = self._compiled.create_infer_request()
        self.compiled_shapes = shapes
        self.compiled_bytes = sum(p.numel() * 4 for p in self.module.parameters())

    # -- running ---------------------------------------------------------------------------

    def run(self, feeds: list[Any], poll: Callable[[], None]) -> Any:
        """One evaluation on contiguous fp32 CPU tensors; `poll` is called while it runs and
        may raise to cancel (the call is stopped inside OpenVINO, not finished first)."""
        import torch

        request = self._request
        request.start_async([t.numpy() for t in feeds], share_inputs=True)
        try:
            while not request.wait_for(int(POLL_S * 1000)):
                poll()
        except BaseException:
            request.cancel()
            with contextlib.suppress(Exception):  # a cancelled request reports a failure
                request.wait()
            raise
        return torch.from_numpy(request.get_output_tensor(0).data.copy())


def _config(module: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(module.config).items() if not k.startswith("_")}


class OpenVinoUnet(OpenVinoGraph):
    """One loaded model's UNet on OpenVINO. Lives with the model in the engine's cache and is
    dropped with it."""

    kind = "unet"

    def __init__(
        self,
        unet: Any,
        source_key: tuple[Any, ...],
        folder: Path,
        threads: int,
        scale_factor: int = 8,
    ) -> None:
        """`source_key`: what identifies the model's file (path, size, mtime, …);
        `scale_factor`: pixels per latent cell."""
        self.inputs = UnetInputs.for_unet(unet)
        source = {
            "file": [str(part) for part in source_key],
            "config": _config(unet),
            "inputs": self.inputs.names,
        }
        super().__init__(unet, source, folder, threads)
        self.scale_factor = scale_factor

    @property
    def unet(self) -> Any:
        return self.module

    def reason_not_used(self, sample: Any, lora_signature: tuple[Any, ...]) -> str | None:
        """Why this job's UNet calls go to PyTorch, or None when OpenVINO takes them."""
        if self.failed:
            return self.failed
        if lora_signature:
            return "LoRAs are applied (OpenVINO runs the model without them)"
        return _unsupported_reason(self.unet, sample, self.scale_factor)

    def converting_message(self) -> str:
        return (
            "Preparing the model for OpenVINO (once per model, about a minute for a "
            "full-size model; later runs start in seconds)…"
        )

    def compiling_message(self, shapes: tuple[tuple[int, ...], ...]) -> str:
        height, width = shapes[0][2] * self.scale_factor, shapes[0][3] * self.scale_factor
        return f"Compiling the model for {width}×{height} (OpenVINO, once per size)…"

    def traced_module(self) -> Any:
        import torch

        unet, names = self.unet, self.inputs.names

        class Traced(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.unet = unet

            def forward(self, *args: Any) -> Any:
                given = dict(zip(names, args, strict=True))
                added = None
                if "text_embeds" in given:
                    added = {"text_embeds": given["text_embeds"], "time_ids": given["time_ids"]}
                return self.unet(
                    given["sample"],
                    given["timestep"],
                    encoder_hidden_states=given["encoder_hidden_states"],
                    timestep_cond=given.get("timestep_cond"),
                    added_cond_kwargs=added,
                    return_dict=False,
                )[0]

        return Traced()

    def example(self) -> tuple[list[Any], list[list[int]]]:
        """64×64 latents, batch 1, and the shape-free shapes."""
        import torch

        config = self.unet.config
        channels = int(config.in_channels)
        cross = int(config.cross_attention_dim)
        example = [
            torch.zeros(1, channels, 64, 64),
            torch.full((1,), 999.0),
            torch.zeros(1, 77, cross),
        ]
        shapes = [[-1, channels, -1, -1], [-1], [-1, -1, cross]]
        if "timestep_cond" in self.inputs.names:
            dim = int(config.time_cond_proj_dim)
            example.append(torch.zeros(1, dim))
            shapes.append([-1, dim])
        if "text_embeds" in self.inputs.names:
            pooled = int(config.projection_class_embeddings_input_dim) - 6 * int(
                config.addition_time_embed_dim
            )
            example += [torch.zeros(1, pooled), torch.zeros(1, 6)]
            shapes += [[-1, pooled], [-1, 6]]
        return example, shapes

    def feeds(
        self,
        sample: Any,
        timestep: Any,
        encoder_hidden_states: Any,
        timestep_cond: Any = None,
        added_cond_kwargs: dict[str, Any] | None = None,
    ) -> list[Any]:
        """The inputs as contiguous fp32 CPU tensors, in the traced order."""
        import torch

        batch = sample.shape[0]
        values = {
            "sample": sample,
            "timestep": torch.as_tensor(timestep).reshape(-1).expand(batch),
            "encoder_hidden_states": encoder_hidden_states,
            "timestep_cond": timestep_cond,
        }
        if added_cond_kwargs:
            values.update(added_cond_kwargs)
        return [
            values[name].detach().to("cpu", torch.float32).contiguous()
            for name in self.inputs.names
        ]


class _DecoderGraph(OpenVinoGraph):
    """An autoencoder's `decode(latents)` (AutoencoderKL or AutoencoderTiny)."""

    def traced_module(self) -> Any:
        import torch

        autoencoder = self.module

        class Traced(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.autoencoder = autoencoder

            def forward(self, latents: Any) -> Any:
                return self.autoencoder.decode(latents, return_dict=False)[0]

        return Traced()

    def example(self) -> tuple[list[Any], list[list[int]]]:
        import torch

        channels = int(self.module.config.latent_channels)
        return [torch.zeros(1, channels, 64, 64)], [[-1, channels, -1, -1]]

    def decode(self, latents: Any, status: Callable[[str], None] = lambda _text: None) -> Any:
        """The decoded image tensor, or None when OpenVINO failed (now or before: then the
        caller decodes with PyTorch, from now on)."""
        import torch

        if self.failed:
            return None
        try:
            feeds = [latents.detach().to("cpu", torch.float32).contiguous()]
            self.prepare(feeds, status)
            return self.run(feeds, lambda: None)
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            return None


class OpenVinoVae(_DecoderGraph):
    """A model's own VAE decoder on OpenVINO (1.15-1.4x here, docs/PERFORMANCE.md). Only for
    a plain decode: tiled / sliced decodes and VAE overrides stay on PyTorch."""

    kind = "vae"

    def __init__(self, vae: Any, source_key: tuple[Any, ...], folder: Path, threads: int) -> None:
        source = {"file": [str(part) for part in source_key], "config": _config(vae)}
        super().__init__(vae, source, folder, threads)

    def converting_message(self) -> str:
        return "Preparing the VAE decoder for OpenVINO (once per model)…"


class OpenVinoTinyDecoder(_DecoderGraph):
    """TAESD's decoder (diffusers AutoencoderTiny) on OpenVINO: 0.92 s instead of 1.7 s for a
    512² image here. Small: converted in seconds, no message."""

    kind = "taesd"

    def __init__(self, tiny: Any, folder_key: str, folder: Path, threads: int) -> None:
        weights = sorted(Path(folder_key).glob("*.safetensors")) or sorted(
            Path(folder_key).glob("*.bin")
        )
        stamp = [(str(w), w.stat().st_size, w.stat().st_mtime_ns) for w in weights]
        source = {"file": [folder_key], "weights": stamp, "config": _config(tiny)}
        super().__init__(tiny, source, folder, threads)


def _fp16_lossless(unet: Any) -> bool:
    """True when every weight survives a round trip through fp16 (an fp16 checkpoint loaded
    in fp32): the IR can then be stored at half the size with bit-identical results."""
    import torch

    with torch.no_grad():
        for param in unet.parameters():
            if not torch.equal(param.to(torch.float16).to(param.dtype), param):
                return False
    return True


def prune_cache(root: Path, keep: int) -> None:
    """Delete all but the `keep` most recently used converted models under `root` (and any
    leftovers of an interrupted conversion)."""
    if not root.is_dir():
        return
    done: list[tuple[float, Path]] = []
    for entry in root.iterdir():
        if not entry.is_dir():
            continue
        if ".partial-" in entry.name:
            # An interrupted conversion (a crash, a kill): one that is still running writes
            # for a minute or two, so an hour-old leftover is safe to remove.
            if time.time() - entry.stat().st_mtime > 3600:
                shutil.rmtree(entry, ignore_errors=True)
            continue
        marker = entry / "source.json"
        done.append((marker.stat().st_mtime if marker.exists() else 0.0, entry))
    done.sort(reverse=True)
    for _mtime, entry in done[keep:]:
        shutil.rmtree(entry, ignore_errors=True)


def _convert_main(argv: list[str]) -> int:
    """The converter process: `python -m sneakerstudio.core.runtime.openvino KIND SOURCE OUT`
    loads SOURCE (a model file or folder for "unet" and "vae", a TAESD folder for "taesd") the
    way the engine does, in fp32 on the CPU, converts that module and writes the IR to OUT."""
    import torch

    kind, source, out = argv
    if hasattr(os, "nice"):  # a background chore: the window (and the user) come first
        with contextlib.suppress(OSError):
            os.nice(5)
    torch.set_num_threads(os.cpu_count() or 1)
    graph: OpenVinoGraph
    if kind == "unet":
        from sneakerstudio.core.models.loading import load_model

        model = load_model(Path(source), device="cpu", dtype=torch.float32)
        graph = OpenVinoUnet(model.pipe.unet, (source,), Path(out).parent, 1)
    elif kind == "vae":
        from sneakerstudio.core.models.loading import load_model

        model = load_model(Path(source), device="cpu", dtype=torch.float32)
        graph = OpenVinoVae(model.pipe.vae, (source,), Path(out).parent, 1)
    elif kind == "taesd":
        from diffusers import AutoencoderTiny

        tiny = AutoencoderTiny.from_pretrained(source, local_files_only=True).eval()
        graph = OpenVinoTinyDecoder(tiny, source, Path(out).parent, 1)
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    ov = import_openvino()
    t0 = time.perf_counter()
    converted, compressed = graph._convert(ov)
    graph._save(ov, converted, compressed, time.perf_counter() - t0, Path(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(_convert_main(sys.argv[1:]))
