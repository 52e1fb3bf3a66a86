"""Backends that run jobs elsewhere. `ray_backend.RayBackend` runs them on a Ray cluster's
workers, each an actor holding our own core `Engine`. Ray is an optional extra
(`pip install "sneakerstudio[cluster]"`): nothing here imports it until a backend is prepared."""
