"""ControlNet preprocessors that run a small network ("annotators": HED and PiDiNet soft
edges, line art, anime line art, M-LSD straight lines, OpenPose body, Depth Anything / DPT
depth and the normal map from it, ADE20K segmentation) on weight files the user already has.

`run_preprocessor(image, name, options, near=...)` runs any preprocessor, weight-free or not.
The networks are built here from their published architectures (no controlnet-aux: it needs
torchvision, which cannot be imported with the CPU build of torch) or taken from transformers
(depth). Files are read safely: safetensors, or a pickle through the subprocess conversion.
"""

from sneakerstudio.core.annotators.locate import AnnotatorMissingError, annotator_roots
from sneakerstudio.core.annotators.run import forget_loaded, run_preprocessor

__all__ = ["AnnotatorMissingError", "annotator_roots", "forget_loaded", "run_preprocessor"]
