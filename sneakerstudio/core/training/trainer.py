"""One LoRA training run: data checked, model prepared, latents cached, the seeded loop.

`Trainer.run()` does it all and returns `TrainingFinished`; it raises `TrainingError` and
friends for what a user can fix, and `GenerationCancelled` when cancelled (after saving the
state, so the run can be resumed). `job.run_training` turns those into events.

Every random number of step k comes from a generator seeded with (seed, k): the image order
(`buckets.plan_batches`), flips, noise, noise offset and timesteps. With the LoRA weights and
AdamW's moments saved (`checkpoint.py`), a resumed run computes the same steps as one that
never stopped. Loss: MSE against the noise (or the velocity for v-prediction models), per image
weighted by min-SNR (γ, Hang et al.) and by the prior-loss weight for class images.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from pathlib import Path
from typing import Any

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Progress, Status
from sneakerstudio.core.protocol.training import (
    PauseSwitch,
    TrainingError,
    TrainingFinished,
    TrainingRequest,
    TrainingStep,
    training_preset,
)
from sneakerstudio.core.training import checkpoint as ckpt
from sneakerstudio.core.training.buckets import choose_bucket, make_buckets, plan_batches
from sneakerstudio.core.training.dataset import DataSet, add_class_images, require_usable
from sneakerstudio.core.training.dataset import scan_dataset as scan
from sneakerstudio.core.training.runs import default_run_dir

ClassImages = Any  # (prompt, count, width, height, seed, cancel) -> list[PIL.Image]


def step_generator(seed: int, step: int) -> Any:
    import torch

    return torch.Generator("cpu").manual_seed((seed * 1_000_003 + step) % (2**63))


class Trainer:
    def __init__(
        self,
        request: TrainingRequest,
        *,
        job_id: str,
        emit: Any,
        cancel: CancelToken,
        pause: PauseSwitch | None = None,
        device: str = "cpu",
        class_images: ClassImages | None = None,
    ) -> None:
        self.request = request.validate()
        self.job_id, self.emit, self.cancel = job_id, emit, cancel
        self.pause = pause or PauseSwitch()
        self.device = device
        self.class_images = class_images
        self.notes: list[str] = []
        self.losses: list[float] = []
        self.step = 0
        self.micro_batches = 1  # 2 after an out-of-memory step-down
        self.base_hashes: tuple[str, str] | None = None  # the base model's, once computed

    # -- phases ---------------------------------------------------------------------------

    def status(self, text: str) -> None:
        self.emit(Status(self.job_id, text))

    def run(self) -> TrainingFinished:
        from sneakerstudio.core.training.model_prep import check_base_model

        started = time.time()
        request = self.request
        assert request.model is not None and request.data is not None
        family, prediction = check_base_model(Path(request.model))
        self.req = req = request.resolved(family)
        self.family, self.prediction = family, prediction
        self.status("Checking the images…")
        data = scan(Path(request.data), req.trigger)
        require_usable(data)
        self.data = data
        self.notes.extend(data.notes)
        self.run_dir = Path(req.run_dir) if req.run_dir else default_run_dir(req)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = self._start_record()
        self._prior_images(data)
        self.cancel.check()
        self._prepare(data)
        self._loop(record)
        return self._finish(record, started)

    def _start_record(self) -> ckpt.RunRecord:
        old = ckpt.read_run(self.run_dir)
        fresh = ckpt.RunRecord(self.req.to_dict())
        if (
            self.req.resume
            and old is not None
            and old.resumable
            and old.fingerprint() == ckpt.fingerprint(self.req)
        ):
            return old
        return fresh

    def _prior_images(self, data: DataSet) -> None:
        req = self.req
        if not req.prior_class_prompt.strip():
            return
        folder = self.run_dir / "class-images"
        folder.mkdir(exist_ok=True)
        wanted = req.prior_images or len(data.instance_items)
        have = sorted(folder.glob("*.png"))
        missing = wanted - len(have)
        if missing > 0:
            if self.class_images is None:
                raise TrainingError(
                    "Prior preservation needs class images, and this backend cannot make them.",
                    hint="Put class images in the run's 'class-images' folder, or turn prior "
                    "preservation off.",
                )
            self.status(f"Making {missing} class images ('{req.prior_class_prompt}')…")
            size = int(req.resolution or 512)
            images = self.class_images(
                req.prior_class_prompt, missing, size, size, req.seed + len(have), self.cancel
            )
            from sneakerstudio.core.files.atomic import write_bytes

            for i, image in enumerate(images):
                import io

                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                write_bytes(folder / f"class-{len(have) + i:04d}.png", buffer.getvalue())
        add_class_images(data, folder, req.prior_class_prompt, req.prior_weight)

    def _precision(self) -> str:
        req = self.req
        if req.precision != "auto":
            return req.precision
        if self.device == "cuda":
            return training_preset(self.family, req.memory).precision
        return "fp32"

    def _prepare(self, data: DataSet) -> None:
        import torch
        from diffusers import DDPMScheduler

        from sneakerstudio.core.training.encode import CaptionCache, cache_latents
        from sneakerstudio.core.training.model_prep import prepare_model

        req = self.req
        precision = self._precision()
        dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
        self.autocast_dtype = dtypes[precision] if precision != "fp32" else None
        self.status(f"Loading {Path(str(req.model)).name} for training…")
        self.model = prepare_model(
            Path(str(req.model)),
            family=self.family,
            device=self.device,
            weight_dtype=dtypes[precision],
            rank=int(req.rank or 8),
            alpha=float(req.alpha or req.rank or 8),
            seed=req.seed,
            train_text_encoder=bool(req.train_text_encoder),
            train_feed_forward=req.train_feed_forward,
            gradient_checkpointing=bool(req.gradient_checkpointing),
        )
        loaded = self.model.loaded
        self.prediction = loaded.prediction  # what the loaded model uses (metadata, name, family)
        self.scheduler = DDPMScheduler.from_config(
            {**loaded.scheduler_config, "prediction_type": loaded.prediction_type}
        )
        resolution = int(req.resolution or 512)
        buckets = make_buckets(resolution)
        factor = loaded.vae_scale_factor
        self.buckets = [choose_bucket(i.width, i.height, buckets) for i in data.items]
        self.buckets = [(w - w % factor, h - h % factor) for w, h in self.buckets]
        self.captions = [item.caption for item in data.items]
        self.status(f"Encoding {len(data.items)} images (once)…")
        scaling = float(loaded.vae_scaling_factor)
        self.latents = []
        if req.cache_latents:
            self.latents = cache_latents(
                self.model.pipe,
                data.items,
                self.buckets,
                scaling=scaling,
                device=self.device,
                flip=req.flip,
                cancel=self.cancel,
                progress=lambda done, total: self.status(f"Encoding images {done}/{total}…"),
            )
        self.caption_cache: CaptionCache | None = None
        if not self.model.text_encoders and req.cache_latents:
            self.caption_cache = CaptionCache(self.model.pipe, self.device)
            self.caption_cache.fill(self.captions, self.cancel)
        if not req.cache_latents:  # the reference behaviour: encode at every step
            self.notes.append("Latents and captions were encoded at every step (cache off).")
        repeats = [item.repeats for item in data.items]
        self.batches, self.epochs = plan_batches(
            self.buckets,
            repeats,
            int(req.batch_size or 1),
            req.seed,
            steps=req.steps,
            epochs=req.epochs if req.steps is None else None,
        )
        self.params = self.model.trainable_parameters()
        self.optimizer = self._optimizer(training_preset(self.family, req.memory).optimizer)
        self.scaler = (
            torch.amp.GradScaler(self.device)
            if precision == "fp16" and self.device == "cuda"
            else None
        )
        self._cancel_hooks()

    def _optimizer(self, kind: str) -> Any:
        import torch

        params = [p for _n, p in self.params]
        lr = float(self.req.learning_rate or 1e-4)
        if kind == "adamw8bit" and self.device == "cuda":
            try:
                import bitsandbytes as bnb  # optional: 8-bit AdamW when installed

                self.notes.append("8-bit AdamW (bitsandbytes).")
                return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=1e-2)
            except ImportError:
                pass
        return torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)

    def _cancel_hooks(self) -> None:
        """A cancel stops within a step: every UNet block checks the token before it runs."""
        unet = self.model.pipe.unet

        def check(_module: Any, _args: Any) -> None:
            self.cancel.check()

        blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
        self._hooks = [b.register_forward_pre_hook(check) for b in blocks if b is not None]

    # -- the loop -------------------------------------------------------------------------

    def _loop(self, record: ckpt.RunRecord) -> None:
        req = self.req
        total = len(self.batches)
        record.total = total
        start = 0
        if record.step > 0:
            if ckpt.load_state(self.run_dir, record.step, self.params, self.optimizer):
                start = record.step
                self.losses = list(record.losses[:start])
                self.notes.append(f"Resumed at step {start} of {total}.")
                self.status(f"Resuming at step {start} of {total}…")
            else:
                record = ckpt.RunRecord(req.to_dict(), total=total)
        self.record = record
        record.status, record.step = "running", start
        ckpt.write_run(self.run_dir, record)
        t0 = time.perf_counter()
        last_saved = start
        for step in range(start, total):
            self.pause.wait(self.cancel, on_pause=functools.partial(self._paused, step))
            try:
                loss = self._step(step)
            except BaseException as exc:
                from sneakerstudio.core.protocol.errors import GenerationCancelled

                if isinstance(exc, GenerationCancelled):
                    self._save(step, "cancelled")
                raise
            if not math.isfinite(loss):
                self._nan(step, last_saved)
            self.losses.append(loss)
            self.step = done = step + 1
            elapsed = time.perf_counter() - t0
            rate = (done - start) / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else 0.0
            self.emit(TrainingStep(self.job_id, done, total, self.epochs[step], loss))
            self.emit(Progress(self.job_id, done, total, rate, eta))
            if req.checkpoint_every and done % req.checkpoint_every == 0 and done < total:
                self._save(done, "running")
                last_saved = done
            if req.sample_every and done % req.sample_every == 0 and done < total:
                self._sample(done)

    def _paused(self, step: int) -> None:
        self._save(step, "paused")
        self.status(f"Paused at step {step} (saved; Resume goes on).")

    def _save(self, step: int, status: str) -> None:
        record = self.record
        record.step, record.status = step, status
        record.losses = list(self.losses[:step])
        if step > 0:
            ckpt.save_state(self.run_dir, step, self.params, self.optimizer)
            with contextlib.suppress(OSError):
                tensors, metadata = self._export(time.time(), None, hashes=False)
                ckpt.save_lora_copy(self.run_dir, tensors, metadata)
        ckpt.write_run(self.run_dir, record)

    def _nan(self, step: int, last_saved: int) -> None:
        record = self.record
        record.status = "failed"
        kept = (
            f"The last good checkpoint (step {last_saved}) is kept in '{self.run_dir}'."
            if last_saved > 0
            else "No checkpoint had been saved yet."
        )
        record.message = f"The loss became NaN at step {step + 1}."
        ckpt.write_run(self.run_dir, record)
        raise TrainingError(
            f"Training stopped: the loss became NaN (not a number) at step {step + 1}. {kept}",
            hint="Lower the learning rate (e.g. halve it) or the noise offset, then train again.",
        )

    def _step(self, step: int) -> float:
        from sneakerstudio.core.runtime.device import free_memory, is_out_of_memory

        try:
            return self._step_once(step)
        except Exception as exc:
            if not is_out_of_memory(exc) or self.micro_batches > 1:
                raise
        # Out of memory: step down once (half-size micro-batches with gradient checkpointing;
        # the same step's maths, so the run stays the same), and say so.
        self.optimizer.zero_grad(set_to_none=True)
        free_memory(self.device)
        self.micro_batches = 2
        self.model.pipe.unet.enable_gradient_checkpointing()
        note = "Out of memory: went on with half batches and gradient checkpointing."
        self.notes.append(note)
        self.status(note)
        try:
            return self._step_once(step)
        except Exception as exc:
            if is_out_of_memory(exc):
                from sneakerstudio.core.protocol.errors import OutOfMemoryError

                raise OutOfMemoryError(
                    "Out of memory while training, even with half batches.",
                    hint="Choose a smaller memory preset, a lower resolution or batch size, and "
                    "resume.",
                ) from None
            raise

    def _step_once(self, step: int) -> float:
        import torch
        import torch.nn.functional as F

        from sneakerstudio.core.training.encode import (
            encode_captions,
            encode_images,
            image_tensor,
            sdxl_time_ids,
        )

        self.cancel.check()
        req, device = self.req, self.device
        indices = self.batches[step]
        g = step_generator(req.seed, step)
        size = len(indices)
        flips = (torch.rand(size, generator=g) < 0.5).tolist() if req.flip else [False] * size
        if req.cache_latents:
            latents = torch.stack(
                [
                    self.latents[i][1] if f else self.latents[i][0]
                    for i, f in zip(indices, flips, strict=True)
                ]
            )
        else:
            pixels = torch.cat([image_tensor(self.data.items[i], self.buckets[i]) for i in indices])
            pixels = torch.where(torch.tensor(flips)[:, None, None, None], pixels.flip(-1), pixels)
            scaling = float(self.model.loaded.vae_scaling_factor)
            latents = encode_images(self.model.pipe, pixels, scaling, device)
        noise = torch.randn(latents.shape, generator=g)
        if req.noise_offset:
            noise = noise + req.noise_offset * torch.randn(
                (size, latents.shape[1], 1, 1), generator=g
            )
        steps = int(self.scheduler.config.num_train_timesteps)
        timesteps = torch.randint(0, steps, (size,), generator=g)
        weights = torch.tensor([self.data.items[i].weight for i in indices])
        if req.min_snr_gamma:
            from diffusers.training_utils import compute_snr

            snr = compute_snr(self.scheduler, timesteps)
            clipped = torch.clamp(snr, max=req.min_snr_gamma)
            weights = weights * (clipped / (snr + 1 if self.prediction == "v" else snr))
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        chunk = math.ceil(size / self.micro_batches)
        for lo in range(0, size, chunk):
            part = slice(lo, lo + chunk)
            lat, nz, ts = (
                latents[part].to(device),
                noise[part].to(device),
                timesteps[part].to(device),
            )
            noisy = self.scheduler.add_noise(lat, nz, ts)
            target = self.scheduler.get_velocity(lat, nz, ts) if self.prediction == "v" else nz
            captions = [self.captions[i] for i in indices[part]]
            autocast = (
                torch.autocast(device_type=device, dtype=self.autocast_dtype)
                if self.autocast_dtype is not None
                else contextlib.nullcontext()
            )
            with autocast:
                if self.caption_cache is not None:
                    embeds, pooled = self.caption_cache.batch(captions)
                else:
                    embeds, pooled = encode_captions(self.model.pipe, captions, device)
                extra = {}
                if pooled is not None:
                    ids = sdxl_time_ids(
                        [self.buckets[i] for i in indices[part]], device, embeds.dtype
                    )
                    extra = {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": ids}}
                unet = self.model.pipe.unet
                pred = unet(noisy.to(self.model.weight_dtype), ts, embeds, **extra).sample
            per_image = F.mse_loss(pred.float(), target.float(), reduction="none")
            per_image = per_image.mean(dim=list(range(1, per_image.ndim)))
            loss = (per_image * weights[part].to(device)).sum() / size
            if not bool(torch.isfinite(loss)):
                return math.nan
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
            else:
                loss.backward()
            total += float(loss.detach())
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return total

    # -- samples and the end ----------------------------------------------------------------

    def _sample(self, step: int) -> Any:
        from sneakerstudio.core.training.samples import make_sample

        self.status(f"Sample image at step {step}…")
        image = make_sample(self, step)
        return image

    def _export(
        self, started: float, thumbnail: Any, hashes: bool = True
    ) -> tuple[dict[str, Any], dict[str, str]]:
        from sneakerstudio.core.training.output import export

        return export(self, started, thumbnail, hashes=hashes)

    def _finish(self, record: ckpt.RunRecord, started: float) -> TrainingFinished:
        from sneakerstudio.core.training.output import finish

        return finish(self, record, started)

    def close(self) -> None:
        for hook in getattr(self, "_hooks", []):
            hook.remove()
        self.model = None  # type: ignore[assignment]
