"""A scripted stand-in for the engine (`core.generation.engine.Engine`) with the same interface:
fast, no torch, deterministic. Also used by `tools/screenshot.py`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from sneakerstudio.core.protocol.backend import Capabilities
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import (
    Cancelled,
    Event,
    Failed,
    Finished,
    Preview,
    Progress,
    Status,
)
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.runtime.device import CPU_HINT, DevicePlan

FAKE_DEVICE = "Fake CPU · 1 thread"


def fake_picture(width: int, height: int, t: float, seed: int = 0) -> np.ndarray:
    """A smooth, recognisable picture (a sneaker-ish blob on a gradient) that sharpens as
    `t` goes from 0 to 1, so a sequence of previews looks like denoising."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(1, width - 1), y / max(1, height - 1)
    hue = (seed % 97) / 97.0
    r = 0.35 + 0.4 * u + 0.2 * hue
    g = 0.25 + 0.35 * v
    b = 0.55 + 0.3 * (1 - u) - 0.2 * hue
    sole = ((u - 0.5) / 0.38) ** 2 + ((v - 0.62) / 0.16) ** 2 < 1
    upper = ((u - 0.42) / 0.26) ** 2 + ((v - 0.45) / 0.2) ** 2 < 1
    r = np.where(upper, 0.92, np.where(sole, 0.96, r))
    g = np.where(upper, 0.35, np.where(sole, 0.96, g))
    b = np.where(upper, 0.25, np.where(sole, 0.94, b))
    rgb = np.stack([r, g, b], axis=-1)
    noise = rng.normal(0.5, 0.25, rgb.shape).astype(np.float32)
    rgb = t * rgb + (1 - t) * noise
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _fit(image: Image.Image, width: int, height: int, mode: str) -> np.ndarray:
    return np.asarray(image.convert(mode).resize((width, height)), dtype=np.float32)


class FakeEngine:
    """Emits Status, then per step (after `step_delay` seconds) Progress and Preview, checking
    the cancel token before each step; ends with Finished (PIL images of the requested size),
    or Failed when `fail=(kind, message, details)` is given."""

    def __init__(
        self,
        *,
        step_delay: float = 0.005,
        device: str = FAKE_DEVICE,
        fail: tuple[str, str, str] | None = None,
        prepare_error: Exception | None = None,
        prepare_delay: float = 0.0,
        on_step: Callable[[int], None] | None = None,
        plan: DevicePlan | None = None,
        fast_decoders: dict[str, Path] | None = None,
        finished_info: dict[str, str] | None = None,
    ) -> None:
        """`plan`: what `Engine.plan` would be (default: a CPU plan when `device` says CPU,
        else a CUDA one); `fast_decoders`: TAESD folders by family, as `Engine` takes them
        (a folder counts when it holds config.json, as there)."""
        self.step_delay = step_delay
        self.device = device
        self.fail = fail
        self.prepare_error = prepare_error
        self.prepare_delay = prepare_delay
        self.on_step = on_step
        self.finished_info = dict(finished_info or {})  # Finished.info: what the engine did
        if plan is None:
            cpu = "cpu" in device.lower()
            plan = DevicePlan("cpu" if cpu else "cuda", None, device, 1, CPU_HINT if cpu else "")
        self.plan = plan
        self.fast_decoders: dict[str, Path] = dict(fast_decoders or {})
        self.requests: list[GenerationRequest] = []
        self.prepare_thread: threading.Thread | None = None
        self.generate_threads: list[threading.Thread] = []
        self.steps_done = 0  # of the current job; read from the test thread
        self.done = threading.Event()  # set when a job ends, any way

    def capabilities(self) -> Capabilities:
        """As `Engine.capabilities`, from the scripted plan."""
        plan = self.plan
        return Capabilities(
            device=plan.device,
            description=plan.description,
            hint=plan.hint,
            prefers_few_steps=plan.prefers_few_steps,
        )

    def fast_decoder_for(self, family: str) -> Path | None:
        """As `Engine.fast_decoder_for`, without the environment variables."""
        folder = self.fast_decoders.get("sdxl" if family.startswith("sdxl") else "sd1")
        return folder if folder is not None and (folder / "config.json").is_file() else None

    @staticmethod
    def _result(request: GenerationRequest, seed: int) -> np.ndarray:
        """The picture with each enabled control unit's map drawn in (its lines dark), so
        a result visibly follows the doodle as a real ControlNet's would."""
        picture = FakeEngine._picture(request, seed)
        for unit in request.control:
            source = unit.image if unit.image is not None else request.init_image
            if not unit.enabled or unit.weight == 0 or unit.end == 0 or source is None:
                continue
            from sneakerstudio.core.imaging.preprocess import preprocess, resize_control

            control = preprocess(source, unit.preprocessor, unit.options)
            control = resize_control(control, request.width, request.height, unit.resize_mode)
            lines = np.asarray(control.convert("L"), np.float32)[:, :, None] / 255.0
            lines = lines * min(1.0, unit.weight)
            picture = (picture * (1 - lines) + 24 * lines).astype(np.uint8)
        return picture

    @staticmethod
    def _picture(request: GenerationRequest, seed: int) -> np.ndarray:
        """The fake picture, and for the image modes a mix with the input picture as the
        real modes would look: img2img blends by strength, inpaint changes only the masked
        pixels, outpaint keeps the original where it was."""
        picture = fake_picture(request.width, request.height, 1.0, seed).astype(np.float32)
        if request.mode == "txt2img" or request.init_image is None:
            return picture.astype(np.uint8)
        if request.mode == "outpaint":
            left, top, _right, _bottom = request.outpaint
            init = np.asarray(request.init_image.convert("RGB"), dtype=np.float32)
            out = picture.copy()
            h, w = init.shape[:2]
            out[top : top + h, left : left + w] = init
            return out.astype(np.uint8)
        init = _fit(request.init_image, request.width, request.height, "RGB")
        mixed = init * (1 - request.strength) + picture * request.strength
        if request.mode == "inpaint" and request.mask is not None:
            weight = _fit(request.mask, request.width, request.height, "L")[:, :, None] / 255
            mixed = init * (1 - weight) + mixed * weight
        return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)

    def prepare(self) -> str:
        self.prepare_thread = threading.current_thread()
        time.sleep(self.prepare_delay)
        if self.prepare_error is not None:
            raise self.prepare_error
        return self.device

    def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        emit: Callable[[Event], None],
        cancel: CancelToken,
    ) -> Finished | None:
        self.done.clear()
        try:
            return self._generate(request, job_id, emit, cancel)
        finally:
            self.done.set()

    def _generate(
        self,
        request: GenerationRequest,
        job_id: str,
        emit: Callable[[Event], None],
        cancel: CancelToken,
    ) -> Finished | None:
        self.requests.append(request)
        self.generate_threads.append(threading.current_thread())
        self.steps_done = 0
        emit(Status(job_id, "Loading model…"))
        if self.fail is not None:
            emit(Failed(job_id, *self.fail))
            return None
        request = request.with_seed()
        seeds = request.image_seeds()
        total = request.steps
        small = (max(1, request.width // 8), max(1, request.height // 8))
        start = time.perf_counter()
        for step in range(1, total + 1):
            if cancel.cancelled:
                emit(Cancelled(job_id, step - 1))
                return None
            time.sleep(self.step_delay)
            self.steps_done = step
            elapsed = max(time.perf_counter() - start, 1e-6)
            rate = step / elapsed
            emit(Progress(job_id, step, total, rate, (total - step) / rate))
            emit(Preview(job_id, step, total, fake_picture(*small, step / total, seeds[0])))
            if self.on_step is not None:
                self.on_step(step)
        if cancel.cancelled:
            emit(Cancelled(job_id, total))
            return None
        emit(Status(job_id, "Decoding…"))
        images = tuple(Image.fromarray(self._result(request, seed)) for seed in seeds)
        parameters = tuple(
            f"{request.prompt}\nSteps: {total}, Sampler: {request.sampler}, "
            f"CFG scale: {request.guidance:g}, Seed: {seed}, "
            f"Size: {request.width}x{request.height}, Model: fake"
            for seed in seeds
        )
        finished = Finished(
            job_id=job_id,
            images=images,
            seeds=tuple(seeds),
            parameters=parameters,
            request_json=request.to_json(),
            timings={"total_s": time.perf_counter() - start},
            info=dict(self.finished_info),
        )
        emit(finished)
        return finished
