"""The Ansible inventory through the lago package, on the upstream-workdir
fixture of lago-core (no guests, no libvirt)."""

from __future__ import annotations

import shutil
from pathlib import Path

from lago import _native
from lago.lago_ansible import LagoAnsible
from lago.prefix import Prefix

FIXTURE = Path(__file__).resolve().parents[2] / "lago-core/tests/fixtures/upstream-workdir"


def _prefix(tmp_path: Path) -> Prefix:
    workdir = tmp_path / "workdir"
    shutil.copytree(FIXTURE, workdir, symlinks=True)
    return Prefix(_native.Env.load(str(workdir), "current", config=_native.Config.defaults()))


def test_inventory_text_dict_and_temp_file(tmp_path: Path) -> None:
    prefix = _prefix(tmp_path)
    key = tmp_path / "workdir" / "default" / "id_rsa"
    e0 = f"vm0 ansible_host=192.168.201.2 ansible_ssh_private_key_file={key}"
    e1 = f"vm1 ansible_host=192.168.201.3 ansible_ssh_private_key_file={key}"
    ansible = LagoAnsible(prefix)
    text = ansible.get_inventory_str()
    assert text == "\n".join(
        [
            "[vm-type=default]", e0, e1,
            "[groups=web]", e0,
            "[vm-provider=local-libvirt]", e0, e1,
            "[web]", e0,
        ]
    )
    assert ansible.get_inventory_str([]) == text
    inv = ansible.get_inventory(["nics/1/net"])
    assert list(inv) == ["nics/1/net=n1", "web"]
    assert inv["nics/1/net=n1"] == [e0, e1]
    with ansible.get_inventory_temp_file(["groups"]) as f:
        assert f.read() == f"[groups=web]\n{e0}\n[web]\n{e0}"
        name = f.name
    assert not Path(name).exists()
