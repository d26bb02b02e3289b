"""`imgpipe compress | decompress | inspect`, run in-process."""

import json

import numpy as np
import pytest
from PIL import Image

from image_assets.cli import main
from image_assets.codec import decode
from image_assets.codec.metrics import psnr


@pytest.fixture
def photo_dir(tmp_path, rgb_crop, gray_crop):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    Image.fromarray(rgb_crop).save(folder / "face.png")
    Image.fromarray(gray_crop).save(folder / "nested" / "camera.jpg", quality=95)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_compress_folder_then_decompress_and_inspect(tmp_path, photo_dir, rgb_crop, capsys):
    out = tmp_path / "out"
    assert main(["compress", str(photo_dir), "-o", str(out), "--psnr", "33"]) == 0
    printed = capsys.readouterr().out
    assert "compression summary" in printed and "mean PSNR" in printed
    assert sorted(p.name for p in out.iterdir()) == ["camera.svdz", "face.svdz"]

    assert main(["inspect", str(out / "face.svdz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["policy"] == "psnr=33" and info["width"] == 160

    assert main(["inspect", str(out / "face.svdz")]) == 0
    assert "policy" in capsys.readouterr().out

    png = tmp_path / "face.png"
    assert main(["decompress", str(out / "face.svdz"), "-o", str(png)]) == 0
    restored = np.asarray(Image.open(png))
    assert np.array_equal(restored, decode((out / "face.svdz").read_bytes()))
    assert 33 <= psnr(rgb_crop, restored) <= 33.5


def test_failures_do_not_stop_the_batch(tmp_path, photo_dir, capsys):
    broken = photo_dir / "broken.png"
    broken.write_bytes((photo_dir / "face.png").read_bytes()[:200])
    missing = tmp_path / "missing.jpg"
    out = tmp_path / "out"
    code = main(["compress", str(photo_dir), str(missing), "-o", str(out), "--rank", "5", "--jobs", "2"])
    assert code == 1
    printed = capsys.readouterr().out
    assert "broken.png" in printed and "missing.jpg" in printed
    assert sorted(p.name for p in out.iterdir()) == ["camera.svdz", "face.svdz"]


def test_same_stem_in_two_folders_does_not_overwrite(tmp_path, rgb_crop):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        Image.fromarray(rgb_crop).save(tmp_path / sub / "x.png")
    out = tmp_path / "out"
    assert main(["compress", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out), "--max-bytes", "4000"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x-1.svdz", "x.svdz"]
    assert all(p.stat().st_size <= 4000 for p in out.iterdir())


def test_user_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.svdz"
    bad.write_bytes(b"nonsense")
    assert main(["decompress", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert main(["inspect", str(tmp_path / "nope.svdz")]) == 2
    assert main(["compress", str(tmp_path), "-o", str(tmp_path / "o")]) == 2  # no images
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("imgpipe: error:") for line in err)
    with pytest.raises(SystemExit):
        main(["compress", "x.png", "-o", "o", "--psnr", "30", "--rank", "4"])
