"""OpenVINO for CPU jobs: the UNet (about 1.2-1.45x faster per step than PyTorch on this
project's 2-core CPU), the VAE decoder and the TAESD fast decoder, same maths
(docs/PERFORMANCE.md).

Once per model, the loaded PyTorch modules are traced into OpenVINO models by one child process
that loads the file once (`convert.py`); by default that runs in the background while the
model's first job runs on PyTorch, and the next job uses OpenVINO. The converted models are
kept in the cache folder (`<cache>/openvino/<kind>/<key>/`; fp16 weights when that loses
nothing); later sessions read them back in a fraction of a second. Per input size the model is
compiled (seconds), and OpenVINO's own model cache (`<cache>/openvino/compiled/`) keeps the
compiled model for the next process.

LoRAs run on OpenVINO as extra inputs of the compiled model (`lora.py`): a new weight is new
data, another set of layers compiles once more, nothing is converted again. ControlNets run
on OpenVINO too (`controlnet.py`, converted in the background like the UNet); their residuals
are inputs of the UNet's "control" variant (`unet.py`).

PyTorch's modules stay loaded and run instead whenever OpenVINO cannot give the same image: a
latent size the trace does not cover, weights that are not fp32, too little free memory for a
second copy of the UNet, a LoRA layer the graph does not have, the model still being converted,
or any OpenVINO error (the reason goes into the job's info; the job goes on). The choice is the
user's: `SNEAKERSTUDIO_CPU_RUNTIME=torch` (or `Engine(cpu_runtime="torch")`) turns it off; the
default is OpenVINO when the package is installed.

No heavy import here: torch and openvino are imported inside the functions that use them.
"""

from sneakerstudio.core.runtime.openvino.cache import prune_cache
from sneakerstudio.core.runtime.openvino.controlnet import OpenVinoControlNet
from sneakerstudio.core.runtime.openvino.convert import Conversion
from sneakerstudio.core.runtime.openvino.decoders import OpenVinoTinyDecoder, OpenVinoVae
from sneakerstudio.core.runtime.openvino.graph import OpenVinoGraph
from sneakerstudio.core.runtime.openvino.lora import LayerLora
from sneakerstudio.core.runtime.openvino.support import (
    CONVERT_ENV,
    RUNTIME_ENV,
    RUNTIMES,
    convert_in_background,
    import_openvino,
    openvino_installed,
    runtime_wanted,
)
from sneakerstudio.core.runtime.openvino.unet import OpenVinoUnet, UnetInputs

__all__ = [
    "CONVERT_ENV",
    "RUNTIMES",
    "RUNTIME_ENV",
    "Conversion",
    "LayerLora",
    "OpenVinoControlNet",
    "OpenVinoGraph",
    "OpenVinoTinyDecoder",
    "OpenVinoUnet",
    "OpenVinoVae",
    "UnetInputs",
    "convert_in_background",
    "import_openvino",
    "openvino_installed",
    "prune_cache",
    "runtime_wanted",
]
