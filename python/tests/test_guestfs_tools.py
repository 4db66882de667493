"""lago.guestfs_tools over a fake libguestfs handle of ours: finding the root
filesystem, opening and mounting read-only (backend, variables, retries,
teardown), extracting paths, and the stand-in used without the bindings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from lago import _guestfs_missing, guestfs_tools
from lago.guestfs_tools import GuestFSError
from lago.plugins.vm import ExtractPathNoPathError
from lago.utils import LagoException


class FakeDisk:
    """What the fake handles see: the disk's layout and the failures to play."""

    def __init__(self) -> None:
        self.roots: List[str] = ["/dev/sda1"]
        self.filesystems: Any = {"/dev/sda1": "ext4"}
        self.files: Dict[str, bytes] = {}
        self.dirs: Dict[str, Dict[str, bytes]] = {}
        self.launch_fails = False
        self.mount_failures = 0  # how many mount_ro calls fail first
        self.umount_fails = False
        self.copy_fails = False
        self.handles: List[FakeGuestFS] = []
        self.sleeps: List[float] = []


class FakeGuestFS:
    """A handle recording its calls as (name, args) in order."""

    def __init__(self, disk: FakeDisk, **kwargs: Any) -> None:
        self.disk = disk
        self.calls: List[Tuple[str, Tuple[Any, ...]]] = [("GuestFS", tuple(sorted(kwargs.items())))]
        disk.handles.append(self)

    def names(self) -> List[str]:
        return [name for name, _ in self.calls]

    def _rec(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def add_drive_ro(self, path: str) -> None:
        self._rec("add_drive_ro", path)

    def set_backend(self, backend: str) -> None:
        self._rec("set_backend", backend)

    def launch(self) -> None:
        self._rec("launch")
        if self.disk.launch_fails:
            raise RuntimeError("launch: no appliance")

    def inspect_os(self) -> List[str]:
        self._rec("inspect_os")
        return list(self.disk.roots)

    def list_filesystems(self) -> Any:
        self._rec("list_filesystems")
        return self.disk.filesystems

    def mount_ro(self, device: str, mountpoint: str) -> None:
        self._rec("mount_ro", device, mountpoint)
        if self.disk.mount_failures > 0:
            self.disk.mount_failures -= 1
            raise RuntimeError("mount: structure needs cleaning")

    def umount(self, device: str) -> None:
        self._rec("umount", device)
        if self.disk.umount_fails:
            raise RuntimeError("umount: busy")

    def is_file(self, path: str, followsymlinks: bool = False) -> bool:
        self._rec("is_file", path, followsymlinks)
        return path in self.disk.files

    def is_dir(self, path: str, followsymlinks: bool = False) -> bool:
        self._rec("is_dir", path, followsymlinks)
        return path in self.disk.dirs

    def download(self, remote: str, local: str) -> None:
        self._rec("download", remote, local)
        if self.disk.copy_fails:
            raise RuntimeError("download: input/output error")
        Path(local).write_bytes(self.disk.files[remote])

    def copy_out(self, remote: str, localdir: str) -> None:
        self._rec("copy_out", remote, localdir)
        if self.disk.copy_fails:
            raise RuntimeError("copy_out: input/output error")
        # as libguestfs does: the directory itself lands inside localdir
        target = Path(localdir, Path(remote).name)
        target.mkdir()
        for name, data in self.disk.dirs[remote].items():
            (target / name).write_bytes(data)

    def shutdown(self) -> None:
        self._rec("shutdown")

    def close(self) -> None:
        self._rec("close")


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDisk]:
    """Patch ``lago.guestfs_tools.guestfs.GuestFS`` (the path Lago's own tests
    patch) with fake handles, and ``time.sleep`` to record waits."""
    fake = FakeDisk()

    def make(**kwargs: Any) -> FakeGuestFS:
        return FakeGuestFS(fake, **kwargs)

    monkeypatch.setattr("lago.guestfs_tools.guestfs.GuestFS", make)
    monkeypatch.setattr("lago.guestfs_tools.time.sleep", fake.sleeps.append)
    monkeypatch.delenv("LIBGUESTFS_BACKEND", raising=False)
    yield fake


def handle(disk: FakeDisk) -> FakeGuestFS:
    return FakeGuestFS(disk)


# find_rootfs


def test_find_rootfs_takes_the_one_inspected_root(disk: FakeDisk) -> None:
    conn = handle(disk)
    disk.roots = ["/dev/vda3"]
    assert guestfs_tools.find_rootfs(conn, "/dev/sda1") == "/dev/vda3"
    assert "list_filesystems" not in conn.names()


@pytest.mark.parametrize("roots", [[], ["/dev/sdb1", "/dev/sda10"]])
def test_find_rootfs_exact_hint_beats_substring(disk: FakeDisk, roots: List[str]) -> None:
    disk.roots = roots
    disk.filesystems = {"/dev/sda10": "xfs", "/dev/sda1": "ext4", "/dev/sdb1": "ext4"}
    assert guestfs_tools.find_rootfs(handle(disk), "/dev/sda1") == "/dev/sda1"


def test_find_rootfs_first_sorted_device_containing_hint(disk: FakeDisk) -> None:
    disk.roots = []
    disk.filesystems = {"/dev/vg/root": "xfs", "/dev/sda2": "ext4", "/dev/mapper/c-root": "xfs"}
    assert guestfs_tools.find_rootfs(handle(disk), "root") == "/dev/mapper/c-root"


def test_find_rootfs_accepts_pairs_from_a_handle_without_dicts(disk: FakeDisk) -> None:
    disk.roots = []
    disk.filesystems = [("/dev/sdb", "swap"), ("/dev/sdz", "ext4")]
    assert guestfs_tools.find_rootfs(handle(disk), "/dev/sdz") == "/dev/sdz"


@pytest.mark.parametrize("filesystems", [{}, {"/dev/sda": "ext4"}])
def test_find_rootfs_no_match_raises(disk: FakeDisk, filesystems: Dict[str, str]) -> None:
    disk.roots = []
    disk.filesystems = filesystems
    with pytest.raises(GuestFSError, match=r"^no root fs /dev/sdb could be found from list \{"):
        guestfs_tools.find_rootfs(handle(disk), "/dev/sdb")


# guestfs_conn_ro


def test_conn_ro_opens_read_only_launches_and_tears_down(disk: FakeDisk) -> None:
    with guestfs_tools.guestfs_conn_ro("/images/vm0.qcow2") as conn:
        assert conn.names() == ["GuestFS", "add_drive_ro", "set_backend", "launch"]
    assert conn.calls[0] == ("GuestFS", (("python_return_dict", True),))
    assert conn.calls[1:3] == [("add_drive_ro", ("/images/vm0.qcow2",)), ("set_backend", ("direct",))]
    assert conn.names()[-2:] == ["shutdown", "close"]


def test_conn_ro_backend_from_environment(disk: FakeDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBGUESTFS_BACKEND", "libvirt")
    with guestfs_tools.guestfs_conn_ro("d") as conn:
        assert ("set_backend", ("libvirt",)) in conn.calls


def test_conn_ro_expands_known_variables_only(disk: FakeDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAGO_T_IMAGES", "/srv/images")
    monkeypatch.delenv("LAGO_T_UNSET", raising=False)
    with guestfs_tools.guestfs_conn_ro("$LAGO_T_IMAGES/a.qcow2") as conn:
        assert ("add_drive_ro", ("/srv/images/a.qcow2",)) in conn.calls
    with guestfs_tools.guestfs_conn_ro("$LAGO_T_UNSET/a.qcow2") as conn:
        assert ("add_drive_ro", ("$LAGO_T_UNSET/a.qcow2",)) in conn.calls


def test_conn_ro_launch_failure_is_guestfs_error_and_closes(disk: FakeDisk) -> None:
    disk.launch_fails = True
    with pytest.raises(GuestFSError, match="^failed starting guestfs in readonly mode for disk: d$"):
        with guestfs_tools.guestfs_conn_ro("d"):
            pytest.fail("the block must not run")
    (conn,) = disk.handles
    assert conn.names()[-1] == "close"
    assert "shutdown" not in conn.names()


def test_conn_ro_tears_down_when_the_block_raises(disk: FakeDisk) -> None:
    with pytest.raises(KeyError):
        with guestfs_tools.guestfs_conn_ro("d"):
            raise KeyError("x")
    assert disk.handles[0].names()[-2:] == ["shutdown", "close"]


# guestfs_conn_mount_ro


def test_mount_ro_mounts_root_then_unmounts(disk: FakeDisk) -> None:
    disk.roots = []
    disk.filesystems = {"/dev/sda1": "ext4", "/dev/sda2": "swap"}
    with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/sda1") as conn:
        assert conn.calls[-1] == ("mount_ro", ("/dev/sda1", "/"))
        assert "umount" not in conn.names()
    assert conn.names()[-3:] == ["umount", "shutdown", "close"]
    assert ("umount", ("/dev/sda1",)) in conn.calls
    assert len(disk.handles) == 1
    assert disk.sleeps == []


@pytest.mark.parametrize("retries", [1, 3, 13])
def test_mount_ro_retries_on_fresh_handles(disk: FakeDisk, retries: int) -> None:
    disk.mount_failures = retries - 1
    with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/sda1", retries=retries, wait=0.25) as conn:
        assert conn is disk.handles[-1]
    assert len(disk.handles) == retries
    for h in disk.handles:
        assert h.names().count("mount_ro") == 1
        assert h.names()[-2:] == ["shutdown", "close"]
    assert [h.names().count("umount") for h in disk.handles] == [0] * (retries - 1) + [1]
    assert disk.sleeps == [0.25] * (retries - 1)


@pytest.mark.parametrize("retries", [1, 3])
def test_mount_ro_gives_up_after_retries(disk: FakeDisk, retries: int) -> None:
    disk.mount_failures = retries
    with pytest.raises(GuestFSError, match="^failed mounting /d.qcow2:/dev/sda1 using guestfs$"):
        with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/sda1", retries=retries, wait=2):
            pytest.fail("the block must not run")
    assert len(disk.handles) == retries
    assert all("umount" not in h.names() and h.names()[-1] == "close" for h in disk.handles)
    assert disk.sleeps == [2] * (retries - 1)


def test_mount_ro_default_is_five_attempts_a_second_apart(disk: FakeDisk) -> None:
    disk.mount_failures = 99
    with pytest.raises(GuestFSError):
        with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/sda1"):
            pass
    assert len(disk.handles) == 5
    assert disk.sleeps == [1] * 4


def test_mount_ro_unmount_failure_is_guestfs_error(disk: FakeDisk) -> None:
    disk.umount_fails = True
    with pytest.raises(GuestFSError, match="^failed unmounting /d.qcow2:/dev/sda1 using guestfs$"):
        with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/sda1"):
            pass
    assert disk.handles[0].names()[-2:] == ["shutdown", "close"]


def test_mount_ro_block_error_skips_unmount_but_closes(disk: FakeDisk) -> None:
    with pytest.raises(ValueError):
        with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/sda1"):
            raise ValueError("in the block")
    (conn,) = disk.handles
    assert "umount" not in conn.names()
    assert conn.names()[-2:] == ["shutdown", "close"]


def test_mount_ro_no_root_is_not_retried(disk: FakeDisk) -> None:
    disk.roots = []
    disk.filesystems = {"/dev/sda1": "ext4"}
    with pytest.raises(GuestFSError, match="no root fs /dev/vdb"):
        with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/vdb", wait=0):
            pass
    assert len(disk.handles) == 1


def test_mount_ro_needs_an_attempt(disk: FakeDisk) -> None:
    with pytest.raises(GuestFSError, match="retries must be at least 1, got 0"):
        with guestfs_tools.guestfs_conn_mount_ro("/d.qcow2", "/dev/sda1", retries=0):
            pass
    assert disk.handles == []


# extract_paths


def test_extract_paths_files_and_directories(disk: FakeDisk, tmp_path: Path) -> None:
    disk.files = {"/etc/hostname": b"vm0\n"}
    disk.dirs = {"/var/log/app": {"a.log": b"A"}, "/root/out": {"r": b"R"}}
    existing = tmp_path / "exists"
    existing.mkdir()
    created = tmp_path / "new" / "deeper"
    paths = [
        ("/etc/hostname", str(tmp_path / "hostname")),
        ("/var/log/app", str(created)),
        ("/root/out", str(existing)),
    ]
    guestfs_tools.extract_paths("/d.qcow2", "/dev/sda1", paths, ignore_nopath=False)
    assert (tmp_path / "hostname").read_bytes() == b"vm0\n"
    assert (created / "app" / "a.log").read_bytes() == b"A"
    assert (existing / "out" / "r").read_bytes() == b"R"
    (conn,) = disk.handles
    assert ("is_file", ("/etc/hostname", True)) in conn.calls
    assert ("is_dir", ("/var/log/app", True)) in conn.calls
    assert conn.names().count("download") == 1
    assert conn.names().count("copy_out") == 2
    assert conn.names()[-3:] == ["umount", "shutdown", "close"]


def test_extract_paths_missing_path_raises_unless_ignored(disk: FakeDisk, tmp_path: Path) -> None:
    disk.files = {"/b": b"B"}
    paths = [("/nope", str(tmp_path / "x")), ("/b", str(tmp_path / "b"))]
    with pytest.raises(ExtractPathNoPathError) as info:
        guestfs_tools.extract_paths("/d.qcow2", "/dev/sda1", paths, ignore_nopath=False)
    assert str(info.value) == "Failed to extract files: unable to extract /nope: path does not exist."
    assert not (tmp_path / "b").exists()
    assert disk.handles[0].names()[-2:] == ["shutdown", "close"]

    guestfs_tools.extract_paths("/d.qcow2", "/dev/sda1", paths, ignore_nopath=True)
    assert (tmp_path / "b").read_bytes() == b"B"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_extract_paths_copy_failure_is_guestfs_error(disk: FakeDisk, tmp_path: Path, kind: str) -> None:
    disk.copy_fails = True
    disk.files = {"/f": b""} if kind == "file" else {}
    disk.dirs = {} if kind == "file" else {"/f": {}}
    dst = str(tmp_path / "dst")
    with pytest.raises(GuestFSError, match=f"^failed copying {kind} /f to {dst} using guestfs: "):
        guestfs_tools.extract_paths("/d.qcow2", "/dev/sda1", [("/f", dst)], ignore_nopath=True)
    assert disk.handles[0].names()[-2:] == ["shutdown", "close"]


# without libguestfs' bindings


@pytest.fixture
def no_bindings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``import guestfs`` fails; this module's stand-in takes its place."""
    monkeypatch.setitem(sys.modules, "guestfs", None)
    monkeypatch.setattr(_guestfs_missing, "import_error", _guestfs_missing.import_error)
    monkeypatch.setattr(guestfs_tools, "guestfs", guestfs_tools._load_bindings())
    yield


def test_stand_in_replaces_missing_bindings(no_bindings: None) -> None:
    assert guestfs_tools.guestfs is _guestfs_missing
    assert "import of guestfs halted" in _guestfs_missing.import_error


Opener = Callable[[], Any]


@pytest.mark.parametrize(
    "use",
    [
        lambda: guestfs_tools.guestfs.GuestFS(python_return_dict=True),
        lambda: guestfs_tools.guestfs_conn_ro("d").__enter__(),
        lambda: guestfs_tools.guestfs_conn_mount_ro("d", "/dev/sda1").__enter__(),
        lambda: guestfs_tools.extract_paths("d", "/dev/sda1", [("/a", "/b")], ignore_nopath=True),
    ],
    ids=["GuestFS", "conn_ro", "conn_mount_ro", "extract_paths"],
)
def test_stand_in_says_what_to_install(no_bindings: None, use: Opener) -> None:
    with pytest.raises(GuestFSError) as info:
        use()
    message = str(info.value)
    assert isinstance(info.value, LagoException)
    assert "\n" not in message
    assert message.startswith("lago.guestfs_tools needs libguestfs' Python bindings")
    assert "install the python3-guestfs package" in message
    assert "import of guestfs halted" in message


def test_import_without_bindings_needs_no_guestfs(tmp_path: Path) -> None:
    """A fresh interpreter that cannot import guestfs imports the module."""
    import subprocess

    blocker = tmp_path / "guestfs.py"
    blocker.write_text("raise ImportError('libguestfs.so.0: cannot open shared object file')\n")
    code = (
        "from lago import guestfs_tools as g\n"
        "try:\n"
        "    g.guestfs.GuestFS()\n"
        "except g.GuestFSError as e:\n"
        "    print(g.guestfs.__name__, '|', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("lago._guestfs_missing | lago.guestfs_tools needs")
    assert "(libguestfs.so.0: cannot open shared object file)" in out
