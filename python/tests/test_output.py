"""Output formats, byte for byte as contract §1.3 describes them."""

from __future__ import annotations

from lago.plugins.output import (
    DefaultOutFormatPlugin,
    FlatOutFormatPlugin,
    JSONOutFormatPlugin,
    YAMLOutFormatPlugin,
)

INFO = {
    "Prefix": {
        "UUID": "abc",
        "Base directory": "/w/default",
        "Networks": {"lan": {"gateway": "192.168.1.1", "status": "up", "management": True}},
        "VMs": {
            "vm0": {
                "status": "running",
                "distro": None,
                "root password": "",
                "metadata": {},
                "snapshots": "",
                "NICs": {"eth0": {"network": "lan", "ip": "192.168.1.2"}},
            }
        },
    }
}

DEFAULT = """\
[Prefix]:
    Base directory: /w/default
    [Networks]:
        [lan]:
            gateway: 192.168.1.1
            management: True
            status: up
    UUID: abc
    [VMs]:
        [vm0]:
            [NICs]:
                [eth0]:
                    ip: 192.168.1.2
                    network: lan
            status: running"""


def test_default_sorted_nested_omits_empty() -> None:
    assert DefaultOutFormatPlugin().format(INFO) == DEFAULT


def test_default_scalars_and_lists() -> None:
    out = DefaultOutFormatPlugin().format({"b": False, "a": 0, "c": ["x", "y"], "d": {}})
    assert out == "a: 0\nb: False\nc:\n    x\n    y"


def test_default_top_level_list() -> None:
    assert DefaultOutFormatPlugin().format(["p1", "p2"]) == "p1\np2"


def test_json() -> None:
    out = JSONOutFormatPlugin().format({"b": 1, "a": {"y": True, "x": None}})
    assert out == '{\n    "a": {\n        "x": null,\n        "y": true\n    },\n    "b": 1\n}'


def test_yaml() -> None:
    out = YAMLOutFormatPlugin().format({"b": 1, "a": {"y": True, "x": "é"}})
    assert out == "a:\n  x: é\n  y: true\nb: 1\n"


def test_flat_status_roots_at_prefix() -> None:
    out = FlatOutFormatPlugin().format(INFO)
    assert out.splitlines() == [
        "Base directory: /w/default",
        "Networks/lan/gateway: 192.168.1.1",
        "Networks/lan/management: True",
        "Networks/lan/status: up",
        "UUID: abc",
        "VMs/vm0/NICs/eth0/ip: 192.168.1.2",
        "VMs/vm0/NICs/eth0/network: lan",
        "VMs/vm0/distro: None",
        "VMs/vm0/root password: ",
        "VMs/vm0/snapshots: ",
        "VMs/vm0/status: running",
    ]


def test_flat_lists_flattened() -> None:
    assert FlatOutFormatPlugin().format({"a": ["x", {"b": 1}]}) == "a/0: x\na/1/b: 1"
