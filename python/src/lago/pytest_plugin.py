"""lago's pytest plugin: one lago environment per test session, reverted to
a snapshot taken after start for the tests that ask for a clean one, and
the VMs' artifacts and console logs attached to the JUnit report of a
failing test.

Installed with the ``lago`` package and loaded by every pytest through the
``pytest11`` entry point ``lago``, so it does nothing until a test uses one
of its fixtures (``lago_env``, ``lago_vms``, ``lago_clean_env``) or its
marker (``lago_clean``): a session whose selected tests use none of them
starts no environment, reads no init file and writes nothing.

Usage: docs/pytest.md; an example suite: examples/pytest/.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generator, Iterator, Optional

import pytest

if TYPE_CHECKING:
    from lago.plugins.vm import VMPlugin
    from lago.sdk import SDK

#: The snapshot the plugin takes once every VM answers SSH, and reverts to.
SNAPSHOT_NAME = "lago-pytest-clean"

#: The marker that gives a test a clean environment (as ``lago_clean_env``).
CLEAN_MARKER = "lago_clean"

#: The fixtures through which a test uses the environment.
ENV_FIXTURES = frozenset({"lago_env", "lago_vms", "lago_clean_env"})

#: JUnit property naming the folder of a failing test's artifacts.
PROP_FOLDER = "lago_artifacts"

#: JUnit property naming one collected file (one property per file).
PROP_FILE = "lago_attachment"

#: The longest folder name ``sanitize_nodeid`` returns.
MAX_NAME = 120

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_nodeid(nodeid: str) -> str:
    """A folder name for test ``nodeid``: runs of characters other than
    letters, digits, ``.``, ``_`` and ``-`` become one ``_`` (``::`` and
    ``/`` included), no leading dot; a name longer than ``MAX_NAME`` keeps
    its start and ends with a hash of the whole node id, so that two long
    ids stay apart."""
    name = _UNSAFE.sub("_", nodeid).lstrip("._").rstrip("_")
    if not name:
        name = "test"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(nodeid.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        name = f"{name[: MAX_NAME - 17]}-{digest}"
    return name


@dataclass
class _Session:
    """The plugin's state for one pytest run (kept in the config's stash)."""

    env: Optional["SDK"] = None
    workdir: Optional[Path] = None
    #: a folder the plugin made to hold the workdir (removed if left empty)
    made_parent: Optional[Path] = None
    logfile: Optional[Path] = None
    #: a test or fixture may have changed the environment since the
    #: snapshot or the last revert
    dirty: bool = False
    kept_lines: list[str] = field(default_factory=list)


_SESSION = pytest.StashKey[_Session]()


def _state(config: pytest.Config) -> _Session:
    state = config.stash.get(_SESSION, None)
    if state is None:
        state = _Session()
        config.stash[_SESSION] = state
    return state


# -- options ----------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lago", "lago environments (fixtures lago_env, lago_vms, lago_clean_env)")
    group.addoption(
        "--lago-initfile",
        metavar="PATH",
        default=None,
        help="the LagoInitFile of the session's environment (default: ini key lago_initfile, "
        "else LagoInitFile beside the ini file or in the rootdir)",
    )
    group.addoption(
        "--lago-workdir",
        metavar="PATH",
        default=None,
        help="the lago workdir to make (must not hold a workdir yet; default: ini key lago_workdir, "
        "else a fresh .lago-pytest-* folder beside the init file)",
    )
    group.addoption(
        "--lago-keep",
        action="store_true",
        default=None,
        help="leave the environment running at the end and print how to reach and destroy it",
    )
    group.addoption(
        "--lago-artifacts",
        metavar="DIR",
        default=None,
        help="where failing tests' VM artifacts and console logs go (default: ini key lago_artifacts, "
        "else lago-artifacts/ in the rootdir)",
    )
    parser.addini("lago_initfile", "the LagoInitFile (relative to the ini file)", default="")
    parser.addini("lago_workdir", "the lago workdir to make (relative to the ini file)", default="")
    parser.addini("lago_artifacts", "folder of failing tests' artifacts (relative to the ini file)", default="")
    parser.addini("lago_keep", "leave the environment running at the end", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{CLEAN_MARKER}: revert the lago environment to its post-start snapshot before the test "
        "(as the lago_clean_env fixture)",
    )


def _ini_base(config: pytest.Config) -> Path:
    """The folder relative ini paths start from."""
    return Path(config.inipath).parent if config.inipath else Path(config.rootpath)


def _path_setting(config: pytest.Config, option: str, ini: str) -> Optional[Path]:
    value = config.getoption(option)
    if value:
        return Path(os.path.abspath(os.path.expanduser(str(value))))
    ini_value = str(config.getini(ini) or "").strip()
    if ini_value:
        return (_ini_base(config) / os.path.expanduser(ini_value)).resolve()
    return None


def _keep(config: pytest.Config) -> bool:
    value = config.getoption("lago_keep")
    if value is not None:
        return bool(value)
    return bool(config.getini("lago_keep"))


def initfile_path(config: pytest.Config) -> Path:
    """``--lago-initfile``, ini ``lago_initfile``, or ``LagoInitFile`` beside
    the ini file (the rootdir when there is none)."""
    return _path_setting(config, "lago_initfile", "lago_initfile") or _ini_base(config) / "LagoInitFile"


def artifacts_path(config: pytest.Config) -> Path:
    """``--lago-artifacts``, ini ``lago_artifacts``, or ``lago-artifacts``
    in the rootdir."""
    return _path_setting(config, "lago_artifacts", "lago_artifacts") or Path(config.rootpath) / "lago-artifacts"


# -- the environment --------------------------------------------------------


def _workdir(config: pytest.Config, initfile: Path, state: _Session) -> Path:
    given = _path_setting(config, "lago_workdir", "lago_workdir")
    if given is not None:
        if given.exists() and (not given.is_dir() or any(given.iterdir())):
            pytest.fail(
                f"lago: workdir {given} (--lago-workdir / ini lago_workdir): exists and is not an empty "
                "folder; give a new path (lago makes it) or an empty folder",
                pytrace=False,
            )
        return given
    # mkdtemp makes the folder 0700: qemu (user libvirt-qemu) must reach the
    # disks below it
    parent = Path(tempfile.mkdtemp(prefix=".lago-pytest-", dir=initfile.parent))
    parent.chmod(0o755)
    state.made_parent = parent
    return parent / "workdir"


def _snapshot(env: "SDK") -> None:
    # a memory snapshot: a revert resumes the VMs where they were, no boot
    env.snapshot(SNAPSHOT_NAME, memory=True)


def _revert(env: "SDK") -> None:
    env.revert(SNAPSHOT_NAME)


def _wait_for_ssh(env: "SDK") -> None:
    for vm in env.get_vms().values():
        vm.wait_for_ssh()


def _start(config: pytest.Config, state: _Session) -> "SDK":
    from lago import sdk
    from lago.utils import LagoException

    initfile = initfile_path(config)
    if not initfile.is_file():
        pytest.fail(
            f"lago: init file {initfile} not found: give --lago-initfile PATH or ini key lago_initfile, "
            "or put a LagoInitFile beside the ini file",
            pytrace=False,
        )
    workdir = _workdir(config, initfile, state)
    state.workdir = workdir
    logfile = (state.made_parent or workdir.parent) / f"{workdir.name}.lago.log"
    state.logfile = logfile
    try:
        env = sdk.init(str(initfile), workdir=str(workdir), logfile=str(logfile), loglevel=logging.DEBUG)
        state.env = env
        env.start()
        _wait_for_ssh(env)
        _snapshot(env)
    except LagoException as exc:
        # lago's own errors name the file, key or step: one line, no traceback
        pytest.fail(f"lago: the environment of {initfile} did not come up: {exc}", pytrace=False)
    state.dirty = False
    return env


def _close_logfile(state: _Session) -> None:
    if state.logfile is None:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == str(state.logfile):
            root.removeHandler(handler)
            handler.close()


def _stop(config: pytest.Config, state: _Session) -> None:
    env = state.env
    try:
        if env is not None and _keep(config):
            workdir = state.workdir
            names = ", ".join(env.get_vms())
            state.kept_lines = [
                f"lago: environment kept running (--lago-keep): workdir {workdir}",
                f"lago: VMs: {names}; a shell: lago --workdir-path {workdir} shell VM",
                f"lago: destroy it: lago --workdir-path {workdir} destroy -y",
            ]
            if state.logfile is not None:
                state.kept_lines.append(f"lago: its log: {state.logfile}")
            return
        if env is not None:
            env.destroy()
        if state.made_parent is not None:
            _close_logfile(state)
            if state.logfile is not None:
                state.logfile.unlink(missing_ok=True)
            try:
                state.made_parent.rmdir()
            except OSError:
                pass
    finally:
        state.env = None
        _close_logfile(state)


@pytest.fixture(scope="session")
def lago_env(request: pytest.FixtureRequest) -> Iterator["SDK"]:
    """The session's lago environment (an ``lago.sdk.SDK``): made from the
    init file, started once, every VM answering SSH, a snapshot taken;
    destroyed at the end of the session unless ``--lago-keep``."""
    config = request.config
    state = _state(config)
    try:
        env = _start(config, state)
    except BaseException:
        _stop(config, state)
        raise
    try:
        yield env
    finally:
        _stop(config, state)


def _clean(request: pytest.FixtureRequest) -> "SDK":
    env: "SDK" = request.getfixturevalue("lago_env")
    state = _state(request.config)
    if state.dirty:
        _revert(env)
        _wait_for_ssh(env)
    # the test (and its other fixtures) may change it from here on
    state.dirty = True
    return env


@pytest.fixture
def lago_clean_env(request: pytest.FixtureRequest) -> "SDK":
    """``lago_env``, reverted to its post-start snapshot first, unless
    nothing used the environment since the snapshot or the last revert."""
    return _clean(request)


@pytest.fixture(autouse=True)
def _lago_clean_marker(request: pytest.FixtureRequest) -> None:
    """The ``lago_clean`` marker: ``lago_clean_env`` for a marked test; for
    any other test, nothing."""
    if request.node.get_closest_marker(CLEAN_MARKER) is not None:
        request.getfixturevalue("lago_clean_env")


@pytest.fixture
def lago_vms(request: pytest.FixtureRequest) -> dict[str, "VMPlugin"]:
    """VM name → VM object of ``lago_env`` (``SDK.get_vms()``), taken after
    the revert when the test also asks for a clean environment."""
    if "lago_clean_env" in request.fixturenames:
        request.getfixturevalue("lago_clean_env")
    env: "SDK" = request.getfixturevalue("lago_env")
    return env.get_vms()


# -- reports ----------------------------------------------------------------


def _uses_env(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & ENV_FIXTURES) or item.get_closest_marker(CLEAN_MARKER) is not None


def _collect(env: "SDK", folder: Path) -> tuple[list[Path], list[str]]:
    """Copies the VMs' artifacts and console logs into ``folder``: the files
    there, and one line per step that failed."""
    problems: list[str] = []
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        env.collect_artifacts(str(folder), ignore_nopath=True)
    except Exception as exc:  # never mask the test's own failure
        problems.append(f"artifacts not collected: {type(exc).__name__}: {exc}")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        # an environment on a remote host writes them there: fetched first
        native = getattr(getattr(env, "_prefix", None), "_native", None)
        if native is not None:
            native.console_logs()
        logs = Path(env.get_paths().logs())
        for name in env.get_vms():
            console = logs / f"{name}.console.log"
            if console.is_file():
                shutil.copyfile(console, folder / console.name)
            else:
                problems.append(f"no console log {console}")
    except Exception as exc:
        problems.append(f"console logs not copied: {type(exc).__name__}: {exc}")
    files = sorted(p.resolve() for p in folder.rglob("*") if p.is_file())
    return files, problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    try:
        _after_report(item, report)
    except Exception as exc:  # never mask the test's own failure
        report.sections.append(("lago artifacts", f"lago: artifacts not collected: {type(exc).__name__}: {exc}"))
    return report


def _after_report(item: pytest.Item, report: pytest.TestReport) -> None:
    if report.when not in ("setup", "call") or not report.failed:
        return
    state = item.config.stash.get(_SESSION, None)
    if state is None or state.env is None or not _uses_env(item):
        return
    folder = (artifacts_path(item.config) / sanitize_nodeid(item.nodeid)).resolve()
    files, problems = _collect(state.env, folder)
    item.user_properties.append((PROP_FOLDER, str(folder)))
    for path in files:
        item.user_properties.append((PROP_FILE, str(path)))
    lines = [f"[[ATTACHMENT|{path}]]" for path in files]
    lines += [f"lago: {p}" for p in problems]
    text = f"lago: artifacts of {item.nodeid} in {folder}\n" + "".join(f"{line}\n" for line in lines)
    # the teardown report, which the JUnit XML writer reads, takes the
    # item's sections (<system-out> with junit_logging = system-out or all);
    # the failing report shows them on the terminal
    item.add_report_section(report.when, "stdout", text)
    report.sections.append((f"Captured stdout {report.when}", text))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """A test that used the environment may have changed it: the next clean
    test reverts."""
    state = item.config.stash.get(_SESSION, None)
    if state is not None and state.env is not None and _uses_env(item):
        state.dirty = True


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    state = config.stash.get(_SESSION, None)
    if state is None or not state.kept_lines:
        return
    terminalreporter.section("lago")
    for line in state.kept_lines:
        terminalreporter.write_line(line)
