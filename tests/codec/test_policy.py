import pytest

from image_assets.codec import CodecError, RankPolicy


def test_default_is_psnr_35():
    policy = RankPolicy.from_options()
    assert (policy.kind, policy.value) == ("psnr", 35.0)
    assert policy.describe() == "psnr=35"


@pytest.mark.parametrize(
    ("kwargs", "label", "params"),
    [
        ({"psnr": 32.5}, "psnr=32.5", {"policy": "psnr", "policy_value": 32.5}),
        ({"rank": 20}, "rank=20", {"policy": "rank", "policy_value": 20}),
        ({"energy": 0.99}, "energy=0.99", {"policy": "energy", "policy_value": 0.99}),
        ({"max_bytes": 5000}, "max_bytes=5000", {"policy": "max_bytes", "policy_value": 5000}),
    ],
)
def test_each_option(kwargs, label, params):
    policy = RankPolicy.from_options(**kwargs)
    assert policy.describe() == label
    assert policy.as_params() == params
    assert RankPolicy.parse(label) == policy


def test_only_one_option():
    with pytest.raises(CodecError, match="at most one"):
        RankPolicy.from_options(psnr=30, rank=5)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("psnr", 0),
        ("psnr", float("nan")),
        ("rank", 0),
        ("rank", 2.5),
        ("energy", 1.5),
        ("energy", 0),
        ("max_bytes", -1),
        ("colour", 1),
    ],
)
def test_invalid_values(kind, value):
    with pytest.raises(CodecError):
        RankPolicy(kind, value)


def test_frozen():
    with pytest.raises(AttributeError):
        RankPolicy().value = 3  # type: ignore[misc]
