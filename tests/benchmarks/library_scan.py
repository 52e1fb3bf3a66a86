"""Model library speed: how long a rescan of unchanged files takes, and how fast the library
hashes compared with plain `hashlib.sha256` over the same files, in the same run.

    python tests/benchmarks/library_scan.py [--files 1000] [--hash-files 8] [--hash-mib 64]

- rescan: `Library.scan()` over `--files` small safetensors files (with a few A1111 sidecars)
  that are already indexed: median of 5. Goal <= 1 s. The first (cold) scan, which reads every
  header, is shown too.
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


def write_small_tree(root: Path, count: int) -> None:
    """`count` tiny embeddings, 100 per folder, every 10th with a preview and a name.json."""
    header = json.dumps({"emb_params": {"dtype": "U8", "shape": [256], "data_offsets": [0, 256]}})
    raw = struct.pack("<Q", len(header)) + header.encode()
    for i in range(count):
        folder = root / f"set{i // 100:02}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"emb{i:05}.safetensors").write_bytes(raw + bytes([i % 256]) * 256)
        if i % 10 == 0:
            (folder / f"emb{i:05}.preview.png").write_bytes(b"\x89PNG\r\n\x1a\n")
            (folder / f"emb{i:05}.json").write_text('{"activation text": "x"}')


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
        assert cold.found == args.files, cold.summary()
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
        ("cold scan (reads every header)", f"{args.files} files", f"{cold_s:.3f} s"),
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
