"""The guest CPU as libvirt XML at Lago's path
``lago.providers.libvirt.cpu``.

lago-core writes each domain's ``<cpu>`` itself when it starts VMs. This
module keeps Lago's :class:`CPU` for code that builds or inspects those
elements: host-passthrough by default, ``cpu_model`` as an exact model
(with ``vmx``/``svm`` required when the host's vendor is the model's, per
libvirt's ``cpu_map``, and the host has the flag), ``cpu_custom`` as
written (xmltodict syntax). The NUMA layout is lago-core's.

Elements are :mod:`lxml.etree` elements when lxml is installed (as in
Lago), :mod:`xml.etree.ElementTree` ones otherwise.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterator, Optional

from lago import _native
from lago.utils import LagoException, LagoInitException

try:
    from lxml import etree as ET  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # pragma: no cover - depends on the installation
    import xml.etree.ElementTree as ET  # type: ignore[no-redef, unused-ignore]

LOGGER = logging.getLogger(__name__)

#: libvirt's CPU map: one file (old libvirt) or an index of includes.
CPU_MAP_XML = "/usr/share/libvirt/cpu_map.xml"
CPU_MAP_DIR = "/usr/share/libvirt/cpu_map/"

#: The CPU flag nested virtualisation needs, per host vendor.
NESTED_FLAGS = {"Intel": "vmx", "AMD": "svm"}


def _dict_to_element(tag: str, value: Any) -> Any:
    """An element from xmltodict syntax: ``@name`` keys are attributes,
    ``#text`` the text, other keys children (a list repeats the child)."""
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, child in value.items():
            if key.startswith("@"):
                element.set(key[1:], str(child))
            elif key == "#text":
                element.text = str(child)
            elif isinstance(child, list):
                for item in child:
                    element.append(_dict_to_element(key, item))
            else:
                element.append(_dict_to_element(key, child))
    elif value is not None:
        element.text = str(value)
    return element


class CPU:
    """The ``<cpu>`` and ``<vcpu>`` elements of VM spec ``spec`` on a host
    whose CPU is ``host_cpu`` (the ``<host><cpu>`` element of libvirt's
    capabilities; may be None when it is not consulted)."""

    def __init__(self, spec: dict[str, Any], host_cpu: Any) -> None:
        self.vcpu_set = bool(spec.get("vcpu"))
        self.vcpu_num: Any = spec["vcpu"] if self.vcpu_set else "2"
        self.cpu_custom = spec.get("cpu_custom")
        self.cpu_model = spec.get("cpu_model")
        self.host_cpu = host_cpu
        self.memory = spec.get("memory")
        self.validate()
        self._cpu_xml = self.generate_cpu_xml()
        self._vcpu_xml = self.generate_vcpu_xml(self.vcpu_num)

    def __iter__(self) -> Iterator[Any]:
        yield self.cpu_xml
        yield self.vcpu_xml

    def validate(self) -> None:
        """Raises :class:`LagoInitException` when the spec sets both
        ``cpu_model`` and ``cpu_custom``."""
        if self.cpu_custom is not None and self.cpu_model:
            raise LagoInitException(
                "Defining both cpu_model and cpu_custom is not supported: keep one of them"
            )

    @property
    def cpu_xml(self) -> Any:
        """The ``<cpu>`` element."""
        return self._cpu_xml

    @property
    def vcpu_xml(self) -> Any:
        """The ``<vcpu>`` element."""
        return self._vcpu_xml

    @property
    def model(self) -> Optional[str]:
        """The guest CPU model: ``cpu_model``, the custom CPU's, or the host's."""
        if self.cpu_model:
            return str(self.cpu_model)
        if self.cpu_custom:
            return self._cpu_xml.findtext("model")  # type: ignore[no-any-return]
        return None if self.host_cpu is None else self.host_cpu.findtext("model")

    @property
    def vendor(self) -> Optional[str]:
        """The guest CPU vendor: that of the model in libvirt's map, or the host's."""
        if self.cpu_model or self.cpu_custom:
            model = self.model
            return None if model is None else LibvirtCPU.get_cpu_vendor(model)
        return None if self.host_cpu is None else self.host_cpu.findtext("vendor")

    def generate_cpu_xml(self) -> Any:
        """The ``<cpu>`` element the spec asks for."""
        if self.cpu_custom:
            return self.generate_custom(self.cpu_custom, self.vcpu_num, self.vcpu_set)
        if self.cpu_model:
            return self.generate_exact(self.cpu_model, self.vcpu_num, self.host_cpu)
        return self.generate_host_passthrough(self.vcpu_num)

    def generate_vcpu_xml(self, vcpu_num: Any) -> Any:
        """The ``<vcpu>`` element."""
        return self.generate_vcpu(vcpu_num)

    def generate_host_passthrough(self, vcpu_num: Any) -> Any:
        """``<cpu mode='host-passthrough'>`` with the topology and, for more
        than one vCPU, the NUMA cells."""
        cpu = ET.Element("cpu", mode="host-passthrough")
        cpu.append(self.generate_topology(vcpu_num))
        if int(vcpu_num) > 1:
            cpu.append(self.generate_numa(vcpu_num))
        return cpu

    def generate_custom(self, cpu: Any, vcpu_num: Any, fill_topology: bool) -> Any:
        """``<cpu>`` from the mapping ``cpu`` (xmltodict syntax), with the
        topology added when it has none and ``fill_topology``."""
        if not isinstance(cpu, dict):
            raise LagoInitException(
                f"cpu_custom must be a mapping in xmltodict syntax (e.g. {{'@mode': 'custom'}}), got {cpu!r}"
            )
        element = _dict_to_element("cpu", cpu)
        if element.find("topology") is None and fill_topology:
            element.append(self.generate_topology(vcpu_num))
        return element

    def generate_exact(self, model: str, vcpu_num: Any, host_cpu: Any) -> Any:
        """``<cpu match='exact'>`` of ``model``, requiring ``vmx``/``svm``
        when ``host_cpu``'s vendor is the model's and the host has the flag."""
        cpu = ET.Element("cpu", match="exact")
        ET.SubElement(cpu, "model").text = model
        cpu.append(self.generate_topology(vcpu_num))
        vendor = host_cpu.findtext("vendor") if host_cpu is not None else None
        flag = NESTED_FLAGS.get(vendor or "")
        if flag is None:
            LOGGER.debug("Unknown host CPU vendor %s: no nested virtualization flag", vendor)
            return cpu
        model_vendor = LibvirtCPU.get_cpu_vendor(model)
        if model_vendor != vendor:
            LOGGER.debug(
                "Host CPU vendor %s is not the guest's (%s): no nested virtualization flag",
                vendor,
                model_vendor,
            )
            return cpu
        if any(f.get("name") == flag for f in host_cpu.findall("feature")):
            cpu.append(self.generate_feature(flag))
        else:
            LOGGER.debug("The host CPU lacks %s: nested virtualization will probably not work", flag)
        return cpu

    def generate_topology(self, vcpu_num: Any, cores: int = 1, threads: int = 1) -> Any:
        """``<topology sockets=vcpu_num cores threads/>``."""
        return ET.Element("topology", sockets=str(vcpu_num), cores=str(cores), threads=str(threads))

    def generate_numa(self, vcpu_num: Any) -> Any:
        """``<numa>`` with lago-core's cells for ``vcpu_num`` vCPUs sharing
        the spec's memory."""
        numa = ET.Element("numa")
        for cell_id, cpus, memory in _native.numa_cells(int(vcpu_num), int(self.memory or 0)):
            ET.SubElement(numa, "cell", id=str(cell_id), cpus=cpus, memory=str(memory), unit="MiB")
        return numa

    def generate_vcpu(self, vcpu_num: Any) -> Any:
        """``<vcpu>vcpu_num</vcpu>``."""
        vcpu = ET.Element("vcpu")
        vcpu.text = str(vcpu_num)
        return vcpu

    def generate_feature(self, name: str, policy: str = "require") -> Any:
        """``<feature policy name/>``."""
        return ET.Element("feature", policy=policy, name=name)


class LibvirtCPU:
    """Look-ups in libvirt's CPU map."""

    @classmethod
    def get_cpu_vendor(cls, family: str, arch: str = "x86") -> str:
        """The vendor of CPU model ``family``, ``generic`` when it has none."""
        props = cls.get_cpu_props(family, arch)
        vendor = props.find("vendor")
        return "generic" if vendor is None else str(vendor.get("name"))

    @classmethod
    def get_cpu_props(cls, family: str, arch: str = "x86") -> Any:
        """The ``<model>`` element of ``family``; :class:`LagoException` if unknown."""
        for model in cls.get_cpus_by_arch(arch).findall("model"):
            if model.get("name") == family:
                return model
        raise LagoException(f"No such CPU family: {family} (not in libvirt's CPU map)")

    @classmethod
    def get_cpus_by_arch(cls, arch: str) -> Any:
        """The ``<arch>`` element of ``arch``; :class:`LagoException` if unknown."""
        if os.path.exists(CPU_MAP_XML):
            with open(CPU_MAP_XML, "rb") as f:
                root = ET.fromstring(f.read())
        else:
            root = ET.fromstring(create_xml_map(CPU_MAP_DIR + "index.xml", CPU_MAP_DIR))
        for element in root.findall("arch"):
            if element.get("name") == arch:
                return element
        raise LagoException(f"No such arch: {arch} (not in libvirt's CPU map)")


def create_xml_map(cpu_map_index_xml: str, cpu_map_dir: str) -> str:
    """libvirt's split CPU map as one document: ``cpu_map_index_xml`` with
    each ``<include filename>`` replaced by the content of that file (in
    ``cpu_map_dir``). Empty when the index does not exist."""
    if not os.path.exists(cpu_map_index_xml):
        return ""
    with open(cpu_map_index_xml, "rb") as f:
        root = ET.fromstring(f.read())
    for parent in list(root.iter()):
        children = list(parent)
        if not any(child.tag == "include" for child in children):
            continue
        expanded = []
        for child in children:
            if child.tag == "include":
                with open(os.path.join(cpu_map_dir, child.get("filename")), "rb") as f:
                    expanded.extend(list(ET.fromstring(f.read())))
            else:
                expanded.append(child)
        for child in children:
            parent.remove(child)
        parent.extend(expanded)
    text: Any = ET.tostring(root, encoding="unicode")
    return str(text)
