"""The cluster backend's typed errors: each says what went wrong and what to do."""

from __future__ import annotations

from sneakerstudio.core.protocol.errors import SneakerError

INSTALL_HINT = (
    'Install it with `pip install "sneakerstudio[cluster]"` (the same Ray and Python versions '
    "as the cluster), or choose the local backend."
)
ADDRESS_HINT = (
    "Check that the cluster's head is running (`ray start --head` on that machine) and the "
    "address: HOST:PORT of the head (port 6379 unless it was started with another) or "
    "ray://HOST:10001 for Ray Client; a cluster with token authentication (Ray's default) needs "
    "its token here too (~/.ray/auth_token, or RAY_AUTH_TOKEN). Or choose the local backend."
)


class ClusterError(SneakerError):
    """The cluster cannot be used: Ray missing, the address wrong or down, versions that do not
    match, no worker could start, or a worker was lost."""

    kind = "cluster"
