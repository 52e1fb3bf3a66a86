"""Which hub we ask, and which hosts a download may be sent on to.

The hub is `HF_ENDPOINT` (a mirror) or huggingface.co, read when a download starts. The hub
answers a file request by sending large files on to its storage hosts (`cas-bridge.xethub.hf.co`,
`cdn-lfs.hf.co` …); a redirect to any other host is refused, so a mirror or a man in the middle
cannot point the app at a server nobody chose. `SNEAKERSTUDIO_DOWNLOAD_HOSTS` (comma-separated
`host` or `host:port`) adds hosts for a mirror with storage of its own. Whatever the host, the
file's sha256 is checked before it is moved into the library.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "https://huggingface.co"
HUB_DOMAINS = ("huggingface.co", "hf.co")
EXTRA_HOSTS_VARIABLE = "SNEAKERSTUDIO_DOWNLOAD_HOSTS"


def endpoint() -> str:
    """The hub to ask: `HF_ENDPOINT` when set, else huggingface.co (no trailing slash)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip().rstrip("/")


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme, 0)
    try:
        port = parts.port or default
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def host_label(url: str) -> str:
    scheme, host, port = origin(url)
    default = {"http": 80, "https": 443}.get(scheme, 0)
    return host if port == default else f"{host}:{port}"


def allowed(url: str, hub: str) -> bool:
    """Whether the app may fetch `url` while downloading from `hub`: the hub itself, a
    Hugging Face host over HTTPS, or a host the user listed in SNEAKERSTUDIO_DOWNLOAD_HOSTS."""
    target = origin(url)
    if target == origin(hub):
        return True
    scheme, host, _port = target
    if scheme == "https" and any(host == d or host.endswith("." + d) for d in HUB_DOMAINS):
        return True
    extra = {h.strip().lower() for h in os.environ.get(EXTRA_HOSTS_VARIABLE, "").split(",")}
    return host_label(url) in extra or host in extra
