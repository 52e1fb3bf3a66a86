"""Property-based fuzzing of the parsers that read strangers' bytes.

- the safetensors header reader (`core/models/header.py`): only `ModelFileError` (and its
  subclass `UnsafeFileError`) may escape, and a header it accepts really is well formed;
- the PNG metadata reader (`core/imaging/metadata/`): whole files, and the A1111 parameters text:
  only `ImageFileError` may escape, and only for the file as a whole;
- the prompt parser (`core/protocol/prompt.py`): never raises, weights always finite;
- every JSON reader (`core/files/json_safe.py` and the sidecar, `ss_tag_frequency`, header,
  `model_index.json`, folder-list and metadata-chunk readers on top of it) fed `NaN`,
  `Infinity`, huge numbers and nesting around every depth limit: only the documented errors, and
  nothing unsound comes back;
- ComfyUI graphs whose links loop back to their own node or fan out to the next: read in
  bounded time;
- `extra_model_paths.yaml` with anchors and aliases (billion laughs) and deep nesting: read in
  bounded time, aliases never expanded into text.

CI runs `fuzz_examples()` cases per property (300); by hand: `FUZZ_EXAMPLES=10000 pytest -m fuzz
tests/robustness/test_fuzz.py`. Examples are derandomized in CI so a failure reproduces; set
`FUZZ_RANDOM=1` to explore new cases.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sneakerstudio.core.files import json_safe
from sneakerstudio.core.imaging.metadata import (
    format_info,
    parse_parameters,
    parse_params_line,
    read_png_metadata,
)
from sneakerstudio.core.models.header import (
    DTYPE_BITS,
    check_header_dict,
    parse_header,
    read_header,
)
from sneakerstudio.core.protocol.errors import ImageFileError, ModelFileError
from sneakerstudio.core.protocol.prompt import MAX_WEIGHT, extract_lora_tags, parse_attention
from tests.robustness.conftest import fuzz_examples

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=fuzz_examples(),
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
# The properties that build large inputs (whole graphs, one file per JSON reader) run a third
# as many cases: their examples cost ~10× more to draw and run.
FUZZ_HEAVY = settings(FUZZ, max_examples=max(1, fuzz_examples() // 3))
SCRATCH = Path(tempfile.mkdtemp(prefix="sneaker-fuzz-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
FAKE = Path("fuzzed.safetensors")

# -- safetensors headers ------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=5,
)
dtypes = st.one_of(st.sampled_from(sorted(DTYPE_BITS)), json_values)
counts = st.one_of(st.integers(0, 64), st.integers(-5, 2**66), json_scalars)
shapes = st.one_of(st.lists(counts, max_size=4), json_values)
offsets = st.one_of(st.lists(counts, min_size=2, max_size=2), json_values)
entries = st.one_of(
    st.fixed_dictionaries({"dtype": dtypes, "shape": shapes, "data_offsets": offsets}),
    json_values,
)
metadata = st.one_of(
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3), json_values
)


@st.composite
def headers(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly-valid headers: contiguous tensors built from real dtypes and shapes, then a few
    things broken at random (an entry replaced, an offset shifted, metadata of the wrong type)."""
    header: dict[str, Any] = {}
    position = 0
    for i in range(draw(st.integers(0, 4))):
        dtype = draw(st.sampled_from(["F16", "F32", "U8", "BF16", "F4", "I64"]))
        shape = draw(st.lists(st.integers(0, 6), max_size=3))
        numel = math.prod(shape)
        size = numel * DTYPE_BITS[dtype] // 8
        header[f"t{i}"] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [position, position + size],
        }
        position += size
    for _ in range(draw(st.integers(0, 2))):
        header[draw(st.text(max_size=4))] = draw(entries)
    if draw(st.booleans()):
        header["__metadata__"] = draw(metadata)
    return header


def _check_accepted(tensors: dict, data_size: int) -> None:
    """What an accepted header guarantees: contiguous offsets from 0 to the end of the data."""
    position = 0
    for info in sorted(tensors.values(), key=lambda t: t.data_offsets):
        assert info.data_offsets[0] == position
        position = info.data_offsets[1]
    assert position == data_size


@FUZZ
@given(header=headers(), extra=st.integers(-3, 3))
def test_safetensors_header_dicts(header: dict[str, Any], extra: int) -> None:
    sizes = [
        e["data_offsets"][1]
        for e in header.values()
        if isinstance(e, dict)
        and isinstance(e.get("data_offsets"), list)
        and len(e["data_offsets"]) == 2
        and isinstance(e["data_offsets"][1], int)
    ]
    data_size = max([0, *sizes]) + (extra if extra > 0 else 0)
    try:
        tensors, meta = check_header_dict(header, data_size=data_size, path=FAKE)
    except ModelFileError as exc:
        assert str(exc)
        return
    _check_accepted(tensors, data_size)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        headers().map(lambda h: json.dumps(h).encode()),
        st.builds(lambda h, cut: json.dumps(h).encode()[:cut], headers(), st.integers(0, 60)),
        st.builds(lambda n: b"[" * n + b"]" * n, st.sampled_from([10, 999, 1001, 5000])),
        st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.sampled_from([10, 1001, 5000])),
    ),
    data_size=st.integers(0, 2**64),
)
def test_safetensors_header_bytes(raw: bytes, data_size: int) -> None:
    try:
        tensors, _ = parse_header(raw, data_size=data_size, path=FAKE)
    except ModelFileError as exc:
        assert str(exc)
        return
    _check_accepted(tensors, data_size)


@FUZZ
@given(
    head=st.one_of(
        st.binary(max_size=24),
        st.builds(lambda n: struct.pack("<Q", n), st.integers(0, 2**64 - 1)),
        st.sampled_from([b"PK\x03\x04", b"\x80\x02", b"\x80\x04\x95"]),
    ),
    body=st.one_of(st.binary(max_size=64), headers().map(lambda h: json.dumps(h).encode())),
)
def test_safetensors_whole_files(head: bytes, body: bytes) -> None:
    path = SCRATCH / "fuzzed.safetensors"
    path.write_bytes(head + body)
    try:
        read_header(path)
    except ModelFileError as exc:
        assert str(exc)


# -- PNG metadata -------------------------------------------------------------------------------

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_KEYS = [
    "parameters",
    "prompt",
    "workflow",
    "sneakerstudio",
    "invokeai_metadata",
    "sd-metadata",
    "Comment",
    "Software",
    "Description",
    "fooocus_scheme",
]


def _chunk(ctype: bytes, data: bytes, good_crc: bool = True) -> bytes:
    crc = zlib.crc32(ctype + data) if good_crc else zlib.crc32(data) ^ 1
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


param_texts = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "Steps",
                    "Sampler",
                    "CFG scale",
                    "Seed",
                    "Size",
                    "Model",
                    "Lora hashes",
                    "Negative prompt",
                    "Version",
                    "Schedule type",
                ]
            ),
            st.text(alphabet=' ,:"\\\nx0123456789.-eE{}[]', max_size=12),
            st.sampled_from(
                [
                    "0",
                    "-1",
                    "20",
                    "1.5",
                    "nan",
                    "inf",
                    "1e308",
                    "512x768",
                    "-5x0",
                    "99999999999999999999999",
                    "0x0",
                    "1" + "0" * 30,
                ]
            ),
        ),
        max_size=30,
    ).map("".join),
)


@st.composite
def text_chunks(draw: st.DrawFn) -> bytes:
    key = draw(st.one_of(st.sampled_from(TEXT_KEYS), st.text(max_size=90))).encode(
        "utf-8", "replace"
    )
    value = draw(
        st.one_of(
            param_texts,
            json_values.map(lambda v: json.dumps(v, allow_nan=True)),
            st.sampled_from(["{", "[" * 3000, '{"1": {"inputs": {"seed": ["1", 0]}}}']),
        )
    ).encode("utf-8", "surrogatepass")
    kind = draw(st.sampled_from([b"tEXt", b"zTXt", b"iTXt"]))
    if kind == b"zTXt":
        data = (
            key
            + b"\0"
            + draw(st.sampled_from([b"\0", b"\1", b""]))
            + (zlib.compress(value) if draw(st.booleans()) else value)
        )
    elif kind == b"iTXt":
        flag = draw(st.sampled_from([b"\0", b"\1"]))
        body = zlib.compress(value) if flag == b"\1" and draw(st.booleans()) else value
        data = (
            key + b"\0" + flag + b"\0" + draw(st.sampled_from([b"en\0\0", b"\0\0", b"\0"])) + (body)
        )
    else:
        data = key + b"\0" + value
    return _chunk(kind, data, draw(st.booleans()) or draw(st.booleans()))


@st.composite
def png_files(draw: st.DrawFn) -> bytes:
    width = draw(st.one_of(st.integers(0, 64), st.sampled_from([2**31 - 1, 2**32 - 1, 65535])))
    height = draw(st.one_of(st.integers(0, 64), st.sampled_from([2**31 - 1, 65535])))
    depth = draw(st.sampled_from([1, 2, 4, 8, 16, 3]))
    color = draw(st.sampled_from([0, 2, 3, 4, 6, 5]))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    chunks = [_chunk(b"IHDR", draw(st.sampled_from([ihdr, ihdr[:7], ihdr + b"x"])))]
    for _ in range(draw(st.integers(0, 5))):
        chunks.append(
            draw(
                st.one_of(
                    text_chunks(),
                    st.builds(
                        _chunk,
                        st.sampled_from([b"IDAT", b"PLTE", b"tRNS", b"eXIf", b"abcd"]),
                        st.binary(max_size=40),
                    ),
                    st.binary(max_size=16),  # junk where a chunk should be
                )
            )
        )
    if draw(st.booleans()):
        chunks.append(_chunk(b"IEND", b""))
    data = SIGNATURE + b"".join(chunks)
    cut = draw(st.one_of(st.none(), st.integers(8, max(8, len(data)))))
    return data if cut is None else data[:cut]


@FUZZ
@given(data=st.one_of(png_files(), st.binary(max_size=100).map(lambda b: SIGNATURE + b)))
def test_png_metadata_whole_files(data: bytes) -> None:
    path = SCRATCH / "fuzzed.png"
    path.write_bytes(data)
    try:
        meta = read_png_metadata(path)
    except ImageFileError as exc:
        assert str(exc)
        return
    assert isinstance(format_info(meta), str)
    assert meta["steps"] is None or isinstance(meta["steps"], int)
    assert meta["cfg"] is None or math.isfinite(meta["cfg"])
    assert meta["seed"] is None or 0 <= meta["seed"] < 2**64


def _exif_file(fmt: str) -> bytes:
    """A small JPEG or WebP with what A1111 and ComfyUI write: EXIF UserComment, `prompt:` in
    ImageDescription, and (JPEG) a comment."""
    import io

    from PIL import Image

    image = Image.new("RGB", (8, 8))
    exif = image.getexif()
    exif[0x010E] = 'prompt:{"1": {"inputs": {}}}'
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "a shoe\nSteps: 20".encode("utf-16-be")
    buffer = io.BytesIO()
    extra = {"comment": b"a comment"} if fmt == "JPEG" else {}
    image.save(buffer, fmt, exif=exif.tobytes(), **extra)
    return buffer.getvalue()


EXIF_FILES = {fmt: _exif_file(fmt) for fmt in ("JPEG", "WEBP")}


@FUZZ
@given(
    fmt=st.sampled_from(sorted(EXIF_FILES)),
    edits=st.lists(st.tuples(st.integers(2, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(3, 10**6)),
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_jpeg_and_webp_metadata_mutated(fmt: str, edits: list[tuple[int, int]], cut) -> None:
    data = bytearray(EXIF_FILES[fmt])
    for position, value in edits:
        data[position % len(data)] = value
    path = SCRATCH / f"fuzzed.{fmt.lower()}"
    path.write_bytes(bytes(data if cut is None else data[:cut]))
    try:
        meta = read_png_metadata(path)
    except ImageFileError as exc:
        assert str(exc)
        return
    assert isinstance(format_info(meta), str)


@FUZZ
@given(text=param_texts)
def test_a1111_parameters_text(text: str) -> None:
    parsed = parse_parameters(text)
    assert isinstance(parsed["prompt"], str) and isinstance(parsed["negative_prompt"], str)
    for key, value in parse_params_line(text.split("\n")[-1]):
        assert isinstance(key, str) and isinstance(value, str)


# -- prompts ------------------------------------------------------------------------------------

prompt_texts = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.sampled_from(
            [
                "(",
                ")",
                "[",
                "]",
                ":",
                "\\",
                " ",
                ",",
                "BREAK",
                "a",
                "cat",
                "1.5",
                "0",
                "-2",
                "1" + "0" * 320,
                "<lora:",
                ">",
                "x:0.7>",
                "\x00",
                "👟",
                "é",
            ]
        ),
        max_size=120,
    ).map("".join),
)


@FUZZ
@given(text=prompt_texts)
def test_prompt_parser(text: str) -> None:
    fragments = parse_attention(text)
    assert fragments
    for fragment in fragments:
        assert math.isfinite(fragment.weight) and abs(fragment.weight) <= MAX_WEIGHT
        assert fragment.is_break or isinstance(fragment.text, str)
    stripped, tags = extract_lora_tags(text)
    assert len(stripped) <= len(text)
    assert all(isinstance(name, str) for name, _ in tags)


# -- JSON readers: NaN, Infinity, huge numbers, deep nesting ------------------------------------

HOSTILE_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e999",
    "1" + "0" * 45,
    "-" + "9" * 400,
    "1" + "0" * 4400,  # past int()'s 4,300 digits: a plain ValueError
    "0.5",
    "7",
    "-3",
]
JSON_KEYS = [
    "preferred weight",
    "activation text",
    "sd version",
    "path",
    "layout",
    "prompt",
    "steps",
    "seed",
    "guidance",
    "cfg",
    "width",
    "inputs",
    "class_type",
    "dtype",
    "shape",
    "data_offsets",
    "__metadata__",
    "10_subject",
    "tag",
    "_class_name",
    "text_encoder",
]
json_leaves = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(-(10**6), 10**6).map(str),
    st.text(max_size=6).map(json.dumps),
    st.sampled_from(["true", "false", "null", '"F16"', '"sd1"']),
)
json_docs = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")
        | st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=5).map(
            lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}"
        )
    ),
    max_leaves=14,
)
hostile_json = st.one_of(
    json_docs,
    st.builds(  # the same, wrapped just under, at and past every depth limit that matters
        lambda n, core: '{"a":' + "[" * n + core + "]" * n + "}",
        st.sampled_from([6, 62, 63, 64, 70, 985, 990, 996, 3000, 100_000]),
        json_docs,
    ),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)


def _all_numbers_sound(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif (isinstance(item, float) and not math.isfinite(item)) or (
            isinstance(item, int) and abs(item) > json_safe.MAX_INT
        ):
            return False
    return True


@FUZZ
@given(text=hostile_json, lenient=st.booleans())
def test_the_safe_json_reader(text: str, lenient: bool) -> None:
    try:
        value = json_safe.loads(text, lenient_numbers=lenient)
    except json_safe.UnreadableJson as exc:
        assert exc.reason
        return
    assert _all_numbers_sound(value)
    json.dumps(value, allow_nan=False)  # whoever walks or writes it back cannot fail


_LIBRARY: list[Any] = []


def _fuzz_library() -> Any:
    """One library for the whole run (opening one per example would dominate the budget)."""
    from sneakerstudio.core.models.library import Library

    if not _LIBRARY:
        _LIBRARY.append(Library(SCRATCH / "data", detect_home=SCRATCH / "nohome"))
        atexit.register(_LIBRARY[0].close)
    return _LIBRARY[0]


@FUZZ_HEAVY
@given(text=hostile_json)
def test_every_json_reader(text: str) -> None:
    """The same text as an A1111 sidecar, a LoRA's `ss_tag_frequency`, a safetensors header, a
    diffusers `model_index.json`, the library's folder list and PNG metadata chunks: each
    reader returns what it can or raises its documented error."""
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.identify_addons import trigger_words
    from sneakerstudio.core.models.library import folders
    from sneakerstudio.core.models.library.details import read_sidecar_json

    data = text.encode("utf-8", "surrogatepass")
    sidecar = SCRATCH / "lora.json"
    sidecar.write_bytes(data)
    info = read_sidecar_json(sidecar)
    assert info.preferred_weight is None or math.isfinite(info.preferred_weight)

    assert all(isinstance(w, str) for w in trigger_words({"ss_tag_frequency": text}))

    try:
        parse_header(data, data_size=0, path=FAKE)
    except ModelFileError as exc:
        assert str(exc)

    pipeline = SCRATCH / "pipeline"
    (pipeline / "unet").mkdir(parents=True, exist_ok=True)
    (pipeline / "model_index.json").write_bytes(data)
    try:
        identify(pipeline)
    except ModelFileError as exc:
        assert str(exc)

    library = _fuzz_library()
    backup = SCRATCH / "library-folders.json"
    backup.write_bytes(data)
    folders.restore_backup(library.store, backup)
    assert all(isinstance(f.path, str) for f in library.folders())

    for key in ("sneakerstudio", "parameters", "prompt", "invokeai_metadata"):
        png = SCRATCH / "json.png"
        png.write_bytes(
            SIGNATURE
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + _chunk(b"iTXt", key.encode() + b"\0\0\0\0\0" + data)
            + _chunk(b"IEND", b"")
        )
        try:
            meta = read_png_metadata(png)
        except ImageFileError as exc:
            assert str(exc)
            continue
        assert isinstance(format_info(meta), str)


# -- ComfyUI graphs that link back to themselves ------------------------------------------------

COMFY_CLASSES = [
    "KSampler",
    "KSamplerAdvanced",
    "SamplerCustom",
    "CLIPTextEncode",
    "CheckpointLoaderSimple",
    "EmptyLatentImage",
    "PrimitiveNode",
    "LoraLoader",
    "Combine",
]
COMFY_INPUTS = [
    "seed",
    "noise_seed",
    "steps",
    "cfg",
    "positive",
    "negative",
    "conditioning",
    "latent_image",
    "samples",
    "latent",
    "model",
    "text",
    "value",
    "ckpt_name",
    "width",
    "height",
    "guider",
    "sigmas",
    "noise",
    "sampler",
    "sampler_name",
    "clip",
]


@st.composite
def comfy_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Graphs of up to 24 nodes whose links go anywhere: to themselves, to earlier and later
    nodes, to nodes that do not exist; or a chain in which every node links several times to the
    next one (2^depth paths for a walk without memory)."""
    count = draw(st.integers(1, 24))
    ids = [str(i) for i in range(count)]
    if draw(st.booleans()):
        nodes: dict[str, Any] = {}
        fan = draw(st.integers(2, 4))
        keys = ["positive", "negative", "latent_image", "model", "samples", "value", "text"]
        for i in ids:
            nxt = [str(int(i) + 1), 0]
            nodes[i] = {
                "class_type": draw(st.sampled_from(COMFY_CLASSES)),
                "inputs": {**{k: nxt for k in keys[: fan + 2]}, "seed": int(i)},
            }
        return nodes
    links = st.builds(
        lambda target, out: [target, out],
        st.one_of(st.sampled_from(ids), st.text(max_size=2), st.integers(-1, 50)),
        st.one_of(st.integers(0, 3), st.none()),
    )
    literals = st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8), st.none())
    return {
        i: {
            "class_type": draw(st.sampled_from(COMFY_CLASSES)),
            "inputs": draw(
                st.dictionaries(
                    st.sampled_from(COMFY_INPUTS), st.one_of(links, links, literals), max_size=8
                )
            ),
        }
        for i in ids
    }


@FUZZ_HEAVY
@given(graph=comfy_graphs())
def test_comfyui_graphs_are_read_in_bounded_time(graph: dict[str, Any]) -> None:
    import time

    png = SCRATCH / "comfy.png"
    png.write_bytes(
        SIGNATURE
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + _chunk(b"tEXt", b"prompt\0" + json.dumps(graph).encode())
        + _chunk(b"IEND", b"")
    )
    started = time.perf_counter()
    meta = read_png_metadata(png)
    assert time.perf_counter() - started < 2.0  # was branching^32 for a self-linking node
    assert meta["source"] == "comfyui"
    assert isinstance(format_info(meta), str)


# -- extra_model_paths.yaml: aliases and nesting ------------------------------------------------


@st.composite
def alias_yaml(draw: st.DrawFn) -> str:
    """YAML whose anchors fan out (each level lists the previous one several times: billion
    laughs), nest deeply, alias collections where paths belong, or alias plain paths."""
    levels = draw(st.integers(1, 12))
    fan = draw(st.integers(2, 12))
    lines = ['a0: &a0 "models/lol"']
    for i in range(1, levels + 1):
        if draw(st.booleans()):
            lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * fan) + "]")
        else:
            lines.append(f"a{i}: &a{i} {{" + ",".join(f"k{j}: *a{i - 1}" for j in range(fan)) + "}")
    target = f"*a{draw(st.integers(0, levels))}"
    depth = draw(st.sampled_from([0, 5, 33, 500, 5000]))
    nested = "[" * depth + '"x"' + "]" * depth
    group = {
        "base_path": draw(st.sampled_from([target, "/base", "~", nested])),
        "loras": draw(st.sampled_from([target, "loras", "|\n        a\n        b", nested])),
        "checkpoints": draw(st.sampled_from([target, "*a0", "ckpt"])),
        draw(st.sampled_from(["vae", "clip", "embeddings"])): target,
    }
    body = "\n".join(f"    {k}: {v}" for k, v in group.items())
    return "\n".join(lines) + f"\nshared:\n{body}\n" + draw(st.sampled_from(["", "x: [", "\t"]))


@FUZZ
@given(text=alias_yaml())
def test_extra_model_paths_yaml_never_expands_aliases(text: str) -> None:
    import time

    from sneakerstudio.core.models.library.sources import MAX_YAML_VALUE, read_extra_model_paths

    path = SCRATCH / "extra_model_paths.yaml"
    path.write_text(text)
    started = time.perf_counter()
    try:
        roots = read_extra_model_paths(path)
    except ValueError as exc:  # not YAML, too deep, too large: the scan notes it and goes on
        assert str(exc)
        return
    finally:
        assert time.perf_counter() - started < 2.0
    assert len(roots) < 100
    assert all(len(str(r.path)) < MAX_YAML_VALUE + len(str(SCRATCH)) + 10 for r in roots)
