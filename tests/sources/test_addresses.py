"""Which resolved addresses count as public: private IPv4 addresses hidden in IPv6 forms do not."""

from __future__ import annotations

import pytest

from image_assets.sources import statuses
from image_assets.sources.base import DownloadError
from image_assets.sources.fetch import HostAllowlist, ImageFetcher, _is_public
from image_assets.sources.settings import HttpSettings


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 well-known prefix, 127.0.0.1
        "64:ff9b::a00:1",  # 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # 169.254.169.254, the cloud metadata service
        "64:ff9b:1::a00:1",  # NAT64 local-use prefix
        "::7f00:1",  # IPv4-compatible, 127.0.0.1
        "::a00:1",
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "2002:a00:1::1",
        "2002:5db8:d822::1",  # 6to4 around a public address: 2002::/16 is no destination of its own
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_private_and_embedded_private_addresses_are_not_public(address):
    assert not _is_public(address)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:4700::1111",
        "::ffff:93.184.216.34",  # IPv4-mapped public address
        "64:ff9b::5db8:d822",  # a NAT64 network reaching 93.184.216.34
    ],
)
def test_public_addresses(address):
    assert _is_public(address)


@pytest.mark.parametrize("answer", ["64:ff9b::7f00:1", "::7f00:1", "2002:7f00:1::", "::ffff:127.0.0.1"])
def test_host_resolving_to_an_embedded_loopback_address_is_refused(answer):
    f = ImageFetcher("test", HostAllowlist.of(["cdn.example.test"]), HttpSettings(), resolver=lambda h, p: [answer])
    with pytest.raises(DownloadError) as info:
        f.check_url("https://cdn.example.test/a.jpg")
    assert info.value.status == statuses.REFUSED


def test_every_answer_must_be_public():
    """One private answer among public ones is enough to refuse: the client could connect to any of them."""
    f = ImageFetcher(
        "test",
        HostAllowlist.of(["cdn.example.test"]),
        HttpSettings(),
        resolver=lambda h, p: ["93.184.216.34", "64:ff9b::a00:1"],
    )
    with pytest.raises(DownloadError) as info:
        f.check_url("https://cdn.example.test/a.jpg")
    assert info.value.status == statuses.REFUSED
