"""The warm-up drops cached kernels built on intrinsics whose sources changed (numba checks only their own file)."""

from pathlib import Path

from image_assets.codec.warmup import SHARED_MODULES, clear_stale_kernels


def _codec_dir(tmp_path: Path) -> Path:
    for name in SHARED_MODULES:
        (tmp_path / name).write_text(f"# {name}\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    return tmp_path


def _cached(codec_dir: Path) -> list[Path]:
    cache = codec_dir / "__pycache__"
    files = [cache / "kernels.tiles_to_plane-104.py313.nbi", cache / "kernels.tiles_to_plane-104.py313.1.nbc"]
    for path in files:
        path.write_bytes(b"machine code")
    return files


def test_cached_kernels_go_when_an_intrinsic_module_changes(tmp_path: Path) -> None:
    codec_dir = _codec_dir(tmp_path)
    first = _cached(codec_dir)
    assert clear_stale_kernels(codec_dir)  # no stamp yet: whatever is cached may predate the intrinsics
    assert not any(path.exists() for path in first)
    kept = _cached(codec_dir)
    assert not clear_stale_kernels(codec_dir)  # unchanged intrinsics: the cache stays
    assert all(path.exists() for path in kept)
    (codec_dir / SHARED_MODULES[-1]).write_text("# edited\n")
    assert clear_stale_kernels(codec_dir)
    assert not any(path.exists() for path in kept)
    assert (codec_dir / "__pycache__" / "intrinsics.sha256").read_text().strip()


def test_pyc_files_and_other_modules_are_left_alone(tmp_path: Path) -> None:
    codec_dir = _codec_dir(tmp_path)
    pyc = codec_dir / "__pycache__" / "kernels.cpython-313.pyc"
    pyc.write_bytes(b"bytecode")
    clear_stale_kernels(codec_dir)
    assert pyc.exists()
