"""The installed package imports, and reports the Cargo workspace version."""

import pathlib
import tomllib  # Python 3.11+; the tests run on the development interpreter.

import lago
import lago._native

ROOT_CARGO_TOML = pathlib.Path(__file__).resolve().parents[2] / "Cargo.toml"


def workspace_version() -> str:
    with ROOT_CARGO_TOML.open("rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def test_version_matches_cargo_workspace():
    assert lago.__version__ == workspace_version()


def test_version_comes_from_native_module():
    assert lago.__version__ is lago._native.__version__
    assert isinstance(lago.__version__, str)


def test_package_is_typed():
    package_dir = pathlib.Path(lago.__file__).parent
    assert (package_dir / "py.typed").is_file()
    assert (package_dir / "_native.pyi").is_file()


def test_config_defaults_are_the_cores() -> None:
    """``lago.constants.CONFIG_DEFAULTS`` is read from lago-core (the
    values ``generate-config`` prints), with Lago's number types."""
    from lago import _native, constants

    core = _native.Config.defaults()
    assert set(constants.CONFIG_DEFAULTS) == set(core.section_names())
    for section, values in constants.CONFIG_DEFAULTS.items():
        assert {k: str(v) for k, v in values.items()} == dict(core.section(section) or [])
    lago = constants.CONFIG_DEFAULTS["lago"]
    assert lago["ssh_tries"] == 100 and lago["ssh_password"] == "123456"
    assert lago["libvirt_url"] == _native.DEFAULT_LIBVIRT_URL
