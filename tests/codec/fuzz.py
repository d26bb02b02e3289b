"""A seeded, structure-aware fuzzer of the `.svdz` container, and the known attacks kept as regression files.

Mutations understand the format: header fields are replaced with hostile values (wrong types, huge or
non-finite numbers, deep nesting, escape codes), sections and geometry are edited consistently so the file gets
past the first checks, payload bytes are flipped, and zstd frames declare huge sizes; the CRC is recomputed so
each case reaches the parser. Every case must end in `CodecError` or a decoded image, within the time and memory
caps. `python -m tests.codec.fuzz [--cases N] [--seed S]` (`make fuzz`) runs longer; `--write-corpus` rewrites
`tests/codec/fuzz_corpus/` from the attack generators.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import struct
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard

from image_assets.codec import CodecError, decode, encode, inspect
from image_assets.codec.container import MAGIC, PREFIX
from image_assets.codec.entropy import PlaneEncoder
from image_assets.codec.entropy_v4 import PlaneEncoderV4
from image_assets.codec.entropy_v5 import PlaneEncoderV5

CORPUS = Path(__file__).with_name("fuzz_corpus")
SAMPLES = Path(__file__).resolve().parents[2] / "image_assets" / "codec" / "samples"
MAX_PIXELS = 1 << 24  # decoding a valid 16 MP image fits the memory cap with room to spare
TIME_CAP_S = 10.0
MEMORY_CAP = int(1.5 * 2**30)


def pack(header: dict | str, payload: bytes, version: int = 2) -> bytes:
    """A file with a correct CRC, so the case reaches the header and payload parsers."""
    head = header.encode() if isinstance(header, str) else json.dumps(header, separators=(",", ":")).encode()
    return PREFIX.pack(MAGIC, version, 0, len(head), zlib.crc32(head + payload)) + head + payload


def unpack(data: bytes) -> tuple[int, dict, bytes]:
    _magic, version, _flags, head_len, _crc = PREFIX.unpack_from(data)
    body = data[PREFIX.size :]
    return version, json.loads(body[:head_len]), body[head_len:]


def seeds() -> list[bytes]:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[:40, :56]
    smooth = ((x * 4 + y * 3) % 256)[..., None] + rng.integers(0, 12, (40, 56, 3))
    rgb = smooth.clip(0, 255).astype(np.uint8)
    rgba = np.dstack([rgb, rgb[:, :, 0]]).astype(np.uint8)
    files = [encode(rgb, psnr=35), encode(rgb[:, :, 0], psnr=30), encode(rgb, rank=4), encode(rgba, psnr=35)]
    files += [(SAMPLES / f"v{n}.svdz").read_bytes() for n in (1, 2, 3, 4)]
    return files


# ---------------------------------------------------------------- hostile values and mutations
HOSTILE = [
    None, True, False, -1, 0, 1, 3, 255, 2**16 + 1, 2**31, 2**63, -(2**63), 10**30, 1e308, -1e308, 1e-320, 0.5,
    "", "x", "\x1b[31mred\x1b[0m", "𝔘nicode", [], {}, [1, 2, 3], {"a": 1}, [[[[[]]]]],
]  # fmt: skip
RAW_HOSTILE = [
    "Infinity", "-Infinity", "NaN", "1e999", "-1e999", "9" * 4300, "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000, '"\\u0000"', "1.7976931348623157e309",
]  # fmt: skip


def _set(header: dict, path: tuple, value) -> dict:
    target = header
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return header


def _paths(header: dict) -> list[tuple]:
    paths: list[tuple] = [(k,) for k in header]
    for i, plane in enumerate(header.get("planes", [])):
        paths += [("planes", i, k) for k in plane]
    paths += [("sections", i) for i in range(len(header.get("sections", [])))]
    return paths


def mutate_field(rng: random.Random, data: bytes) -> bytes:
    version, header, payload = unpack(data)
    path = rng.choice(_paths(header))
    if rng.random() < 0.3:
        marker = "__HOSTILE__"
        text = json.dumps(_set(header, path, marker), separators=(",", ":"))
        return pack(text.replace(f'"{marker}"', rng.choice(RAW_HOSTILE)), payload, version)
    return pack(_set(header, path, rng.choice(HOSTILE)), payload, version)


def stream_encoder(version: int) -> type:
    """The plane stream writer of format v3, v4 or v5."""
    return {3: PlaneEncoder, 4: PlaneEncoderV4}.get(version, PlaneEncoderV5)


def plane_streams(header: dict, rank: int, version: int) -> bytes:
    """Plane streams (format v3 or v4) giving every tile `rank` (capped by its size) and, since the stream then
    ends and missing bytes read as zero, all-zero vectors: a few bytes declaring up to billions of coefficients."""
    streams = []
    for plane in header["planes"]:
        per_row = -(-plane["w"] // plane["tw"])
        tiles = -(-plane["h"] // plane["th"]) * per_row
        limit = min(plane["th"], plane["tw"])
        ranks = np.full(tiles, min(rank, limit), np.int64)
        if version >= 4:
            encoder = stream_encoder(version)(ranks, per_row, limit)
            encoder.next_tile = tiles  # the ranks alone: the vectors are left to the missing bytes
        else:
            encoder = PlaneEncoder(ranks, per_row, limit)
        streams.append(encoder.finish())
    header["sections"] = [len(stream) for stream in streams]
    return b"".join(streams)


def mutate_geometry(rng: random.Random, data: bytes) -> bytes:
    """Bigger (or odd) geometry with a ranks section that matches it: zeros compress to almost nothing."""
    version, header, _payload = unpack(data)
    if version >= 3:
        scale = rng.choice([2, 16, 256])
        width, height = min(header["width"] * scale, 1 << 14), min(header["height"] * scale, 1 << 14)
        header["width"], header["height"] = width, height
        for plane in header["planes"]:
            factor = 2 if header["color"] == "ycbcr420" and plane is not header["planes"][0] else 1
            plane["h"], plane["w"] = -(-height // factor), -(-width // factor)
            plane["th"], plane["tw"] = min(plane["th"], plane["h"]), min(plane["tw"], plane["w"])
        payload = plane_streams(header, rng.choice([0, 1, 16, 8192]), version)
        return pack(header, payload, version)
    scale = rng.choice([2, 16, 256, 4096])
    width, height = min(header["width"] * scale, 1 << 16), min(header["height"] * scale, 1 << 16)
    header["width"], header["height"] = width, height
    tiles = 0
    for plane in header["planes"]:
        factor = 2 if header["color"] == "ycbcr420" and plane is not header["planes"][0] else 1
        plane["h"], plane["w"] = -(-height // factor), -(-width // factor)
        if rng.random() < 0.5:
            plane["th"], plane["tw"] = plane["h"], plane["w"]  # one whole-plane SVD
        tiles += -(-plane["h"] // plane["th"]) * -(-plane["w"] // plane["tw"])
    rank = rng.choice([0, 0, 1, 16, 8192])
    ranks = np.full(tiles, min(rank, 65535), "<u2").tobytes()
    coefficients = sum(
        min(rank, p["th"], p["tw"]) * (p["th"] + p["tw"]) * -(-p["h"] // p["th"]) * -(-p["w"] // p["tw"])
        for p in header["planes"]
    )
    header["sections"] = [len(ranks), min(coefficients, 1 << 28), 0]
    body = ranks + bytes(min(coefficients, 1 << 22))
    return pack(header, zstandard.ZstdCompressor(level=3).compress(body), version)


def mutate_payload(rng: random.Random, data: bytes) -> bytes:
    version, header, payload = unpack(data)
    if version >= 3:  # flip bytes inside the plane streams, or cut one short and say so in the sections
        raw = bytearray(payload)
        for _ in range(rng.randint(1, 8)):
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        if rng.random() < 0.3 and header["sections"]:
            plane = rng.randrange(len(header["sections"]))
            start = sum(header["sections"][:plane])
            keep = rng.randrange(header["sections"][plane] + 1)
            del raw[start + keep : start + header["sections"][plane]]
            header["sections"][plane] = keep
        return pack(header, bytes(raw), version)
    raw = bytearray(zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 24))
    for _ in range(rng.randint(1, 8)):
        if raw:
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    if rng.random() < 0.3:
        raw = raw[: rng.randrange(len(raw) + 1)]
    body = bytes(raw) if rng.random() < 0.7 else payload[: rng.randrange(len(payload) + 1)]
    if body is not payload and rng.random() < 0.7:
        body = zstandard.ZstdCompressor(level=1).compress(bytes(raw))
    return pack(header, body, version)


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    if rng.random() < 0.3:
        raw = raw[: rng.randrange(len(raw) + 1)]
    return bytes(raw)


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    mutate_field, mutate_field, mutate_field, mutate_geometry, mutate_payload, mutate_bytes,
]  # fmt: skip


def cases(count: int, seed: int) -> Iterator[bytes]:
    rng, base = random.Random(seed), seeds()
    for _ in range(count):
        data = rng.choice(base)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            try:
                data = rng.choice(MUTATIONS)(rng, data)
            except (
                ArithmeticError,
                AttributeError,
                LookupError,
                TypeError,
                ValueError,
                struct.error,
                zstandard.ZstdError,
            ):
                data = mutate_bytes(rng, data)  # a previous mutation broke the structure: plain bytes from here
        yield data


# ---------------------------------------------------------------- the known attacks
def zstd_frame_declaring(size: int) -> bytes:
    """A valid zstd frame of `size` zero bytes that says so in its header (compressed in 1 MiB chunks)."""
    out = zstandard.ZstdCompressor(level=1, write_content_size=True).compressobj(size=size)
    chunk, parts = bytes(1 << 20), []
    for _ in range(size >> 20):
        parts.append(out.compress(chunk))
    parts.append(out.flush())
    return b"".join(parts)


def attacks() -> dict[str, bytes]:
    """The review's findings, one file each (see the issue): all must be a CodecError, quickly and cheaply. The
    zstd ones are built on the version 2 sample (v1/v2 files keep being read); `v3_*` and `v4_*` on those versions'
    samples and `v5_*` on a file this build writes."""
    streams = [(SAMPLES / f"v{version}.svdz").read_bytes() for version in (3, 4)] + [seeds()[0]]
    return {**_legacy_attacks(), **{name: data for seed in streams for name, data in _stream_attacks(seed).items()}}


def _stream_attacks(data: bytes) -> dict[str, bytes]:
    version, header, payload = unpack(data)
    assert version >= 3
    out = {}
    bomb = json.loads(json.dumps(header))
    bomb.update(width=4096, height=4096)
    for plane in bomb["planes"]:
        factor = 2 if plane is not bomb["planes"][0] else 1
        plane.update(h=4096 // factor, w=4096 // factor, th=16, tw=16)
    out["rank16_zero_vectors_16MP"] = pack(bomb, plane_streams(bomb, 16, version), version)
    out["sections_longer_than_payload"] = pack(
        _set(json.loads(json.dumps(header)), ("sections", 0), 1 << 30), payload, version
    )
    out["deblock_nan"] = pack(
        json.dumps(header, separators=(",", ":")).replace('"deblock":', '"deblock":NaN,"x":'), payload, version
    )
    out["deblock_huge"] = pack(_set(json.loads(json.dumps(header)), ("deblock",), 1e300), payload, version)
    out["random_streams"] = pack(header, bytes(random.Random(7).randrange(256) for _ in range(len(payload))), version)
    long_vector = json.loads(json.dumps(header))
    first = long_vector["planes"][0]
    per_row = -(-first["w"] // first["tw"])
    tiles = -(-first["h"] // first["th"]) * per_row
    encoder = stream_encoder(version)(np.ones(tiles, np.int64), per_row, 16)
    wide = np.zeros((tiles, 40), np.int32)
    wide[:, 39] = 5  # a vector whose last nonzero coefficient lies past its tile
    encoder.add(np.ones(tiles, np.int64), wide, wide)
    stream = encoder.finish()
    rest = payload[header["sections"][0] :]
    long_vector["sections"][0] = len(stream)
    out["vector_longer_than_tile"] = pack(long_vector, stream + rest, version)
    if version >= 4:  # a block that does not end where its encoder left it, and a ranks length past the stream
        first = bytearray(payload[: header["sections"][0]])
        first[-1] ^= 0x5A
        out["block_end_state_wrong"] = pack(header, bytes(first) + payload[header["sections"][0] :], version)
        first = bytearray(payload[: header["sections"][0]])
        first[:4] = (len(first) + 1).to_bytes(4, "little")
        out["ranks_past_stream"] = pack(header, bytes(first) + payload[header["sections"][0] :], version)
        noise, start, planes = random.Random(8), 0, []
        for size in header["sections"]:  # valid ranks, random rANS blocks
            stream = payload[start : start + size]
            keep = 4 + int.from_bytes(stream[:4], "little")
            planes.append(stream[:keep] + bytes(noise.randrange(256) for _ in range(size - keep)))
            start += size
        out["random_blocks"] = pack(header, b"".join(planes), version)
    return {f"v{version}_{name}": data for name, data in out.items()}


def _legacy_attacks() -> dict[str, bytes]:
    data = (SAMPLES / "v2.svdz").read_bytes()
    _, header, payload = unpack(data)
    text = json.dumps(header, separators=(",", ":"))
    out = {
        "deep_json": pack("[" * 100_000 + "]" * 100_000, payload),
        "long_integer": pack(text.replace(f'"width":{header["width"]}', '"width":' + "9" * 4300), payload),
        "infinity_width": pack(text.replace(f'"width":{header["width"]}', '"width":Infinity'), payload),
        "nan_step": pack(re.sub(r'"step":[-0-9.e]+', '"step":NaN', text, count=1), payload),
        "huge_step_with_coefficients": pack(re.sub(r'"step":[-0-9.e]+', '"step":1e30', text, count=1), payload),
        "huge_sections": pack(_set(json.loads(text), ("sections",), [2**62, 2**62, 2**62]), payload),
        "planes_is_a_number": pack(_set(json.loads(text), ("planes",), 5), payload),
        "version_99_in_header": pack(_set(json.loads(text), ("version",), 99), payload),
        "escape_codes": pack(_set(json.loads(text), ("policy",), "\x1b]0;owned\x07\x1b[2J"), payload),
    }  # fmt: skip
    bomb = json.loads(text)
    bomb["sections"] = [bomb["sections"][0], (1 << 28) - bomb["sections"][0], 0]
    out["zstd_frame_declares_256MiB"] = pack(bomb, zstd_frame_declaring(1 << 28))
    zero = json.loads(text)
    zero.update(width=30000, height=30000)
    for plane in zero["planes"]:
        plane.update(h=30000, w=30000, th=16, tw=16)
    tiles = len(zero["planes"]) * (30000 // 16 + 1) ** 2
    zero["sections"] = [2 * tiles, 0, 0]
    out["all_zero_ranks_900MP"] = pack(zero, zstandard.ZstdCompressor().compress(bytes(2 * tiles)))
    whole = json.loads(text)
    whole.update(width=4096, height=4096, color="identity", channels=1)
    whole["planes"] = [{"h": 4096, "w": 4096, "th": 4096, "tw": 4096, "weight": 1, "step": 1.0}]
    whole["sections"] = [2, 4096 * 8192, 0]
    ranks = np.array([4096], "<u2").tobytes()
    out["rank_4096_zero_coefficients"] = pack(whole, zstandard.ZstdCompressor().compress(ranks + bytes(4096 * 8192)))
    return out


# ---------------------------------------------------------------- running a case
@dataclass
class Outcome:
    kind: str  # "image", "codec_error" or the unexpected exception's type
    seconds: float
    peak_bytes: int
    detail: str = ""


def run_case(data: bytes) -> Outcome:
    """decode and inspect one input; memory is tracemalloc's peak (numpy reports its buffers to it)."""
    tracemalloc.start()
    started = time.perf_counter()
    kind, detail = "codec_error", ""
    try:
        with contextlib.suppress(CodecError):
            inspect(data, max_pixels=MAX_PIXELS)
        decode(data, max_pixels=MAX_PIXELS)
        kind = "image"
    except CodecError:
        pass
    except Exception as exc:  # what the fuzzer looks for
        kind, detail = type(exc).__name__, str(exc)[:200]
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Outcome(kind, seconds, peak, detail)


def acceptable(outcome: Outcome) -> bool:
    return outcome.kind in {"image", "codec_error"} and outcome.seconds < TIME_CAP_S and outcome.peak_bytes < MEMORY_CAP


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-corpus", action="store_true", help="rewrite tests/codec/fuzz_corpus/")
    args = parser.parse_args()
    if args.write_corpus:
        CORPUS.mkdir(exist_ok=True)
        for name, data in attacks().items():
            (CORPUS / f"{name}.svdz").write_bytes(data)
        print(f"wrote {len(attacks())} files to {CORPUS}")
        return 0
    bad = 0
    for n, data in enumerate(cases(args.cases, args.seed)):
        outcome = run_case(data)
        if not acceptable(outcome):
            bad += 1
            path = CORPUS / f"found_{args.seed}_{n}.svdz"
            path.write_bytes(data)
            print(f"case {n}: {outcome} -> kept as {path.name}")
    print(f"{args.cases} cases, {bad} unacceptable")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
