"""Running a job: the engine (orchestration), prompt conditioning, the sampling loop, inpaint
planning, previews, decoding, recovery and the hires pass."""
