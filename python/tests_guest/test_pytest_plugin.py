"""lago's pytest plugin with ``--lago-keep`` on a real guest: the
environment outlives the pytest run in the state its last test left, and
the command the plugin prints destroys it. (The plugin's other behaviours
on guests: examples/pytest/run; without guests: python/tests/test_pytest_plugin.py.)"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import CLI_LIMIT, ONE_VM, lago_cli, libvirt_objects_of
from lago import sdk

TESTS = """\
def test_leaves_a_mark(lago_vms):
    assert lago_vms["vm0"].ssh(["echo kept > /root/mark"], show_output=False).code == 0
"""


def test_keep_leaves_the_env_running_and_prints_how_to_destroy_it(
    lago_test_env: dict[str, str], scratch: Path
) -> None:
    (scratch / "LagoInitFile").write_text(ONE_VM)
    (scratch / "pytest.ini").write_text("[pytest]\n")
    (scratch / "test_keep.py").write_text(TESTS)
    wd = scratch / "wd"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lago-keep", f"--lago-workdir={wd}"],
        cwd=scratch, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=CLI_LIMIT,
    )
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"lago: environment kept running (--lago-keep): workdir {wd}\n" in run.stdout
        destroy = re.findall(r"^lago: destroy it: (lago .*)$", run.stdout, re.MULTILINE)
        assert destroy == [f"lago --workdir-path {wd} destroy -y"]

        # still running, with what the test wrote
        env = sdk.load_env(str(wd))
        uuid = Path(env.get_paths().uuid()).read_text().strip()
        assert libvirt_objects_of(uuid)
        vm = env.get_vms()["vm0"]
        assert vm.running()
        assert vm.ssh(["cat", "/root/mark"], show_output=False).out == b"kept\n"

        # the printed command removes it
        args = shlex.split(destroy[0])[1:]
        r = lago_cli(scratch, *args)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not wd.exists()
        assert libvirt_objects_of(uuid) == []
    finally:
        if wd.exists():  # the test failed: leave nothing behind
            lago_cli(scratch, "--workdir-path", str(wd), "destroy", "-y")
