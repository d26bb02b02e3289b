"""`imgpipe catalog list` filters and `imgpipe get` output options, in-process against a populated catalog."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from PIL import Image

from image_assets.catalog import open_catalog
from image_assets.cli import main
from image_assets.codec import decode, encode, load_image
from image_assets.settings import Settings
from image_assets.sources.local import BUNDLED_PHOTOS
from image_assets.stores import open_store

CHELSEA = load_image((BUNDLED_PHOTOS / "chelsea.png").read_bytes())  # 451x300 RGB
CAMERA = load_image((BUNDLED_PHOTOS / "camera.png").read_bytes())  # 512x512 grey


def document(
    source: str, sid: str, day: str, psnr: float, photographer: str | None, *, width: int = 451, height: int = 300
) -> dict:
    return {
        "_id": f"{source}:{sid}",
        "source": source,
        "source_id": sid,
        "partition_key": f"{day}|{source}",
        "date": day,
        "storage": {"key": f"images/{source}/{day}/{sid}.svdz", "uri": "", "raw_key": None},
        "width": width,
        "height": height,
        "channels": 3,
        "bytes_in": 1000,
        "bytes_out": 100,
        "psnr": psnr,
        "ssim": 0.9,
        "bits_per_pixel": 1.0,
        "attribution": {
            "photographer": photographer,
            "photographer_url": None,
            "page_url": None,
            "image_url": None,
            "text": None,
        },
    }


DOCS = [
    document("local", "a", "2026-11-01", 31.0, "Jane Doe"),
    document("local", "b", "2026-11-02", 36.0, "JOHN DOE"),
    document("pexels", "c", "2026-11-03", 38.5, "Ann Smith (studio)"),
    document("pexels", "d", "2026-11-04", 42.0, None),
    document("local", "cat", "2026-11-05", 35.0, "Chelsea's owner"),
    document("local", "camera", "2026-11-05", 35.0, None, width=512, height=512),
    # Stored at half size; the catalog records the original photo's size.
    document("local", "small", "2026-11-05", 33.0, None, width=451, height=300),
]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An embedded catalog and a local store under a temp IMGPIPE_HOME, populated directly."""
    monkeypatch.setenv("IMGPIPE_HOME", str(tmp_path / "home"))
    settings = Settings.from_env()
    store = open_store(settings.storage_url)
    half = np.asarray(Image.fromarray(CHELSEA).resize((226, 150), Image.Resampling.LANCZOS))
    for sid, pixels in {"cat": CHELSEA, "camera": CAMERA, "small": half}.items():
        store.put(f"images/local/2026-11-05/{sid}.svdz", encode(pixels, psnr=40))
    populate(settings)
    return settings, store


def populate(settings: Settings) -> None:
    catalog = open_catalog(settings.mongodb_uri, settings.mongodb_database, settings.catalog_sqlite_path)
    try:
        assert catalog.upsert(DOCS)["inserted"] == len(DOCS)
    finally:
        catalog.close()


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys, *argv: str) -> list[str]:
    code, out, err = cli(capsys, "catalog", "list", "--json", *argv)
    assert code == 0, err
    return [json.loads(line)["id"] for line in out.splitlines()]


@pytest.fixture(params=["embedded", pytest.param("pymongo", marks=pytest.mark.integration)])
def catalog_env(request, tmp_path, monkeypatch):
    """The same filters on the embedded SQLite catalog and on a real pymongo client (wire-protocol server)."""
    monkeypatch.setenv("IMGPIPE_HOME", str(tmp_path / "home"))
    if request.param == "pymongo":
        monkeypatch.setenv("MONGODB_URI", request.getfixturevalue("mongodb_uri"))
        monkeypatch.setenv("IMGPIPE_MONGODB_DB", f"retrieval_{uuid.uuid4().hex[:8]}")
    populate(Settings.from_env())
    return request.param


def test_list_filters(catalog_env, capsys) -> None:
    everything = listed(capsys)
    assert len(everything) == len(DOCS)
    assert everything[:3] == ["local:camera", "local:cat", "local:small"]  # newest day first, then by id

    # Date range, inclusive at both ends, open at either end.
    assert sorted(listed(capsys, "--from", "2026-11-02", "--to", "2026-11-03")) == ["local:b", "pexels:c"]
    assert sorted(listed(capsys, "--from", "2026-11-04")) == sorted(
        ["pexels:d", "local:cat", "local:camera", "local:small"]
    )
    assert sorted(listed(capsys, "--to", "2026-11-01")) == ["local:a"]
    assert listed(capsys, "--from", "2026-11-02", "--to", "2026-11-02") == ["local:b"]

    # Minimum PSNR, inclusive.
    assert sorted(listed(capsys, "--min-psnr", "36")) == ["local:b", "pexels:c", "pexels:d"]

    # Photographer: case-insensitive substring, regex characters taken literally, missing names never match.
    assert sorted(listed(capsys, "--photographer", "doe")) == ["local:a", "local:b"]
    assert listed(capsys, "--photographer", "SMITH (STU") == ["pexels:c"]
    assert listed(capsys, "--photographer", "'s") == ["local:cat"]
    assert listed(capsys, "--photographer", ".*") == []

    # Everything together, with the old filters and --limit.
    assert listed(
        capsys,
        "--source",
        "local",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-03",
        "--min-psnr",
        "32",
        "--photographer",
        "Doe",
    ) == ["local:b"]
    assert listed(capsys, "--photographer", "doe", "--limit", "1") == ["local:b"]  # newest first
    assert listed(capsys, "--date", "2026-11-03") == ["pexels:c"]

    code, out, _ = cli(capsys, "catalog", "list", "--min-psnr", "38")
    assert code == 0 and "pexels:c" in out and "pexels:d" in out and out.rstrip().endswith("2 image(s)")


def test_list_links_each_image_to_its_mlflow_run(home, capsys, monkeypatch) -> None:
    from image_assets.catalog import open_catalog

    settings = Settings.from_env()
    catalog = open_catalog(None, settings.mongodb_database, settings.catalog_sqlite_path)
    tracked = document("local", "tracked", "2026-11-06", 36.0, None) | {
        "mlflow_run_id": "0123abcd", "mlflow_experiment_id": "7"
    }  # fmt: skip
    catalog.upsert([tracked])
    catalog.close()

    code, out, _ = cli(capsys, "catalog", "list", "--date", "2026-11-06")
    assert code == 0 and "http://127.0.0.1:5000/#/experiments/7/runs/0123abcd" in out and "make mlflow" in out
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:s3cret@mlflow.example:8443/")
    (line,) = [json.loads(x) for x in cli(capsys, "catalog", "list", "--date", "2026-11-06", "--json")[1].splitlines()]
    assert line["mlflow_run_id"] == "0123abcd"
    assert line["mlflow_run_url"] == "https://mlflow.example:8443/#/experiments/7/runs/0123abcd"


def test_list_pages_with_after_in_each_sort(catalog_env, capsys) -> None:
    """`--limit N --after <last id>` walks the whole listing once in any --sort, filters included, and the table
    prints the command for the next page."""
    for sort in ("newest", "oldest", "lowest-psnr", "highest-psnr"):
        everything = listed(capsys, "--sort", sort)
        assert sorted(everything) == sorted(d["_id"] for d in DOCS)
        pages, after = [], []
        while page := listed(capsys, "--sort", sort, "--limit", "2", *after):
            pages += page
            after = ["--after", page[-1]]
        assert pages == everything, sort
    assert listed(capsys, "--sort", "lowest-psnr", "--limit", "3") == ["local:a", "local:small", "local:camera"]
    assert listed(capsys, "--sort", "highest-psnr", "--source", "local", "--after", "local:camera") == [
        "local:small", "local:a"
    ]  # fmt: skip
    code, out, _ = cli(capsys, "catalog", "list", "--limit", "2", "--sort", "lowest-psnr")
    assert code == 0 and out.rstrip().endswith("next page: --limit 2 --sort lowest-psnr --after local:small")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--after", "local:nope"], "--after 'local:nope': no image with that id; use an id the previous page printed"),
        (["--from", "2026-11-03", "--to", "2026-11-01"], "--from 2026-11-03 is after --to 2026-11-01"),
        (["--date", "2026-11-01", "--from", "2026-11-01"], "give --date or --from/--to, not both"),
        (["--from", "yesterday"], "invalid --from 'yesterday': use YYYY-MM-DD"),
        (["--min-psnr", "high"], "--min-psnr must be a number, got 'high'"),
        (["--min-psnr", "nan"], "--min-psnr must be a finite number, got 'nan'"),
        (["--photographer", "  "], "--photographer needs a name"),
    ],
)
def test_list_errors_are_one_line(home, capsys, argv, message) -> None:
    code, out, err = cli(capsys, "catalog", "list", *argv)
    assert code == 2 and out == ""
    assert err == f"imgpipe: error: {message}\n"


@pytest.mark.parametrize(
    ("name", "extra", "pil_format"),
    [
        ("cat.png", [], "PNG"),
        ("cat.jpg", [], "JPEG"),
        ("cat.jpeg", ["--format", "jpeg"], "JPEG"),
        ("cat.webp", [], "WEBP"),
        ("cat.tif", [], "TIFF"),
        ("cat.TIFF", ["--format", "tiff"], "TIFF"),
        ("cat", ["--format", "webp"], "WEBP"),
    ],
)
def test_get_writes_each_format(home, tmp_path, capsys, name, extra, pil_format) -> None:
    _, store = home
    out_path = tmp_path / "out" / name
    code, out, err = cli(capsys, "get", "local:cat", "-o", str(out_path), *extra)
    assert code == 0, err
    assert out.strip() == f"wrote {out_path} (451x300, {pil_format.lower()})"
    with Image.open(out_path) as img:
        assert img.format == pil_format and img.size == (451, 300) and img.mode == "RGB"
        written = np.asarray(img, dtype=np.float64)
    decoded = decode(store.get("images/local/2026-11-05/cat.svdz")).astype(np.float64)
    if pil_format in ("PNG", "TIFF"):  # lossless: exactly the decoded pixels
        assert np.array_equal(written, decoded)
    else:
        assert np.abs(written - decoded).mean() < 4


@pytest.mark.parametrize("name", ["camera.jpg", "camera.webp", "camera.png"])
def test_get_grey_image_in_every_format(home, tmp_path, capsys, name) -> None:
    code, _, err = cli(capsys, "get", "local:camera", "-o", str(tmp_path / name))
    assert code == 0, err
    with Image.open(tmp_path / name) as img:
        assert img.size == (512, 512)
        grey = np.asarray(img.convert("L"), dtype=np.float64)
    assert np.abs(grey - CAMERA.astype(np.float64)).mean() < 6


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("x.png", ["--format", "jpeg"], "--format jpeg does not match the extension of 'x.png'"),
        ("x.gif", ["--format", "png"], "--format png does not match the extension of 'x.gif'"),
        ("x.png", ["--format", "gif"], "unknown format 'gif'; choose one of png, jpeg, webp, tiff"),
        (
            "x.bmp",
            [],
            "cannot tell the image format from 'x.bmp'; use a .png, .jpg, .jpeg, .webp, .tif, .tiff "
            "extension or --format {png,jpeg,webp,tiff}",
        ),
        (
            "x",
            [],
            "cannot tell the image format from 'x'; use a .png, .jpg, .jpeg, .webp, .tif, .tiff "
            "extension or --format {png,jpeg,webp,tiff}",
        ),
        ("x.png", ["--max-size", "0"], "--max-size must be at least 1, got 0"),
        ("x.png", ["--max-size", "big"], "--max-size must be an integer, got 'big'"),
        ("x.png", ["--max-size", "10", "--original-size"], "give --original-size or --max-size, not both"),
    ],
)
def test_get_option_errors_are_one_line(home, tmp_path, capsys, name, extra, message) -> None:
    code, out, err = cli(capsys, "get", "local:cat", "-o", str(tmp_path / name), *extra)
    assert code == 2 and out == ""
    assert err == f"imgpipe: error: {message}\n"
    assert not (tmp_path / name).exists()


def test_get_max_size_shrinks_long_side_only(home, tmp_path, capsys) -> None:
    code, _, err = cli(capsys, "get", "local:cat", "-o", str(tmp_path / "a.png"), "--max-size", "120")
    assert code == 0, err
    with Image.open(tmp_path / "a.png") as img:
        assert img.size == (120, 80)  # 451x300 scaled by 120/451
    code, _, _ = cli(capsys, "get", "local:cat", "-o", str(tmp_path / "b.png"), "--max-size", "1000")
    assert code == 0
    with Image.open(tmp_path / "b.png") as img:
        assert img.size == (451, 300)  # never enlarged


def test_get_original_size_uses_catalog_dimensions(home, tmp_path, capsys) -> None:
    code, out, err = cli(capsys, "get", "local:small", "-o", str(tmp_path / "as_stored.png"))
    assert code == 0, err
    assert out.strip().endswith("(226x150, png)")
    with Image.open(tmp_path / "as_stored.png") as img:
        assert img.size == (226, 150)

    code, out, err = cli(capsys, "get", "local:small", "-o", str(tmp_path / "full.png"), "--original-size")
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'full.png'} (451x300, png)"
    with Image.open(tmp_path / "full.png") as img:
        assert img.size == (451, 300)
        full = np.asarray(img.convert("RGB"), dtype=np.float64)
    # Upscaled from half size, it still looks like the original photo.
    assert np.abs(full - CHELSEA.astype(np.float64)).mean() < 12


def test_get_unknown_id_and_missing_object(home, tmp_path, capsys) -> None:
    code, _, err = cli(capsys, "get", "local:nope", "-o", str(tmp_path / "x.png"))
    assert code == 2 and err == "imgpipe: error: no image with id 'local:nope'; `imgpipe catalog list` shows the ids\n"
    code, _, err = cli(capsys, "get", "local:a", "-o", str(tmp_path / "x.png"))
    assert code == 2 and err == (
        "imgpipe: error: object images/local/2026-11-01/a.svdz for 'local:a' is missing "
        "from storage; rematerialize its partition\n"
    )
    assert not (tmp_path / "x.png").exists()


def test_stats_per_source_and_day_as_table_and_json(catalog_env, capsys) -> None:
    code, out, _ = cli(capsys, "catalog", "stats", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and sum(r["images"] for r in rows) == len(DOCS)
    (day5,) = [r for r in rows if (r["date"], r["source"]) == ("2026-11-05", "local")]
    assert day5["images"] == 3 and day5["psnr_mean"] == pytest.approx((35.0 + 35.0 + 33.0) / 3)
    code, out, _ = cli(capsys, "catalog", "stats", "--source", "pexels")
    assert code == 0 and out.rstrip().endswith("2 image(s) in 2 partition(s)") and "2026-11-04 pexels" in out
