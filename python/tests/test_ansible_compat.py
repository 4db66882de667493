"""lago.lago_ansible without an environment: get_key and the inventory of
any prefix-like object, both rendered by lago-core."""

from __future__ import annotations

from typing import Any

from lago.lago_ansible import LagoAnsible

SPEC = {"name": "web", "groups": ["front", "all"], "disks": [{"name": "root"}, {"name": "data"}], "vm-type": "default"}


def test_get_key_paths() -> None:
    assert LagoAnsible.get_key("/", SPEC) == SPEC
    assert LagoAnsible.get_key("/disks/-1/name", SPEC) == "data"
    assert LagoAnsible.get_key("disks/0", SPEC) == {"name": "root"}
    assert LagoAnsible.get_key("groups/5", SPEC) is None
    assert LagoAnsible.get_key("nosuch/key", SPEC) is None


class VM:
    def __init__(self, spec: dict[str, Any], ip: str) -> None:
        self.spec, self._ip = spec, ip

    def name(self) -> str:
        return str(self.spec["name"])

    def ip(self) -> str:
        return self._ip


class Paths:
    def ssh_id_rsa(self) -> str:
        return "/p/id_rsa"


class Prefix:
    paths = Paths()

    def get_vms(self) -> dict[str, VM]:
        other = {"name": "db", "groups": [], "vm-type": "x"}
        return {"web": VM(SPEC, "10.0.0.2"), "db": VM(other, "10.0.0.3")}


def test_inventory_of_a_plain_prefix_object() -> None:
    web = "web ansible_host=10.0.0.2 ansible_ssh_private_key_file=/p/id_rsa"
    db = "db ansible_host=10.0.0.3 ansible_ssh_private_key_file=/p/id_rsa"
    assert LagoAnsible(Prefix()).get_inventory(["vm-type"]) == {
        "vm-type=default": [web],
        "front": [web],
        "all": [web],
        "vm-type=x": [db],
    }
    with LagoAnsible(Prefix()).get_inventory_temp_file(["/disks/1/name"]) as f:
        assert f.read().split("\n")[:2] == ["[/disks/1/name=data]", web]
