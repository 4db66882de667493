"""lago.subnet_lease over lago-core's lease store: Lago's API, exceptions
and on-disk format."""

from __future__ import annotations

import ipaddress
import json
import os
import uuid
from pathlib import Path

import pytest

from lago import subnet_lease as sl


def make_prefix(root: Path, name: str) -> str:
    """A prefix folder with a uuid file; returns the uuid file's path."""
    folder = root / name
    folder.mkdir()
    path = folder / "uuid"
    path.write_text(uuid.uuid4().hex)
    return str(path)


@pytest.fixture
def store(tmp_path: Path) -> sl.SubnetStore:
    return sl.SubnetStore(str(tmp_path / "leases"), min_third_octet=200, max_third_octet=203)


def test_first_free_subnet_and_lagos_file_format(store: sl.SubnetStore, tmp_path: Path) -> None:
    owner = make_prefix(tmp_path, "p0")
    net = store.acquire(owner)
    assert net == ipaddress.IPv4Network("192.168.200.0/24")
    lease_file = Path(store.path) / "200.lease"
    assert json.loads(lease_file.read_text()) == [owner, Path(owner).read_text()]
    assert sorted(os.listdir(store.path)) == ["200.lease", sl.LOCK_NAME]
    assert store.acquire(make_prefix(tmp_path, "p1")) == ipaddress.IPv4Network("192.168.201.0/24")


def test_given_subnet_reclaim_and_taken(store: sl.SubnetStore, tmp_path: Path) -> None:
    a, b = make_prefix(tmp_path, "a"), make_prefix(tmp_path, "b")
    assert str(store.acquire(a, "192.168.202.1")) == "192.168.202.0/24"
    assert store.acquire(a, "192.168.202.0/24") == ipaddress.IPv4Network("192.168.202.0/24")
    with pytest.raises(sl.LagoSubnetLeaseTakenException) as err:
        store.acquire(b, "192.168.202.0")
    assert a in str(err.value)


def test_stale_lease_is_taken_over(store: sl.SubnetStore, tmp_path: Path) -> None:
    a, b = make_prefix(tmp_path, "a"), make_prefix(tmp_path, "b")
    net = store.acquire(a)
    os.unlink(a)
    assert store.acquire(b, str(net)) == net


@pytest.mark.parametrize("subnet", ["10.0.0.0", "192.168.199.0", "192.168.204.7"])
def test_out_of_range(store: sl.SubnetStore, tmp_path: Path, subnet: str) -> None:
    with pytest.raises(sl.LagoSubnetLeaseOutOfRangeException):
        store.acquire(make_prefix(tmp_path, "p"), subnet)


@pytest.mark.parametrize("subnet", ["300.1.1.0", "192.168.x.0", "1.2.3.-4"])
def test_malformed(store: sl.SubnetStore, tmp_path: Path, subnet: str) -> None:
    with pytest.raises(sl.LagoSubnetLeaseMalformedAddrException):
        store.acquire(make_prefix(tmp_path, "p"), subnet)


def test_full_store(store: sl.SubnetStore, tmp_path: Path) -> None:
    owner = make_prefix(tmp_path, "p")
    for _ in range(4):
        store.acquire(owner)
    with pytest.raises(sl.LagoSubnetLeaseStoreFullException):
        store.acquire(owner)


def test_list_and_release(store: sl.SubnetStore, tmp_path: Path) -> None:
    owners = [make_prefix(tmp_path, f"p{i}") for i in range(3)]
    for owner in owners:
        store.acquire(owner)
    leases = store.list_leases()
    assert [lease.subnet for lease in leases] == [f"192.168.{n}.0/24" for n in (200, 201, 202)]
    assert all(lease.valid and lease.exist for lease in leases)
    assert leases[1].uuid_path == owners[1]
    assert leases[1].uuid == Path(owners[1]).read_text()
    assert [lease.subnet for lease in store.list_leases(uuid=leases[2].uuid)] == ["192.168.202.0/24"]
    os.unlink(owners[0])
    assert not store.list_leases()[0].valid
    store.release([leases[0].subnet, ipaddress.IPv4Network("192.168.202.0/24")])
    assert [lease.subnet for lease in store.list_leases()] == ["192.168.201.0/24"]


def test_unreadable_store_is_bad_permissions(store: sl.SubnetStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_path: str) -> list[str]:
        raise PermissionError(13, "denied here")

    monkeypatch.setattr(sl.os, "listdir", refuse)
    with pytest.raises(sl.LagoSubnetLeaseBadPermissionsException) as err:
        store.list_leases()
    assert str(err.value).endswith("denied here")
