# ruff: noqa: F811  (pytest fixtures imported from tests/qt/conftest.py are parameters here)
"""Hostile and damaged `.sneaker` projects (issue #22, projects): zip bombs, absurd or missing
sizes, numbers JSON can write but Python cannot use, encrypted members, unknown compression,
broken deflate streams, layers that do not match, parameters out of every range.

Each is refused by `load_project` with a `ProjectError` whose message says what is wrong and what
to do, quickly and without inflating anything big; in the window the open canvas, its undo
history and the panels stay exactly as they were. Parameters that are merely bad are dropped
one by one and the rest of the project opens.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF

from sneakerstudio.core.protocol.request import MAX_SIZE
from sneakerstudio.qt.document import Brush, _blank
from sneakerstudio.qt.project import (
    PROJECT_FORMAT,
    Project,
    ProjectError,
    _png_bytes,
    load_project,
    save_project,
)
from sneakerstudio.qt.project_read import MAX_JSON_BYTES, layer_cap
from tests.qt.conftest import (  # noqa: F401  (fixtures, shared with the window tests)
    engine,
    make_window,
    model_file,
    no_running_qthreads,
    sneaker_home,
)

AGAIN = "Open another project, or start a new canvas"


def _meta(**fields: Any) -> dict[str, Any]:
    return {"format": PROJECT_FORMAT, "version": 1, "width": 64, "height": 64, **fields}


def _zip(path: Path, members: dict[str, bytes | str], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _project(path: Path, meta: dict[str, Any] | str, **layers: bytes) -> Path:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return _zip(path, {"project.json": text, **layers})


def _patch_method(path: Path, method: int) -> Path:
    """Rewrite every member's compression method (local and central headers) to `method`."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            data[at + offset : at + offset + 2] = method.to_bytes(2, "little")
            start = at + 4
    path.write_bytes(bytes(data))
    return path


def _encrypted(path: Path) -> Path:
    """A project whose project.json claims to be encrypted (the flag ZipCrypto sets)."""
    _project(path, _meta())
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + offset] |= 0x1
    path.write_bytes(bytes(data))
    return path


def _broken_deflate(path: Path) -> Path:
    """project.json deflated, then its compressed bytes overwritten with garbage."""
    _zip(path, {"project.json": json.dumps(_meta(params={"p": "x" * 4000}))}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x03\x04") + 30 + len("project.json")
    data[start + 2 : start + 40] = b"\xff" * 38
    path.write_bytes(bytes(data))
    return path


def _png(width: int, height: int) -> bytes:
    return _png_bytes(_blank(width, height))


def _zip_bomb(path: Path) -> Path:
    """A 64×64 project whose mask member inflates to 256 MB (about 250 KB on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.json", json.dumps(_meta()))
        with archive.open("mask.png", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(256):
                member.write(block)
    return path


HOSTILE: dict[str, Any] = {
    "zip bomb member": (_zip_bomb, "would unpack to"),
    "12000² canvas in 237 bytes": (
        lambda p: _project(p, _meta(width=12000, height=12000)),
        "12000×12000",
    ),
    "zero size": (lambda p: _project(p, _meta(width=0, height=0)), "0×0"),
    "negative size": (lambda p: _project(p, _meta(width=-512, height=512)), "-512×512"),
    "size as text": (lambda p: _project(p, _meta(width="512")), "no valid document size"),
    "size as a list": (lambda p: _project(p, _meta(height=[512])), "no valid document size"),
    "size 1e400 (infinity)": (
        lambda p: _project(p, json.dumps(_meta()).replace('"width": 64', '"width": 1e400')),
        "no valid document size",
    ),
    "size NaN": (
        lambda p: _project(p, json.dumps(_meta()).replace('"width": 64', '"width": NaN')),
        "no valid document size",
    ),
    "size 10^30": (lambda p: _project(p, _meta(width=10**30)), "canvas is"),
    "size of 5,000 digits": (
        lambda p: _project(p, json.dumps(_meta()).replace('"width": 64', '"width": ' + "9" * 5000)),
        "not a readable Sneaker Studio project",
    ),
    "params nested 100,000 deep": (
        lambda p: _project(p, json.dumps(_meta())[:-1] + ', "params": ' + "[" * 100_000 + "}"),
        "nested too deeply",
    ),
    "frame too wide": (
        lambda p: _project(p, _meta(extents=[0, 0, 0, MAX_SIZE])),
        "outpaint frame",
    ),
    "frame of infinities": (
        lambda p: _project(
            p, json.dumps(_meta(extents=[0, 0, 0, 0])).replace("[0, 0, 0, 0]", "[1e400, 0, 0, 0]")
        ),
        "outpaint frame",
    ),
    "frame negative": (lambda p: _project(p, _meta(extents=[-8, 0, 0, 0])), "outpaint frame"),
    "frame as text": (lambda p: _project(p, _meta(extents="left")), "outpaint frame"),
    "encrypted member": (_encrypted, "encrypted"),
    "unsupported compression": (
        lambda p: _patch_method(_project(p, _meta()), 99),
        "not a readable Sneaker Studio project",
    ),
    "broken deflate stream": (_broken_deflate, "not a readable Sneaker Studio project"),
    "project.json over the cap": (
        lambda p: _project(p, _meta(params={"prompt": "x" * (MAX_JSON_BYTES + 10)})),
        "project.json would unpack to",
    ),
    "not UTF-8": (lambda p: _zip(p, {"project.json": b"\xff\xfe{}"}), "not UTF-8"),
    "no project.json": (lambda p: _zip(p, {"other.json": "{}"}), "no project.json"),
    "not ours": (lambda p: _project(p, {"format": "krita"}), "not a Sneaker Studio project"),
    "too many members": (
        lambda p: _zip(p, {"project.json": json.dumps(_meta()), **{f"{i}": "" for i in range(99)}}),
        "100 members",
    ),
    "layer larger than the canvas": (
        lambda p: _project(p, _meta(), **{"image.png": _png(4096, 4096)}),
        "layer image.png",
    ),
    "layer not a PNG": (
        lambda p: _project(p, _meta(), **{"sketch.png": b"GIF89a" + b"\0" * 40}),
        "layer sketch.png",
    ),
    "layer truncated": (
        lambda p: _project(p, _meta(), **{"mask.png": _png(64, 64)[:60]}),
        "layer mask.png",
    ),
    "a folder": (lambda p: (p.mkdir(), p)[1], "not a regular file"),
    "not a zip": (lambda p: (p.write_bytes(b"PK\x03\x04 garbage"), p)[1], "not a readable"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_project_is_refused_quickly_with_a_typed_error(tmp_path: Path, case: str) -> None:
    build, words = HOSTILE[case]
    path = build(tmp_path / "hostile.sneaker")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ProjectError) as caught:
            load_project(path)
        took = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert words in message, message
    assert "hostile.sneaker" in message
    assert AGAIN in message or "does not exist" in message
    assert took < 2.0, f"{case}: {took:.2f} s"
    assert peak < 40 << 20, f"{case}: {peak / 2**20:.0f} MiB allocated"


def test_a_zip_bomb_that_lies_about_its_size_is_read_through_the_cap(tmp_path: Path) -> None:
    """The declared size is only a first check: a member that claims 1,000 bytes but inflates
    to 64 MB is read no further than the claim (then its checksum fails)."""
    path = tmp_path / "liar.sneaker"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.json", json.dumps(_meta()))
        archive.writestr("mask.png", b"\0" * (64 << 20))
    data = bytearray(path.read_bytes())
    local, central = data.find(b"mask.png") - 30, data.rfind(b"mask.png") - 46  # its headers
    assert data[local : local + 4] == b"PK\x03\x04" and data[central : central + 4] == b"PK\x01\x02"
    for at in (local + 22, central + 24):  # the uncompressed size, in each
        data[at : at + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("mask.png").file_size == 1000
    tracemalloc.start()
    try:
        with pytest.raises(ProjectError, match="not a readable Sneaker Studio project"):
            load_project(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated"
    assert layer_cap(64, 64) < 2 << 20


def _edited_window(make_window):
    window = make_window(start=False)
    window.params.set_values({"prompt": "the canvas I care about", "steps": 17})
    window.mode_panel.set_values({"mask_blur": 9})
    window.doc.begin_stroke("mask", Brush(20, 1.0))
    for x, y in ((40, 40), (90, 70)):
        window.doc.stroke_to(QPointF(x, y))
    window.doc.end_stroke()
    return window


def _fingerprint(window) -> tuple:
    doc = window.doc
    return (
        doc.width,
        doc.height,
        doc.extents,
        doc.revision,
        doc.undo_stack.count(),
        doc.mask.cacheKey(),
        window.params.values()["prompt"],
        window.params.values()["steps"],
        window.mode_panel.values()["mask_blur"],
        str(window.model()),
    )


@pytest.mark.parametrize(
    "case", ["zip bomb member", "12000² canvas in 237 bytes", "zero size", "layer truncated"]
)
def test_in_the_window_a_refused_project_leaves_everything_as_it_was(
    make_window, tmp_path: Path, case: str
) -> None:
    window = _edited_window(make_window)
    before = _fingerprint(window)
    path = HOSTILE[case][0](tmp_path / "hostile.sneaker")
    assert not window.load_project_file(path)
    assert HOSTILE[case][1] in window.banner.text()
    assert "Your canvas is unchanged" in window.banner.text()
    assert _fingerprint(window) == before


def test_parameters_out_of_range_are_dropped_one_by_one_and_the_rest_opens(
    make_window, tmp_path: Path
) -> None:
    """A `mask_blur` of 10^30 used to raise after the layers were already replaced."""
    window = _edited_window(make_window)
    params = {
        "prompt": "a shoe from a stranger",
        "steps": 12,
        "mask_blur": 10**30,
        "padding": -(10**40),
        "strength": "NaN",
        "guidance": [7],
        "seed": {"nested": True},
        "negative_prompt": "x\0y",
    }
    text = json.dumps(_meta(params=params, model="\0" * 5000)).replace('"NaN"', "NaN")
    path = _project(tmp_path / "odd.sneaker", text)
    project = load_project(path)
    assert project.params == {"prompt": "a shoe from a stranger", "steps": 12}
    assert project.model is None
    assert window.load_project_file(path)
    assert window.params.values()["prompt"] == "a shoe from a stranger"
    assert window.mode_panel.values()["mask_blur"] == 9  # dropped, not applied
    assert not window.doc.has_mask()  # the project's (empty) layers replaced the old ones


def test_the_window_panels_clamp_what_a_project_or_png_gives(make_window) -> None:
    """The panels themselves take no number they cannot hold (defence in depth)."""
    window = make_window(start=False)
    panel = window.mode_panel
    panel.set_values({"mask_blur": 10**30, "padding": -(10**30), "strength": float("nan")})
    values = panel.values()
    assert values["mask_blur"] == panel.mask_blur.maximum()
    assert values["padding"] == panel.padding.minimum()
    assert values["strength"] == values["strength"]  # not NaN


def test_a_model_path_this_system_cannot_use_is_ignored(make_window, tmp_path: Path) -> None:
    window = make_window(start=False)
    path = _project(tmp_path / "long.sneaker", _meta(model="/" + "a" * 4000))
    assert window.load_project_file(path)
    assert window.model() is None


def test_after_opening_a_project_autosave_works(qtbot, make_window, tmp_path: Path) -> None:
    """Zero or negative sizes used to open as null layers, and autosave then failed silently."""
    window = make_window(start=False)
    state = window.doc.state()
    path = save_project(tmp_path / "ok.sneaker", Project(state, {"prompt": "kept"}))
    assert window.load_project_file(path)
    window.autosaver.save_now(wait=True)
    assert window.autosaver.last_error == ""
    assert load_project(window.autosaver.path).params["prompt"] == "kept"
