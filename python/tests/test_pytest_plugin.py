"""lago's pytest plugin (``lago.pytest_plugin``) without guests: inner
pytest runs (``pytester``) whose ``lago.sdk.init`` is a fake environment
that records what the plugin asks of it. The real thing on guests:
examples/pytest/run."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

import pytest

from lago import pytest_plugin, sdk
from lago.pytest_plugin import MAX_NAME, SNAPSHOT_NAME, sanitize_nodeid

pytest_plugins = ["pytester"]


class FakeVM:
    def __init__(self, name: str, events: list[tuple[str, ...]]) -> None:
        self._name = name
        self._events = events

    def name(self) -> str:
        return self._name

    def wait_for_ssh(self) -> None:
        self._events.append(("wait_for_ssh", self._name))


class FakePaths:
    def __init__(self, logs: Path) -> None:
        self._logs = logs

    def logs(self) -> str:
        return str(self._logs)


class FakeEnv:
    """What the plugin uses of ``lago.sdk.SDK``, recording each call."""

    def __init__(self, workdir: Path, events: list[tuple[str, ...]], collect_error: Optional[Exception]) -> None:
        self.workdir = workdir
        self._events = events
        self._collect_error = collect_error
        logs = workdir / "default" / "logs"
        logs.mkdir(parents=True)
        (logs / "vm0.console.log").write_text("tiny: up\n")
        self._paths = FakePaths(logs)

    def start(self) -> None:
        self._events.append(("start",))

    def snapshot(self, name: str, memory: bool = False) -> None:
        self._events.append(("snapshot", name, "memory" if memory else "disk"))

    def revert(self, name: str) -> None:
        self._events.append(("revert", name))

    def get_vms(self) -> dict[str, FakeVM]:
        self._events.append(("get_vms",))
        return {"vm0": FakeVM("vm0", self._events)}

    def get_paths(self) -> FakePaths:
        return self._paths

    def collect_artifacts(self, output_dir: str, ignore_nopath: bool) -> None:
        self._events.append(("collect", output_dir, str(ignore_nopath)))
        if self._collect_error is not None:
            raise self._collect_error
        out = Path(output_dir) / "vm0"
        out.mkdir(parents=True)
        (out / "_etc_hostname").write_text("vm0\n")

    def destroy(self) -> None:
        self._events.append(("destroy",))
        shutil.rmtree(self.workdir)


class Recorder:
    """Replaces ``lago.sdk.init``: every call and what the fake env saw."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.collect_error: Optional[Exception] = None
        self.init_error: Optional[Exception] = None
        self.envs: list[FakeEnv] = []

    def __call__(self, config: Any, workdir: Optional[str] = None, **kwargs: Any) -> FakeEnv:
        assert workdir is not None
        self.events.append(("init", str(config), workdir))
        if self.init_error is not None:
            raise self.init_error
        env = FakeEnv(Path(workdir), self.events, self.collect_error)
        self.envs.append(env)
        return env

    def kinds(self) -> list[str]:
        """The calls in order, without get_vms and wait_for_ssh."""
        return [e[0] for e in self.events if e[0] not in ("get_vms", "wait_for_ssh")]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(sdk, "init", rec)
    return rec


INITFILE = "domains: {}\nnets: {}\n"


def project(pytester: pytest.Pytester, tests: str) -> None:
    """An inner project: an init file in its rootdir and one test module."""
    (pytester.path / "LagoInitFile").write_text(INITFILE)
    pytester.makepyfile(test_env=tests)


def props(xml: Path, name: str) -> dict[str, list[tuple[str, str]]]:
    """Test case name → its ``<property>`` (name, value) pairs."""
    root = ET.parse(xml).getroot()
    return {
        c.get("name", ""): [(p.get("name", ""), p.get("value", "")) for p in c.iter("property")]
        for c in root.iter("testcase")
    }


def system_out(xml: Path, name: str) -> str:
    root = ET.parse(xml).getroot()
    case = next(c for c in root.iter("testcase") if c.get("name") == name)
    return "".join(e.text or "" for e in case.iter("system-out"))


# -- registration ------------------------------------------------------------


def test_entry_point_names_the_module() -> None:
    from importlib import metadata

    eps = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "lago"]
    assert [ep.value for ep in eps] == ["lago.pytest_plugin"]
    assert eps[0].load() is pytest_plugin


def test_options_and_ini_keys_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == 0
    out = result.stdout.str()
    for option in ("--lago-initfile=PATH", "--lago-workdir=PATH", "--lago-keep", "--lago-artifacts=DIR"):
        assert option in out
    for key in ("lago_initfile", "lago_workdir", "lago_artifacts", "lago_keep"):
        assert f"  {key} " in out


def test_marker_registered_for_strict_markers(pytester: pytest.Pytester, fake: Recorder) -> None:
    pytester.makepyfile(
        test_m="import pytest\n@pytest.mark.lago_clean\ndef test_marked():\n    pass\n"
    )
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.lago_clean: revert the lago environment*"])
    result = pytester.runpytest("--strict-markers", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["test_m.py::test_marked"])
    assert fake.events == []


@pytest.mark.parametrize(
    ("nodeid", "name"),
    [
        ("tests/test_a.py::TestX::test_y[a/b c]", "tests_test_a.py_TestX_test_y_a_b_c"),
        ("test_env.py::test_ok", "test_env.py_test_ok"),
        ("../up.py::t[..]", "up.py_t_.."),
        ("::", "test"),
        ("t[é]", "t"),
    ],
)
def test_sanitize_nodeid(nodeid: str, name: str) -> None:
    assert sanitize_nodeid(nodeid) == name


def test_sanitize_long_nodeids_stay_apart() -> None:
    a = sanitize_nodeid("t.py::test[" + "x" * 300 + "1]")
    b = sanitize_nodeid("t.py::test[" + "x" * 300 + "2]")
    assert a != b
    assert len(a) == len(b) == MAX_NAME
    assert a.startswith("t.py_test_xxx")


# -- inert unless used -----------------------------------------------------------


def test_inert_when_no_lago_fixture_is_used(pytester: pytest.Pytester, fake: Recorder) -> None:
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n\ndef test_bad():\n    assert 0, 'own failure'\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: own failure*"])
    assert fake.events == []
    assert sorted(p.name for p in pytester.path.iterdir()) == ["out.xml", "test_plain.py"]
    assert all(not pairs for pairs in props(pytester.path / "out.xml", "").values())


def test_k_selecting_no_env_test_starts_no_env(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, "def test_uses_lago(lago_vms):\n    pass\n\ndef test_plain():\n    pass\n")
    result = pytester.runpytest("-k", "plain")
    result.assert_outcomes(passed=1, deselected=1)
    assert fake.events == []
    result = pytester.runpytest("-k", "uses_lago", f"--lago-workdir={pytester.path / 'wd'}")
    result.assert_outcomes(passed=1, deselected=1)
    assert fake.kinds() == ["init", "start", "snapshot", "destroy"]


def test_collection_error_does_not_crash_the_plugin(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, "def test_env(lago_env):\n    pass\n")
    pytester.makepyfile(test_broken="def test_x(:\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting test_broken.py*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert fake.events == []
    result = pytester.runpytest("--continue-on-collection-errors", f"--lago-workdir={pytester.path / 'wd'}")
    result.assert_outcomes(passed=1, errors=1)
    assert fake.kinds() == ["init", "start", "snapshot", "destroy"]


# -- the session's environment -------------------------------------------------------

LIFECYCLE = """
import pytest

def test_c(lago_env):
    pass

def test_a(lago_clean_env):
    pass

@pytest.mark.lago_clean
def test_b(lago_vms):
    assert list(lago_vms) == ["vm0"]

def test_plain():
    pass

@pytest.mark.lago_clean
def test_d():
    pass

def test_e(lago_vms, lago_clean_env):
    pass
"""


def test_one_env_per_session_reverted_when_dirty(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, LIFECYCLE)
    wd = pytester.path / "wd"
    result = pytester.runpytest(f"--lago-workdir={wd}")
    result.assert_outcomes(passed=6)
    kinds = fake.kinds()
    # test_c (lago_env alone) may change the env: test_a reverts; then
    # test_b, test_d (test_plain in between changes nothing) and test_e
    assert kinds == ["init", "start", "snapshot", "revert", "revert", "revert", "revert", "destroy"]
    assert fake.events[0] == ("init", str(pytester.path / "LagoInitFile"), str(wd))
    assert ("snapshot", SNAPSHOT_NAME, "memory") in fake.events and ("revert", SNAPSHOT_NAME) in fake.events
    # every VM answers SSH after start and after each revert
    for i, e in enumerate(fake.events):
        if e[0] in ("start", "revert"):
            assert ("wait_for_ssh", "vm0") in fake.events[i + 1 :]
    # lago_vms taken after the revert in test_e, though listed first
    last_revert = max(i for i, e in enumerate(fake.events) if e[0] == "revert")
    assert any(e[0] == "get_vms" for e in fake.events[last_revert + 1 :])
    assert not wd.exists()


def test_no_revert_right_after_the_snapshot(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, "import pytest\npytestmark = pytest.mark.lago_clean\n\ndef test_1():\n    pass\n\ndef test_2():\n    pass\n")
    result = pytester.runpytest(f"--lago-workdir={pytester.path / 'wd'}")
    result.assert_outcomes(passed=2)
    assert fake.kinds() == ["init", "start", "snapshot", "revert", "destroy"]


def test_default_paths_beside_the_ini_file(
    pytester: pytest.Pytester, fake: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = pytester.mkdir("suite")
    (sub / "LagoInitFile").write_text(INITFILE)
    (sub / "pytest.ini").write_text("[pytest]\n")
    (sub / "test_f.py").write_text("def test_f(lago_env):\n    assert 0\n")
    modes: list[int] = []

    def init(config: Any, workdir: Optional[str] = None, **kwargs: Any) -> FakeEnv:
        assert workdir is not None
        modes.append(Path(workdir).parent.stat().st_mode & 0o777)
        return fake(config, workdir, **kwargs)

    monkeypatch.setattr(sdk, "init", init)
    result = pytester.runpytest(str(sub / "test_f.py"), f"--rootdir={sub}", "-c", str(sub / "pytest.ini"))
    result.assert_outcomes(failed=1)
    initfile, workdir = fake.events[0][1], Path(fake.events[0][2])
    assert initfile == str(sub / "LagoInitFile")
    assert workdir.parent.parent == sub and workdir.parent.name.startswith(".lago-pytest-")
    assert modes == [0o755]  # qemu reaches the disks below it
    assert not workdir.parent.exists()  # destroyed, and the plugin's folder removed
    assert (sub / "lago-artifacts" / "test_f.py_test_f" / "vm0.console.log").is_file()


def test_ini_keys(pytester: pytest.Pytester, fake: Recorder) -> None:
    (pytester.path / "envs").mkdir()
    (pytester.path / "envs" / "Init.yaml").write_text(INITFILE)
    pytester.makeini("[pytest]\nlago_initfile = envs/Init.yaml\nlago_workdir = wd\nlago_artifacts = arts\nlago_keep = true\n")
    pytester.makepyfile(test_i="def test_i(lago_env):\n    assert 0\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert fake.events[0][1:] == (str(pytester.path / "envs" / "Init.yaml"), str(pytester.path / "wd"))
    assert "destroy" not in fake.kinds()
    assert (pytester.path / "arts" / "test_i.py_test_i" / "vm0.console.log").is_file()


def test_missing_initfile_is_one_line(pytester: pytest.Pytester, fake: Recorder) -> None:
    pytester.makepyfile(test_n="def test_one(lago_env):\n    pass\n\ndef test_two(lago_env):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    assert f"lago: init file {pytester.path / 'LagoInitFile'} not found: give --lago-initfile PATH" in out
    assert "Traceback" not in out and "def _start" not in out
    assert fake.events == []


def test_lago_error_at_init_is_one_line(pytester: pytest.Pytester, fake: Recorder) -> None:
    from lago._exc import LagoConfigError

    fake.init_error = LagoConfigError("LagoInitFile: domains.vm0.memory: want an integer")
    project(pytester, "def test_one(lago_env):\n    pass\n\ndef test_two(lago_vms):\n    pass\n")
    result = pytester.runpytest(f"--lago-workdir={pytester.path / 'wd'}")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*lago: the environment of */LagoInitFile did not come up: LagoInitFile: domains.vm0.memory: want an integer"]
    )
    assert "def _start" not in result.stdout.str()
    assert fake.kinds() == ["init"]  # not tried again for the second test


def test_nonempty_workdir_refused(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, "def test_one(lago_env):\n    pass\n")
    (pytester.path / "wd").mkdir()
    (pytester.path / "wd" / "x").write_text("")
    result = pytester.runpytest(f"--lago-workdir={pytester.path / 'wd'}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lago: workdir */wd (--lago-workdir / ini lago_workdir): exists and is not an empty folder*"])
    assert fake.events == []


def test_x_still_destroys(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, "def test_1(lago_env):\n    assert 0\n\ndef test_2(lago_env):\n    pass\n")
    wd = pytester.path / "wd"
    result = pytester.runpytest("-x", f"--lago-workdir={wd}")
    result.assert_outcomes(failed=1)
    assert fake.kinds() == ["init", "start", "snapshot", "collect", "destroy"]
    assert not wd.exists()


def test_keep_leaves_the_env_and_says_how_to_destroy_it(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, "def test_1(lago_vms):\n    pass\n")
    wd = pytester.path / "wd"
    result = pytester.runpytest("--lago-keep", f"--lago-workdir={wd}")
    result.assert_outcomes(passed=1)
    assert "destroy" not in fake.kinds()
    assert wd.is_dir()
    result.stdout.fnmatch_lines(
        [
            f"lago: environment kept running (--lago-keep): workdir {wd}",
            f"lago: VMs: vm0; a shell: lago --workdir-path {wd} shell VM",
            f"lago: destroy it: lago --workdir-path {wd} destroy -y",
        ]
    )


# -- failing tests' artifacts --------------------------------------------------------

FAILING = """
import pytest

@pytest.fixture
def broken(lago_env):
    raise RuntimeError("fixture broke")

def test_call(lago_vms):
    assert 0, "own failure"

def test_setup(broken):
    pass

def test_ok(lago_env):
    pass

def test_plain_fails():
    assert 0
"""


def test_failure_artifacts_attached_to_junit(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, FAILING)
    pytester.makeini("[pytest]\njunit_logging = system-out\n")
    arts = pytester.path / "arts"
    xml = pytester.path / "out.xml"
    result = pytester.runpytest(f"--lago-workdir={pytester.path / 'wd'}", f"--lago-artifacts={arts}", f"--junitxml={xml}")
    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines(["*AssertionError: own failure*", "*RuntimeError: fixture broke*"])
    collected = [e[1] for e in fake.events if e[0] == "collect"]
    assert collected == [str(arts / "test_env.py_test_call"), str(arts / "test_env.py_test_setup")]
    assert ("collect", str(arts / "test_env.py_test_call"), "True") in fake.events
    cases = props(xml, "")
    for name in ("test_call", "test_setup"):
        folder = arts / f"test_env.py_{name}"
        files = [folder / "vm0" / "_etc_hostname", folder / "vm0.console.log"]
        assert cases[name] == [("lago_artifacts", str(folder))] + [("lago_attachment", str(f)) for f in files]
        assert (folder / "vm0.console.log").read_text() == "tiny: up\n"
        out = system_out(xml, name)
        for f in files:
            assert f"\n[[ATTACHMENT|{f}]]\n" in out
    assert cases["test_ok"] == [] and cases["test_plain_fails"] == []
    assert not (arts / "test_env.py_test_plain_fails").exists()
    # the terminal shows where they went
    result.stdout.fnmatch_lines([f"lago: artifacts of test_env.py::test_call in {arts / 'test_env.py_test_call'}"])


def test_collect_error_does_not_mask_the_failure(pytester: pytest.Pytester, fake: Recorder) -> None:
    fake.collect_error = OSError("guest gone")
    project(pytester, "def test_call(lago_vms):\n    assert 0, 'own failure'\n")
    arts = pytester.path / "arts"
    xml = pytester.path / "out.xml"
    result = pytester.runpytest(f"--lago-workdir={pytester.path / 'wd'}", f"--lago-artifacts={arts}", f"--junitxml={xml}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: own failure*", "lago: artifacts not collected: OSError: guest gone"])
    folder = arts / "test_env.py_test_call"
    assert props(xml, "")["test_call"] == [
        ("lago_artifacts", str(folder)),
        ("lago_attachment", str(folder / "vm0.console.log")),
    ]
    assert "destroy" in fake.kinds()


def test_rerun_replaces_the_folder(pytester: pytest.Pytester, fake: Recorder) -> None:
    project(pytester, "def test_call(lago_vms):\n    assert 0\n")
    arts = pytester.path / "arts"
    stale = arts / "test_env.py_test_call" / "stale"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    result = pytester.runpytest(f"--lago-workdir={pytester.path / 'wd'}", f"--lago-artifacts={arts}")
    result.assert_outcomes(failed=1)
    assert not stale.exists() and (stale.parent / "vm0.console.log").is_file()
