"""`OpenVinoGraph`: one PyTorch module converted once to OpenVINO (kept in the cache folder),
compiled for one set of input shapes at a time (with OpenVINO's model cache, so another process
loads the compiled model instead of compiling), run asynchronously so that a cancel stops it
inside the call. Subclasses (`unet.py`, `decoders.py`) say what is traced and how it is fed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sneakerstudio.core.runtime.openvino import pages, support
from sneakerstudio.core.runtime.openvino.support import import_openvino


class OpenVinoGraph:
    kind = "graph"  # the file name in the cache folder, and what the messages call it

    def __init__(self, module: Any, source: dict[str, Any], folder: Path, threads: int) -> None:
        """`module`: the PyTorch module as loaded (its weights are what gets converted);
        `source`: what identifies those weights (file, size, mtime, config), for the cache
        key; `folder`: where converted models are kept (`<folder>/<kind>/<key>/`; OpenVINO's
        compiled-model cache in `<folder>/compiled/`)."""
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
        self.compiles = 0  # compile_model calls that really compiled (not read from the cache)
        self.cache_loads = 0  # compile_model calls answered by OpenVINO's model cache
        self.compile_s = 0.0  # seconds of the last compile_model call
        self._first_run = False  # the next run is the first of this compile (`pages.py`)

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

    def variant(self, model: Any) -> Any:
        """The model to compile (a clone of the converted one, already reshaped); subclasses
        may add to it (the UNet adds its LoRA inputs)."""
        return model

    def after_compile(self) -> None:
        """Called with a fresh infer request (the UNet sets its LoRA inputs)."""

    # -- where the converted model lives ---------------------------------------------------

    def cache_key(self) -> str:
        ov = import_openvino()
        described = {
            "kind": self.kind,
            "source": self.source,
            "openvino": ov.__version__,
            "converter": support.CONVERTER_VERSION,
        }
        text = json.dumps(described, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    @property
    def folder(self) -> Path:
        return self.root / self.kind / self.cache_key()

    @property
    def xml(self) -> Path:
        return self.folder / f"{self.kind}.xml"

    def is_converted(self) -> bool:
        """The converted model is on disk (read back by `read_converted`)."""
        return self.xml.is_file() and self.xml.with_suffix(".bin").is_file()

    def read_converted(self) -> bool:
        """Read the converted model from the cache folder; False when there is none (a damaged
        one is deleted: it is converted again)."""
        if self._model is not None:
            return True
        if not self.is_converted():
            return False
        ov = import_openvino()
        try:
            self._model = ov.Core().read_model(str(self.xml))
        except Exception:
            shutil.rmtree(self.folder, ignore_errors=True)
            return False
        with contextlib.suppress(OSError):
            os.utime(self.folder / "source.json")  # recently used: kept longest
        return True

    def child_source(self) -> str:
        """What the converter process loads: the model file or folder."""
        return str(self.source["file"][0])

    # -- preparing -------------------------------------------------------------------------

    def ensure_converted(
        self, status: Callable[[str], None], poll: Callable[[], None] = lambda: None
    ) -> None:
        """Read the converted model from the cache folder, or convert and save it, waiting for
        the converter process (`convert.py`). `poll` may raise to cancel the conversion."""
        if self.read_converted():
            return
        from sneakerstudio.core.runtime.openvino.convert import Conversion

        message = self.converting_message()
        if message:
            status(message)
        Conversion.start([self], self.child_source()).wait(poll)
        if not self.read_converted():
            raise RuntimeError("the converter finished but left no readable model")

    def _convert(self, ov: Any) -> tuple[Any, bool]:
        """Trace and convert (in the converter process): the model and whether its weights
        survive fp16 unchanged."""
        import torch

        example, shapes = self.example()
        with torch.no_grad():
            # Traced here rather than by OpenVINO: its trace re-runs the model twice to check
            # the trace (two thirds of the conversion time), a check that proves nothing
            # here (tests/e2e/test_openvino.py compares the images with PyTorch's).
            with warnings.catch_warnings():  # "converting a tensor to a Python boolean…":
                # the branches diffusers takes on shapes; sizes where they would differ are
                # kept on PyTorch (`unet.unsupported_reason`).
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                traced = torch.jit.trace(
                    self.traced_module(), tuple(example), check_trace=False, strict=False
                )
            model = ov.convert_model(
                traced, example_input=tuple(example), input=[ov.PartialShape(s) for s in shapes]
            )
        return model, fp16_lossless(self.module)

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

    def release_buffers(self) -> None:
        """Free the compiled model's intermediate buffers (its activations: 0.75 GB for the SD
        VAE's decoder at 512², kept from one run to the next otherwise) while it is not
        needed; the next run allocates them again (a tenth of a second)."""
        if self._compiled is not None:
            with contextlib.suppress(Exception):  # OpenVINO before 2024.3 has no release_memory
                self._compiled.release_memory()

    def drop_compiled(self) -> None:
        self._request = self._compiled = None
        self.compiled_shapes = None
        self.compiled_bytes = 0

    def ensure_compiled(
        self, shapes: tuple[tuple[int, ...], ...], status: Callable[[str], None]
    ) -> None:
        """Compile for these input shapes (the previous shapes' compiled model is dropped
        first: each holds a full copy of the weights). A compile that OpenVINO's model cache
        answers takes a fraction of a second and is not announced."""
        import time

        if self.covers(shapes):
            return
        ov = import_openvino()
        self.drop_compiled()
        model = self._model.clone()
        model.reshape({index: ov.PartialShape(list(shape)) for index, shape in enumerate(shapes)})
        model = self.variant(model)
        core = ov.Core()
        properties = support.compile_properties(self.threads, self.root / "compiled")
        announced = False
        if not self._cached_compile_likely(shapes):
            message = self.compiling_message(shapes)
            if message:
                status(message)
                announced = True
        t0 = time.perf_counter()
        # The mapped weights file's pages, read once into OpenVINO's own copy, are dropped as
        # the compile goes (`pages.py`): the peak is one copy of the weights, not two.
        with pages.shedding(self.root):
            self._compiled = core.compile_model(model, "CPU", properties)
        del model
        self.compile_s = time.perf_counter() - t0
        from_cache = bool(self._compiled.get_property("LOADED_FROM_CACHE"))
        if from_cache:
            self.cache_loads += 1
        else:
            self.compiles += 1
            from sneakerstudio.core.runtime.openvino.cache import prune_compiled

            prune_compiled(self.root / "compiled")
            if not announced:
                message = self.compiling_message(shapes)
                if message:
                    status(message.replace("Compiling", "Compiled"))
        self._request = self._compiled.create_infer_request()
        self.compiled_shapes = shapes
        self.compiled_bytes = sum(p.numel() * 4 for p in self.module.parameters())
        self._first_run = True
        self.after_compile()

    def covers(self, shapes: tuple[tuple[int, ...], ...]) -> bool:
        """Whether the compiled model takes inputs of these shapes (-1: any length there)."""
        compiled = self.compiled_shapes
        if self._compiled is None or compiled is None or len(compiled) != len(shapes):
            return False
        return all(
            len(have) == len(want) and all(h in (-1, w) for h, w in zip(have, want, strict=True))
            for have, want in zip(compiled, shapes, strict=True)
        )

    def _cached_compile_likely(self, shapes: tuple[tuple[int, ...], ...]) -> bool:
        """Whether OpenVINO's model cache probably holds this compile (a marker written after
        each real compile): then no "Compiling…" message up front."""
        marker = self.folder / "compiled.json"
        try:
            seen = json.loads(marker.read_text("utf-8"))
        except (OSError, ValueError):
            seen = []
        key = self.compile_marker(shapes)
        if key in seen:
            return True
        seen = [*seen[-31:], key]
        with contextlib.suppress(OSError):
            marker.write_text(json.dumps(seen), "utf-8")
        return False

    def compile_marker(self, shapes: tuple[tuple[int, ...], ...]) -> str:
        return json.dumps([list(s) for s in shapes])

    # -- running ---------------------------------------------------------------------------

    def run(self, feeds: list[Any], poll: Callable[[], None]) -> Any:
        """One evaluation on contiguous fp32 CPU tensors; `poll` is called while it runs and
        may raise to cancel (the call is stopped inside OpenVINO, not finished first)."""
        import torch

        request = self._request
        # The first run of an fp16 IR repacks its weights to fp32 (reading the mapped file).
        first, self._first_run = self._first_run, False
        with pages.shedding(self.root) if first else contextlib.nullcontext():
            request.start_async(
                {index: t.numpy() for index, t in enumerate(feeds)}, share_inputs=True
            )
            try:
                while not request.wait_for(int(support.POLL_S * 1000)):
                    poll()
            except BaseException:
                request.cancel()
                with contextlib.suppress(Exception):  # a cancelled request reports a failure
                    request.wait()
                raise
        return torch.from_numpy(request.get_output_tensor(0).data.copy())


def config_of(module: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(module.config).items() if not k.startswith("_")}


def fp16_lossless(module: Any) -> bool:
    """True when every weight survives a round trip through fp16 (an fp16 checkpoint loaded
    in fp32): the IR can then be stored at half the size with bit-identical results."""
    import torch

    with torch.no_grad():
        for param in module.parameters():
            if not torch.equal(param.to(torch.float16).to(param.dtype), param):
                return False
    return True


TOKENS = (2, 1)  # (input, dimension) of the prompt's length: encoder_hidden_states' tokens


def with_any_length(
    shapes: tuple[tuple[int, ...], ...], others: list[tuple[tuple[int, ...], ...]]
) -> tuple[tuple[int, ...], ...]:
    """`shapes`, with the prompt's length left open (-1) when one of `others` (the shapes this
    job already ran) differs from it there and only there: a prompt longer than its negative
    runs as two calls of different lengths (as A1111 does), and one compiled model takes both.
    Every other dimension stays fixed (a shape-free dimension costs OpenVINO about 10 %, so
    only jobs that need it pay it)."""
    index, dim = TOKENS
    for other in others:
        if len(other) != len(shapes) or len(other[index]) != len(shapes[index]):
            continue
        differs = {
            (i, d)
            for i, (a, b) in enumerate(zip(other, shapes, strict=True))
            for d, (x, y) in enumerate(zip(a, b, strict=False))
            if x != y
        }
        if differs == {TOKENS}:
            opened = list(shapes[index])
            opened[dim] = -1
            return (*shapes[:index], tuple(opened), *shapes[index + 1 :])
    return shapes
