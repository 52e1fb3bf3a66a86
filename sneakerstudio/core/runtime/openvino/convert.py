"""Converting models to OpenVINO in a child process: one child per model file that loads the
file once and converts the UNet and the VAE one after the other, niced, reporting progress on
its stdout and stoppable at any time.

Tracing and OpenVINO's conversion hold the GIL for long stretches (measured: up to 250 ms at a
time for the tiny test UNet, more for a full-size one), which would freeze the window; the
child loads the same file through the same loader and saves the converted models to the cache
folder, each atomically (`graph._save`). A `Conversion` runs either in the background (the
job goes on on PyTorch and the next job finds the converted model) or waited for.

The child outlives its parent when that exits (a command-line run starts a conversion and
ends; the next run finds the result); `cancel` stops it and removes what it had written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from sneakerstudio.core.runtime.openvino import support

NICE = 10  # the converter's niceness: the job on PyTorch (and the window) come first


class Conversion:
    """One converter process for one model file and the graphs (`OpenVinoGraph`s) it
    converts. At most one per set of output folders in this process (`running_for`)."""

    _running: ClassVar[dict[str, Conversion]] = {}  # output folder → its conversion
    _lock = threading.Lock()

    def __init__(self, graphs: Sequence[Any], source: str) -> None:
        self.graphs = list(graphs)
        self.source = source
        self.folders = [graph.folder for graph in self.graphs]
        self.progress = 0.0  # 0..1, from the child's lines
        self.phase = "starting"
        self.error: str | None = None
        self.started = time.perf_counter()
        self.seconds: float | None = None  # how long it took, once done
        self._errors: list[str] = []
        command = [sys.executable, "-m", support.CONVERTER_MODULE, source]
        command += [f"{graph.kind}={graph.folder}" for graph in self.graphs]
        for graph in self.graphs:  # what a graph's loading needs besides the file
            command += getattr(graph, "child_arguments", list)()
        self.child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # outlives the parent; a Ctrl+C there is not for it
        )
        threading.Thread(target=self._read, args=(self.child.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.child.stderr, False), daemon=True).start()

    # -- starting and finding -----------------------------------------------------------------

    @classmethod
    def start(cls, graphs: Sequence[Any], source: str) -> Conversion:
        """The running conversion for these graphs, or a new one."""
        with cls._lock:
            for graph in graphs:
                running = cls._running.get(str(graph.folder))
                if running is not None and running.state() == "running":
                    return running
            conversion = cls(graphs, source)
            for folder in conversion.folders:
                cls._running[str(folder)] = conversion
            return conversion

    @classmethod
    def running_for(cls, graph: Any) -> Conversion | None:
        """The conversion of this process that is converting `graph`, if one is running."""
        conversion = cls._running.get(str(graph.folder))
        if conversion is not None and conversion.state() == "running":
            return conversion
        return None

    @classmethod
    def every(cls) -> list[Conversion]:
        """Every conversion this process started and still knows (running, or ended and not
        replaced since), oldest first."""
        with cls._lock:
            return list(dict.fromkeys(cls._running.values()))

    @classmethod
    def cancel_all(cls) -> None:
        """Stop every conversion of this process (the app quits, tests end)."""
        for conversion in set(cls._running.values()):
            conversion.cancel()

    # -- state --------------------------------------------------------------------------------

    def _read(self, stream: Any, progress: bool) -> None:
        with contextlib.suppress(Exception):
            for line in stream:
                if not progress:
                    self._errors = [*self._errors[-40:], line.rstrip()]
                    continue
                parts = line.strip().split(" ", 2)
                if len(parts) == 3 and parts[0] == "progress":
                    with contextlib.suppress(ValueError):
                        self.progress = float(parts[1])
                    self.phase = parts[2]

    def state(self) -> str:
        """ "running", "done", "failed" or "cancelled"."""
        code = self.child.poll()
        if code is None:
            return "running"
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.started
        if self.error is not None:
            return "cancelled" if self.error == "cancelled" else "failed"
        if code != 0:
            time.sleep(0.05)  # let the reader threads take the last lines
            lines = [line for line in self._errors if line.strip()]
            last = lines[-1] if lines else "no message"
            self.error = f"the converter stopped with exit code {code}: {last}"
            return "failed"
        return "done"

    def describe(self) -> str:
        """For the status line: what it is doing and how far it is."""
        return f"{self.phase}, {self.progress:.0%}"

    def wait(self, poll: Callable[[], None] = lambda: None) -> None:
        """Wait for it to finish; `poll` may raise to stop it (then it is cancelled).
        Raises RuntimeError when the conversion failed."""
        try:
            while self.state() == "running":
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.child.wait(timeout=support.POLL_S)
                poll()
        except BaseException:
            self.cancel()
            raise
        if self.state() != "done":
            raise RuntimeError(self.error or "the conversion was stopped")

    def cancel(self) -> None:
        """Stop the child now and remove what it had written (finished graphs stay)."""
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
            self.error = "cancelled"
        for folder in self.folders:
            partial = folder.with_name(f"{folder.name}.partial-{self.child.pid}")
            shutil.rmtree(partial, ignore_errors=True)
        with self._lock:
            for folder in self.folders:
                if self._running.get(str(folder)) is self:
                    del self._running[str(folder)]


def converting_elsewhere(folder: Path) -> bool:
    """Another process (another window, a command-line run that has ended) is converting into
    `folder` now: its converter's `.partial-<pid>` folder exists and that process is alive."""
    for partial in folder.parent.glob(f"{folder.name}.partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        if any(int(pid) == c.child.pid for c in Conversion._running.values()):
            continue  # our own child
        try:
            os.kill(int(pid), 0)
        except (OSError, ValueError):
            continue
        return True
    return False


# -- the child ----------------------------------------------------------------------------------


class _Tolerant:
    """The child's stdout or stderr, which stops writing once the reader has gone: a
    command-line run that started the conversion ends and closes the pipes, and a write there
    (a progress line, a library's progress bar) must not end the conversion."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return int(self._stream.write(text))
            except (OSError, ValueError):
                self._gone = True
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._gone = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


PART_NAMES = {"unet": "UNet", "vae": "VAE", "taesd": "fast decoder", "controlnet": "ControlNet"}


def _say(fraction: float, text: str) -> None:
    """One progress line for the parent; the parent may be gone (then nobody listens)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"progress {fraction:.2f} {text}", flush=True)


def _convert_main(argv: list[str]) -> int:
    """`python -m sneakerstudio.core.runtime.openvino.convert SOURCE KIND=OUT…` loads SOURCE (a
    model file or folder for "unet" and "vae", a TAESD folder for "taesd", a ControlNet file or
    folder for "controlnet", with `--unet-config=JSON`: the UNet it is loaded for) once, the
    way the engine does, in fp32 on the CPU, converts each KIND and writes its IR to OUT."""
    import json

    import torch

    from sneakerstudio.core.runtime.openvino.cache import prune_cache
    from sneakerstudio.core.runtime.openvino.decoders import OpenVinoTinyDecoder, OpenVinoVae
    from sneakerstudio.core.runtime.openvino.graph import OpenVinoGraph
    from sneakerstudio.core.runtime.openvino.unet import OpenVinoUnet

    options = [item for item in argv[1:] if item.startswith("--")]
    unet_config: dict[str, Any] = {}
    for option in options:
        if option.startswith("--unet-config="):
            unet_config = json.loads(option.split("=", 1)[1])
    items = [item for item in argv[1:] if not item.startswith("--")]
    source, outputs = argv[0], [item.split("=", 1) for item in items]
    sys.stdout, sys.stderr = _Tolerant(sys.stdout), _Tolerant(sys.stderr)
    if hasattr(os, "nice"):  # a background chore: the window (and the user) come first
        with contextlib.suppress(OSError):
            os.nice(NICE)
    for _kind, out in outputs:  # "being converted" for other processes
        partial = Path(out).with_name(f"{Path(out).name}.partial-{os.getpid()}")
        partial.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    _say(0.02, "loading the model")
    graphs: list[tuple[OpenVinoGraph, Path]] = []
    if any(kind in ("unet", "vae") for kind, _ in outputs):
        from sneakerstudio.core.models.loading import load_model

        pipe = load_model(Path(source), device="cpu", dtype=torch.float32).pipe
        for kind, out in outputs:
            if kind == "unet":
                graphs.append((OpenVinoUnet(pipe.unet, (source,), Path(out).parent, 1), Path(out)))
            elif kind == "vae":
                graphs.append((OpenVinoVae(pipe.vae, (source,), Path(out).parent, 1), Path(out)))
    for kind, out in outputs:
        if kind == "taesd":
            from diffusers import AutoencoderTiny

            tiny = AutoencoderTiny.from_pretrained(source, local_files_only=True).eval()
            graphs.append((OpenVinoTinyDecoder(tiny, source, Path(out).parent, 1), Path(out)))
        elif kind == "controlnet":
            from sneakerstudio.core.models.controlnet import load_controlnet
            from sneakerstudio.core.runtime.openvino.controlnet import OpenVinoControlNet

            model = load_controlnet(Path(source), unet_config, dtype=torch.float32)
            runner = OpenVinoControlNet(model, (source,), Path(out).parent, 1, unet_config)
            graphs.append((runner, Path(out)))
        elif kind not in ("unet", "vae"):
            raise SystemExit(f"unknown kind {kind!r}")
    ov = support.import_openvino()
    share = 0.9 / max(1, len(graphs))
    for index, (graph, target) in enumerate(graphs):
        base = 0.1 + index * share
        part = PART_NAMES.get(graph.kind, graph.kind)
        _say(base, f"converting the {part}")
        t0 = time.perf_counter()
        converted, compressed = graph._convert(ov)
        _say(base + share * 0.7, f"saving the {part}")
        graph._save(ov, converted, compressed, time.perf_counter() - t0, target)
        prune_cache(target.parent, support.KEEP_CONVERTED)
        del converted
        graph.module = None  # its weights are no longer needed here
    _say(1.0, "done")
    return 0


if __name__ == "__main__":
    raise SystemExit(_convert_main(sys.argv[1:]))
