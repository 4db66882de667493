"""The package's types reach user scripts: a script written as Lago's SDK
documentation shows passes ``mypy --strict``, and wrong calls on the SDK
object are reported (the SDK's members are typed, not ``__getattr__``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

DOC_SCRIPT = """\
import logging

from lago import sdk

env = sdk.init(
    config="/tmp/el7-init.yaml",
    workdir="/tmp/my_test_env",
    logfile="/tmp/lago.log",
    loglevel=logging.DEBUG,
)
sdk.add_stream_logger()
env.start()
vm = env.get_vms()["vm01"]
res = vm.ssh(["hostname", "-f"])
print(res.code, res.out.decode())
res = vm.interactive_ssh()
print(res.code)
env.stop(["vm01"])
env.destroy()
"""

BAD_SCRIPT = """\
from lago import sdk

env = sdk.load_env("/tmp/my_test_env")
env.start(42)
env.no_such_method()
env.get_vms()["vm01"].ssh(["hostname"], shw_output=False)
"""


def mypy(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(text))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(script)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )


def test_documented_sdk_script_passes_strict(tmp_path: Path) -> None:
    r = mypy(tmp_path, DOC_SCRIPT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout


def test_wrong_calls_are_reported(tmp_path: Path) -> None:
    r = mypy(tmp_path, BAD_SCRIPT)
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [line for line in r.stdout.splitlines() if ": error: " in line]
    assert any(':4: error: Argument 1 to "start" of "SDK" has incompatible type "int"' in e for e in errors), errors
    assert any(':5: error: "SDK" has no attribute "no_such_method"' in e for e in errors), errors
    assert any(':6: error: Unexpected keyword argument "shw_output" for "ssh"' in e for e in errors), errors
    assert len(errors) == 3, errors
