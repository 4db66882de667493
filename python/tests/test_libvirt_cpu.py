"""lago.providers.libvirt.cpu and .utils: CPU elements and domain states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lago.providers.libvirt import cpu
from lago.providers.libvirt import utils as lvutils
from lago.utils import LagoInitException


def text(element: Any) -> str:
    return str(cpu.ET.tostring(element, encoding="unicode"))


def host(vendor: str, *features: str) -> Any:
    feats = "".join(f"<feature name='{f}'/>" for f in features)
    return cpu.ET.fromstring(f"<cpu><arch>x86_64</arch><model>Host</model><vendor>{vendor}</vendor>{feats}</cpu>")


@pytest.fixture
def cpu_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "index.xml").write_text(
        "<cpus><arch name='x86'><include filename='a.xml'/><include filename='b.xml'/></arch>"
        "<arch name='ppc64'/></cpus>"
    )
    (tmp_path / "a.xml").write_text("<cpus><model name='Chip'><vendor name='Intel'/></model></cpus>")
    (tmp_path / "b.xml").write_text(
        "<cpus><model name='Other'><vendor name='AMD'/></model><model name='Plain'/></cpus>"
    )
    monkeypatch.setattr(cpu, "CPU_MAP_XML", str(tmp_path / "absent.xml"))
    monkeypatch.setattr(cpu, "CPU_MAP_DIR", str(tmp_path) + "/")
    return tmp_path


def test_default_is_host_passthrough_with_core_numa() -> None:
    c = cpu.CPU({"memory": 1000, "vcpu": 6}, host_cpu=host("Intel"))
    assert text(c.cpu_xml).replace(" />", "/>") == (
        '<cpu mode="host-passthrough"><topology sockets="6" cores="1" threads="1"/><numa>'
        '<cell id="0" cpus="0-1" memory="333" unit="MiB"/>'
        '<cell id="1" cpus="2-3" memory="333" unit="MiB"/>'
        '<cell id="2" cpus="4-5" memory="333" unit="MiB"/></numa></cpu>'
    )
    assert [text(e) for e in c][1] == "<vcpu>6</vcpu>"
    assert c.model == "Host" and c.vendor == "Intel"


def test_one_vcpu_has_no_numa() -> None:
    element = cpu.CPU({"memory": 512}, host_cpu=None).generate_host_passthrough(1)
    assert element.find("numa") is None


def test_exact_model_nested_flag_rules(cpu_map: Path) -> None:
    c = cpu.CPU({"memory": 512, "vcpu": 1, "cpu_model": "Chip"}, host_cpu=host("Intel", "vmx"))
    assert [f.get("name") for f in c.cpu_xml.findall("feature")] == ["vmx"]
    assert c.vendor == "Intel"
    assert c.generate_exact("Chip", 1, host("Intel")).find("feature") is None  # host lacks vmx
    assert c.generate_exact("Other", 1, host("Intel", "vmx")).find("feature") is None  # AMD model
    assert c.generate_exact("Chip", 1, host("IBM", "vmx")).find("feature") is None  # unknown vendor
    assert cpu.LibvirtCPU.get_cpu_vendor("Plain") == "generic"


def test_unknown_model_and_arch(cpu_map: Path) -> None:
    with pytest.raises(cpu.LagoException, match="No such CPU family: Nope"):
        cpu.LibvirtCPU.get_cpu_props("Nope")
    with pytest.raises(cpu.LagoException, match="No such arch: arm"):
        cpu.LibvirtCPU.get_cpus_by_arch("arm")


def test_create_xml_map_inlines_includes(cpu_map: Path) -> None:
    root = cpu.ET.fromstring(cpu.create_xml_map(str(cpu_map / "index.xml"), str(cpu_map) + "/"))
    assert [m.get("name") for m in root.find("arch").findall("model")] == ["Chip", "Other", "Plain"]
    assert cpu.create_xml_map(str(cpu_map / "none.xml"), str(cpu_map)) == ""


def test_custom_cpu_and_conflict() -> None:
    custom = {"@mode": "custom", "model": {"@fallback": "allow", "#text": "Chip"}, "feature": [{"@name": "a"}, {"@name": "b"}]}
    c = cpu.CPU({"memory": 512, "vcpu": 2, "cpu_custom": custom}, host_cpu=None)
    assert c.cpu_xml.get("mode") == "custom"
    assert c.cpu_xml.findtext("model") == "Chip"
    assert [f.get("name") for f in c.cpu_xml.findall("feature")] == ["a", "b"]
    assert c.cpu_xml.find("topology").get("sockets") == "2"
    with pytest.raises(LagoInitException, match="cpu_model and cpu_custom"):
        cpu.CPU({"memory": 1, "cpu_model": "M", "cpu_custom": custom}, host_cpu=None)


def test_domain_state_names() -> None:
    assert lvutils.Domain.resolve_state([1, 0]) == "running"
    assert lvutils.Domain.resolve_state([5, 2]) == "shut off"
    assert lvutils.Domain.resolve_state([42, 0]) == "unknown"
