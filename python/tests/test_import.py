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
