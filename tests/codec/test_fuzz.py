"""Hostile `.svdz` files: a seeded structure-aware fuzz run and the known attacks only ever give `CodecError` (or a
correct image), each within 10 s and 1.5 GiB; the CLI answers every bad file with one line and a non-zero exit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from image_assets.cli import main
from image_assets.codec import CodecError, decode, encode, inspect
from tests.codec.fuzz import CORPUS, acceptable, cases, run_case

FUZZ_CASES = 2000
CORPUS_FILES = sorted(CORPUS.glob("*.svdz"))


def test_fuzzed_files_only_raise_codec_error() -> None:
    kinds: dict[str, int] = {}
    for n, data in enumerate(cases(FUZZ_CASES, seed=20261127)):
        outcome = run_case(data)
        assert acceptable(outcome), f"case {n}: {outcome} (python -m tests.codec.fuzz --seed 20261127 reproduces)"
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
    # The mutations are not all rejected at the first check: some still decode, most fail deep in the parser.
    assert kinds.get("codec_error", 0) > FUZZ_CASES // 2 and kinds.get("image", 0) > 0, kinds


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_regression_corpus(path) -> None:
    outcome = run_case(path.read_bytes())
    assert acceptable(outcome), outcome


def test_corpus_holds_the_known_attacks() -> None:
    names = {p.stem for p in CORPUS_FILES}
    assert {"deep_json", "long_integer", "infinity_width", "nan_step", "huge_sections", "zstd_frame_declares_256MiB",
            "all_zero_ranks_900MP", "rank_4096_zero_coefficients", "planes_is_a_number",
            "huge_step_with_coefficients", "v3_rank16_zero_vectors_16MP", "v3_sections_longer_than_payload",
            "v3_deblock_nan", "v3_deblock_huge", "v3_random_streams",
            "v3_vector_longer_than_tile", "v4_rank16_zero_vectors_16MP", "v4_random_blocks", "v4_random_streams",
            "v4_vector_longer_than_tile", "v4_block_end_state_wrong", "v4_ranks_past_stream",
            "v5_rank16_zero_vectors_16MP", "v5_random_blocks", "v5_random_streams", "v5_vector_longer_than_tile",
            "v5_block_end_state_wrong", "v5_ranks_past_stream"} <= names  # fmt: skip


def test_flat_images_with_unused_huge_steps_still_decode() -> None:
    """A flat grey plane keeps no triplet, and the encoder's step search then grows its step without bound (over
    1e9 near grey 128). Such files are valid (no coefficient uses the step): the strict header must not refuse
    them, while a huge step that coefficients do use is refused (huge_step_with_coefficients in the corpus)."""
    steps = []
    for grey in range(256):
        pixels = np.full((24, 40, 3), grey, np.uint8)
        data = encode(pixels, psnr=35)
        steps.append(max(plane["step"] for plane in inspect(data)["planes"]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow or invalid-value warnings either
            decoded = decode(data)
        assert decoded.shape == pixels.shape and np.abs(decoded.astype(int) - grey).max() <= 8, grey
    assert max(steps) > 1e9  # the case the test is about occurs
    with pytest.raises(CodecError, match="step too large"):
        decode((CORPUS / "huge_step_with_coefficients.svdz").read_bytes())


def test_inspect_shows_validated_fields_only_and_escaped() -> None:
    info = inspect((CORPUS / "version_99_in_header.svdz").read_bytes())
    assert info["version"] == 2  # the prefix's version, not the header's claim
    escaped = inspect((CORPUS / "escape_codes.svdz").read_bytes())
    assert "\x1b" not in json.dumps(escaped) and escaped["policy"].startswith("\\x1b]0;owned")


@pytest.mark.parametrize("command", ["decompress", "inspect"])
@pytest.mark.parametrize(
    "name", ["deep_json", "infinity_width", "zstd_frame_declares_256MiB", "planes_is_a_number", "long_integer"]
)
def test_cli_answers_a_bad_file_with_one_line(command: str, name: str, tmp_path, capsys) -> None:
    argv = [command, str(CORPUS / f"{name}.svdz")] + (
        ["-o", str(tmp_path / "out.png")] if command == "decompress" else []
    )
    assert main(argv) != 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err and captured.out == ""
