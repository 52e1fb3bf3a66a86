"""Model library speed: how long a rescan of unchanged files takes, and how fast the library
hashes compared with plain `hashlib.sha256` over the same files, in the same run.

    python tests/benchmarks/library_scan.py [--files 1000] [--hash-files 8] [--hash-mib 64]

- rescan: `Library.scan()` over `--files` LoRAs (with a few A1111 sidecars) that are already
  indexed: median of 5. Goal <= 1 s. The first (cold) scan, which reads every header, is shown
  too. The LoRAs are real-size: a kohya SD 1.5 LoRA's 792 tensors (264 modules × down, up,
  alpha, rank 8, their real shapes) and its `ss_*` metadata with a 300-tag `ss_tag_frequency`,
  a ~100 KB header; the 9 MB of weights behind it are a sparse hole, so 1,000 files take
  ~100 MB of disk (a header of one tensor made the cold scan look 10× faster than it is).
- hashing: `Library.hash_pending()` (sha256 → AutoV2 + the legacy hash) over `--hash-files`
  files of `--hash-mib` MiB, against a plain read-and-`hashlib.sha256` loop over the same files,
  interleaved, median of 3, files in the page cache for both. Throughput fraction =
  plain time / library time. Goal >= 0.8.

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def lora_modules() -> list[tuple[str, int, int]]:
    """(kohya module name, in features, out features) of an SD 1.5 LoRA on the text encoder and
    the UNet's attention blocks: 264 modules, as kohya's sd-scripts writes them."""
    modules = []
    for layer in range(12):
        te = f"lora_te_text_model_encoder_layers_{layer}_"
        for name, n_in, n_out in (
            ("self_attn_q_proj", 768, 768),
            ("self_attn_k_proj", 768, 768),
            ("self_attn_v_proj", 768, 768),
            ("self_attn_out_proj", 768, 768),
            ("mlp_fc1", 768, 3072),
            ("mlp_fc2", 3072, 768),
        ):
            modules.append((te + name, n_in, n_out))
    blocks = [
        (f"down_blocks_{b}_attentions_{a}", (320, 640, 1280)[b]) for b in range(3) for a in (0, 1)
    ]
    blocks += [("mid_block_attentions_0", 1280)]
    blocks += [
        (f"up_blocks_{b}_attentions_{a}", (1280, 640, 320)[b - 1])
        for b in (1, 2, 3)
        for a in (0, 1, 2)
    ]
    for block, width in blocks:
        unet = f"lora_unet_{block}_"
        tb = unet + "transformer_blocks_0_"
        for name, n_in, n_out in (
            (unet + "proj_in", width, width),
            (unet + "proj_out", width, width),
            (tb + "attn1_to_q", width, width),
            (tb + "attn1_to_k", width, width),
            (tb + "attn1_to_v", width, width),
            (tb + "attn1_to_out_0", width, width),
            (tb + "attn2_to_q", width, width),
            (tb + "attn2_to_k", 768, width),
            (tb + "attn2_to_v", 768, width),
            (tb + "attn2_to_out_0", width, width),
            (tb + "ff_net_0_proj", width, width * 8),
            (tb + "ff_net_2", width * 4, width),
        ):
            modules.append((name, n_in, n_out))
    return modules


def lora_header(index: int, rank: int = 8) -> tuple[bytes, int]:
    """A kohya LoRA header (JSON bytes) and the size of its data section."""
    header: dict[str, object] = {}
    offset = 0
    for name, n_in, n_out in lora_modules():
        for suffix, shape in (
            ("alpha", []),
            ("lora_down.weight", [rank, n_in]),
            ("lora_up.weight", [n_out, rank]),
        ):
            count = 1
            for dim in shape:
                count *= dim
            header[f"{name}.{suffix}"] = {
                "dtype": "F16",
                "shape": shape,
                "data_offsets": [offset, offset + 2 * count],
            }
            offset += 2 * count
    tags = {f"tag number {t} of lora {index}": 300 - t for t in range(300)}
    header["__metadata__"] = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(rank / 2),
        "ss_base_model_version": "sd_v1",
        "ss_output_name": f"lora{index:05}",
        "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
        "ss_resolution": "(512, 512)",
        "ss_clip_skip": "2",
        "ss_num_epochs": "10",
        "ss_learning_rate": "0.0001",
        "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit",
        "ss_training_comment": "a realistic header for the benchmark",
        "ss_tag_frequency": json.dumps({"10_subject": tags}),
        "ss_dataset_dirs": json.dumps({"10_subject": {"n_repeats": 10, "img_count": 40}}),
        "sshs_model_hash": f"{index:064x}",
    }
    return json.dumps(header).encode(), offset


def write_small_tree(root: Path, count: int) -> None:
    """`count` real-size LoRAs (see the module docstring), 100 per folder, every 10th with a
    preview and a name.json; the weights are a sparse hole."""
    for i in range(count):
        folder = root / f"set{i // 100:02}"
        folder.mkdir(parents=True, exist_ok=True)
        raw, data_size = lora_header(i)
        with open(folder / f"lora{i:05}.safetensors", "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
            f.truncate(8 + len(raw) + data_size)
        if i % 10 == 0:
            (folder / f"lora{i:05}.preview.png").write_bytes(b"\x89PNG\r\n\x1a\n")
            (folder / f"lora{i:05}.json").write_text('{"activation text": "x"}')


def write_big_files(root: Path, count: int, mib: int) -> list[Path]:
    """Checkpoint-sized stand-ins: a valid safetensors header, then `mib` MiB of bytes."""
    size = mib * 1024 * 1024
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}})
    raw = struct.pack("<Q", len(header)) + header.encode()
    block = os.urandom(1024 * 1024)
    paths = []
    for i in range(count):
        path = root / f"ckpt{i}.safetensors"
        with open(path, "wb") as f:
            f.write(raw)
            for _ in range(mib):
                f.write(block[: len(block) - i] + bytes(i))
        paths.append(path)
    return paths


def plain_sha256(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
        digest.hexdigest()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--hash-files", type=int, default=8)
    parser.add_argument("--hash-mib", type=int, default=64)
    args = parser.parse_args()

    from sneakerstudio.core.models import hashing
    from sneakerstudio.core.models.library import Library

    with tempfile.TemporaryDirectory(prefix="library-bench-") as tmp:
        base = Path(tmp)
        small = base / "small"
        write_small_tree(small, args.files)
        library = Library(base / "data", detect_home=base / "nohome")
        library.add_folder(small)
        started = time.perf_counter()
        cold = library.scan()
        cold_s = time.perf_counter() - started
        assert cold.found == args.files and not cold.errors, cold.summary()
        header_kib = len(lora_header(0)[0]) / 1024
        rescans = []
        for _ in range(5):
            started = time.perf_counter()
            report = library.scan()
            rescans.append(time.perf_counter() - started)
            assert report.read == 0 and report.found == args.files, report.summary()
        rescan_s = statistics.median(rescans)
        library.close()

        big = base / "big"
        big.mkdir()
        paths = write_big_files(big, args.hash_files, args.hash_mib)
        total_mib = sum(p.stat().st_size for p in paths) / 2**20
        library = Library(base / "data2", detect_home=base / "nohome")
        library.add_folder(big)
        library.scan()
        plain_sha256(paths)  # warm the page cache for both sides
        plain_times, library_times = [], []
        for _ in range(3):
            plain_times.append(plain_sha256(paths))
            hashing.clear_cache()
            with library.index.transaction() as conn:
                conn.execute("UPDATE models SET sha256 = NULL, legacy_hash = NULL")
            started = time.perf_counter()
            report = library.hash_pending()
            library_times.append(time.perf_counter() - started)
            assert len(report.hashed) == len(paths)
        library.close()

    plain_s = statistics.median(plain_times)
    lib_s = statistics.median(library_times)
    fraction = plain_s / lib_s
    rows = [
        ("cold scan (reads every header)", f"{args.files} LoRAs", f"{cold_s:.3f} s"),
        ("  per file", f"{header_kib:.0f} KiB hdr", f"{1000 * cold_s / args.files:.2f} ms"),
        ("rescan, unchanged (median of 5)", f"{args.files} files", f"{rescan_s:.3f} s"),
        ("plain hashlib.sha256", f"{total_mib:.0f} MiB", f"{total_mib / plain_s:.0f} MiB/s"),
        ("library hash_pending", f"{total_mib:.0f} MiB", f"{total_mib / lib_s:.0f} MiB/s"),
        ("hashing throughput fraction", "", f"{fraction:.3f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, amount, value in rows:
        print(f"{name.ljust(width)}  {amount.rjust(10)}  {value.rjust(12)}")
    print(
        json.dumps(
            {
                "files": args.files,
                "cold_scan_s": round(cold_s, 4),
                "cold_scan_ms_per_file": round(1000 * cold_s / args.files, 3),
                "lora_header_kib": round(header_kib, 1),
                "rescan_s": round(rescan_s, 4),
                "rescan_goal_s": 1.0,
                "hash_mib": round(total_mib, 1),
                "plain_sha256_mib_s": round(total_mib / plain_s, 1),
                "library_hash_mib_s": round(total_mib / lib_s, 1),
                "hash_fraction": round(fraction, 3),
                "hash_fraction_goal": 0.8,
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
