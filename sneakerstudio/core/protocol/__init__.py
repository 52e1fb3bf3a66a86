"""What the window, the command line and any backend exchange: the request, the events, the
cancel token, typed errors, sampler names, presets and the prompt grammar. Pure data: no torch,
no diffusers, cheap to import."""
