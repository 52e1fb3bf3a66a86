"""LoRA training on the user's own images: data set, buckets, the peft loop, kohya export,
checkpoints and resume. A job kind of its own, run by the engine in the same worker as
generation (`Engine.train`); see `trainer.py`."""
