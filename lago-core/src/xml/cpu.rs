//! The guest CPU: `<cpu>` with its mode, topology and NUMA cells.
//!
//! Every CPU lago renders has the topology `sockets=vcpu cores=1 threads=1`.
//! Host-passthrough, maximum and named-model CPUs with more than one vCPU
//! also get NUMA cells laid out by [`numa_cells`], as Lago does; a
//! user's `cpu_custom` mapping is rendered as written (see
//! [`Cpu::Custom`]), with the topology added when it has none.

use serde_json::Value;

use super::DomainType;
use super::writer::XmlOut;
use super::xmltodict;

/// How the guest CPU is described to libvirt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cpu {
    /// `<cpu mode='host-passthrough'>`: the host CPU as is. Lago's default,
    /// and the fastest with KVM, but libvirt refuses it for a domain of type
    /// `qemu` ("not supported by hypervisor"): there [`domain_xml`] renders
    /// [`Cpu::Maximum`] instead and logs a warning.
    ///
    /// [`domain_xml`]: super::domain_xml
    HostPassthrough,
    /// `<cpu mode='maximum'>`: every feature the hypervisor can offer. The
    /// choice for software emulation (domain type `qemu`).
    Maximum,
    /// `<cpu match='exact'><model>…</model>`: the init file's `cpu_model`.
    Model {
        /// The libvirt CPU model name (`Skylake-Client`, `EPYC`, …).
        name: String,
        /// A feature to require on top of the model: Lago adds `vmx`/`svm`
        /// when the host vendor matches the model's vendor and the host has
        /// that feature (nested virtualisation). The caller decides.
        require_feature: Option<CpuFeature>,
    },
    /// The init file's `cpu_custom` mapping, the content of `<cpu>` in
    /// `xmltodict` syntax: `@name` keys are attributes, `#text` is text,
    /// other keys are child elements, arrays repeat an element. A
    /// `topology` element `sockets=vcpu cores=1 threads=1` is appended when
    /// the mapping has no `topology` key. No NUMA cells are added. A value
    /// that is neither a mapping nor null is logged and rendered as an
    /// empty mapping. Children come in `serde_json::Map` iteration order.
    Custom(Value),
}

impl Cpu {
    /// The CPU lago uses for `domain_type` when the init file names none:
    /// host-passthrough under KVM (as Lago), maximum under software
    /// emulation, where host-passthrough is refused.
    pub fn default_for(domain_type: DomainType) -> Cpu {
        match domain_type {
            DomainType::Kvm => Cpu::HostPassthrough,
            DomainType::Qemu => Cpu::Maximum,
        }
    }
}

/// A CPU feature lago may require on top of a named model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuFeature {
    /// Intel VT-x.
    Vmx,
    /// AMD-V.
    Svm,
}

impl CpuFeature {
    /// The feature's name in libvirt (`vmx`, `svm`).
    pub fn as_str(self) -> &'static str {
        match self {
            CpuFeature::Vmx => "vmx",
            CpuFeature::Svm => "svm",
        }
    }
}

/// One guest NUMA cell: `<cell id cpus memory unit='MiB'/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumaCell {
    /// Cell number, from 0.
    pub id: u32,
    /// First vCPU of the cell.
    pub first_cpu: u32,
    /// Last vCPU of the cell (equal to `first_cpu` for a one-vCPU cell).
    pub last_cpu: u32,
    /// The cell's memory in MiB.
    pub memory_mib: u64,
}

impl NumaCell {
    /// The cell's vCPUs in libvirt's cpuset syntax: `3` or `4-7`.
    pub fn cpus(&self) -> String {
        if self.first_cpu == self.last_cpu {
            self.first_cpu.to_string()
        } else {
            format!("{}-{}", self.first_cpu, self.last_cpu)
        }
    }
}

/// The NUMA layout lago gives a guest with `vcpu` vCPUs and `memory_mib` MiB.
///
/// - 0 or 1 vCPU: no cells (no `<numa>` element);
/// - 2 vCPUs: 2 cells of 1; 4 vCPUs: 2 cells of 2;
/// - otherwise a multiple of 4: cells of 4;
/// - otherwise a multiple of 2: cells of 2;
/// - otherwise (odd): one cell per vCPU.
///
/// Each cell gets `memory_mib / cells` MiB, rounded down (the remainder is
/// not given to any cell, as in Lago).
pub fn numa_cells(vcpu: u32, memory_mib: u64) -> Vec<NumaCell> {
    let per_cell = match vcpu {
        0 | 1 => return Vec::new(),
        2 => 1,
        4 => 2,
        n if n % 4 == 0 => 4,
        n if n % 2 == 0 => 2,
        _ => 1,
    };
    let cells = vcpu / per_cell;
    let memory = memory_mib / u64::from(cells);
    (0..cells)
        .map(|id| NumaCell {
            id,
            first_cpu: id * per_cell,
            last_cpu: id * per_cell + per_cell - 1,
            memory_mib: memory,
        })
        .collect()
}

/// Writes `<cpu>` for a domain of `domain_type` with `vcpu` vCPUs.
pub(crate) fn write_cpu(
    out: &mut XmlOut,
    cpu: &Cpu,
    domain_type: DomainType,
    vcpu: u32,
    memory_mib: u64,
) {
    let sockets = vcpu.to_string();
    let topology = |out: &mut XmlOut| {
        out.empty(
            "topology",
            &[("sockets", &sockets), ("cores", "1"), ("threads", "1")],
        );
    };
    let numa = |out: &mut XmlOut| {
        let cells = numa_cells(vcpu, memory_mib);
        if cells.is_empty() {
            return;
        }
        out.start("numa", &[]);
        for cell in cells {
            out.empty(
                "cell",
                &[
                    ("id", &cell.id.to_string()),
                    ("cpus", &cell.cpus()),
                    ("memory", &cell.memory_mib.to_string()),
                    ("unit", "MiB"),
                ],
            );
        }
        out.end("numa");
    };
    let mode = |out: &mut XmlOut, mode: &str| {
        out.start("cpu", &[("mode", mode)]);
        topology(out);
        numa(out);
        out.end("cpu");
    };
    match cpu {
        Cpu::HostPassthrough if domain_type == DomainType::Qemu => {
            tracing::warn!(
                "libvirt refuses host-passthrough CPUs for domain type qemu; using mode maximum"
            );
            mode(out, "maximum");
        }
        Cpu::HostPassthrough => mode(out, "host-passthrough"),
        Cpu::Maximum => mode(out, "maximum"),
        Cpu::Model {
            name,
            require_feature,
        } => {
            out.start("cpu", &[("mode", "custom"), ("match", "exact")]);
            out.leaf("model", &[], name);
            topology(out);
            if let Some(feature) = require_feature {
                out.empty(
                    "feature",
                    &[("policy", "require"), ("name", feature.as_str())],
                );
            }
            numa(out);
            out.end("cpu");
        }
        Cpu::Custom(value) => {
            let empty = Value::Object(serde_json::Map::new());
            let value = match value {
                Value::Object(_) => value,
                Value::Null => &empty,
                other => {
                    tracing::warn!(
                        value = %other,
                        "cpu_custom is not a mapping; rendered as an empty <cpu>"
                    );
                    &empty
                }
            };
            let has_topology = value.get("topology").is_some();
            let extra: Option<&dyn Fn(&mut XmlOut)> =
                if has_topology { None } else { Some(&topology) };
            xmltodict::unparse_with(out, "cpu", value, extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cells(vcpu: u32, memory: u64) -> Vec<(String, u64)> {
        numa_cells(vcpu, memory)
            .iter()
            .enumerate()
            .map(|(i, c)| {
                assert_eq!(c.id as usize, i);
                (c.cpus(), c.memory_mib)
            })
            .collect()
    }

    fn owned(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(c, m)| ((*c).to_owned(), *m)).collect()
    }

    #[test]
    fn numa_none_for_one_cpu() {
        assert!(numa_cells(0, 1024).is_empty());
        assert!(numa_cells(1, 1024).is_empty());
    }

    #[test]
    fn numa_special_cases_two_and_four() {
        assert_eq!(cells(2, 1024), owned(&[("0", 512), ("1", 512)]));
        assert_eq!(cells(4, 1024), owned(&[("0-1", 512), ("2-3", 512)]));
    }

    #[test]
    fn numa_multiples_of_four_use_cells_of_four() {
        assert_eq!(cells(8, 4096), owned(&[("0-3", 2048), ("4-7", 2048)]));
        assert_eq!(
            cells(12, 3000),
            owned(&[("0-3", 1000), ("4-7", 1000), ("8-11", 1000)])
        );
    }

    #[test]
    fn numa_remainder_two_uses_cells_of_two() {
        assert_eq!(
            cells(6, 1000),
            owned(&[("0-1", 333), ("2-3", 333), ("4-5", 333)])
        );
        let ten = numa_cells(10, 1000);
        assert_eq!(ten.len(), 5);
        assert_eq!(ten[4].cpus(), "8-9");
        assert!(ten.iter().all(|c| c.memory_mib == 200));
    }

    #[test]
    fn numa_odd_counts_use_one_cpu_per_cell() {
        assert_eq!(cells(3, 1024), owned(&[("0", 341), ("1", 341), ("2", 341)]));
        let seven = numa_cells(7, 700);
        assert_eq!(seven.len(), 7);
        assert_eq!(seven[6].cpus(), "6");
        assert_eq!(seven[6].first_cpu, 6);
        assert_eq!(seven[6].last_cpu, 6);
    }

    #[test]
    fn numa_cells_cover_every_cpu_once() {
        for vcpu in 2..=64 {
            let cells = numa_cells(vcpu, 65536);
            let mut next = 0;
            for cell in &cells {
                assert_eq!(cell.first_cpu, next, "vcpu {vcpu}");
                assert!(cell.last_cpu >= cell.first_cpu);
                next = cell.last_cpu + 1;
            }
            assert_eq!(next, vcpu);
        }
    }

    fn render(cpu: &Cpu, domain_type: DomainType, vcpu: u32) -> String {
        let mut out = XmlOut::new();
        write_cpu(&mut out, cpu, domain_type, vcpu, 2048);
        out.finish()
    }

    #[test]
    fn passthrough_with_numa() {
        assert_eq!(
            render(&Cpu::HostPassthrough, DomainType::Kvm, 2),
            "<cpu mode=\"host-passthrough\">\n  \
             <topology sockets=\"2\" cores=\"1\" threads=\"1\"/>\n  \
             <numa>\n    \
             <cell id=\"0\" cpus=\"0\" memory=\"1024\" unit=\"MiB\"/>\n    \
             <cell id=\"1\" cpus=\"1\" memory=\"1024\" unit=\"MiB\"/>\n  \
             </numa>\n</cpu>\n"
        );
    }

    #[test]
    fn passthrough_under_qemu_becomes_maximum() {
        assert_eq!(
            render(&Cpu::HostPassthrough, DomainType::Qemu, 1),
            render(&Cpu::Maximum, DomainType::Qemu, 1)
        );
        assert_eq!(
            render(&Cpu::Maximum, DomainType::Qemu, 1),
            "<cpu mode=\"maximum\">\n  <topology sockets=\"1\" cores=\"1\" threads=\"1\"/>\n</cpu>\n"
        );
        assert_eq!(Cpu::default_for(DomainType::Qemu), Cpu::Maximum);
        assert_eq!(Cpu::default_for(DomainType::Kvm), Cpu::HostPassthrough);
    }

    #[test]
    fn model_with_and_without_feature() {
        let with = render(
            &Cpu::Model {
                name: "Skylake-Client".to_owned(),
                require_feature: Some(CpuFeature::Svm),
            },
            DomainType::Kvm,
            1,
        );
        assert_eq!(
            with,
            "<cpu mode=\"custom\" match=\"exact\">\n  <model>Skylake-Client</model>\n  \
             <topology sockets=\"1\" cores=\"1\" threads=\"1\"/>\n  \
             <feature policy=\"require\" name=\"svm\"/>\n</cpu>\n"
        );
        let without = render(
            &Cpu::Model {
                name: "m&<".to_owned(),
                require_feature: None,
            },
            DomainType::Kvm,
            1,
        );
        assert!(without.contains("<model>m&amp;&lt;</model>"));
        assert!(!without.contains("feature"));
    }

    #[test]
    fn custom_gets_topology_unless_it_has_one_and_never_numa() {
        let plain = render(
            &Cpu::Custom(json!({"@mode": "custom", "model": "qemu64"})),
            DomainType::Kvm,
            4,
        );
        assert_eq!(
            plain,
            "<cpu mode=\"custom\">\n  <model>qemu64</model>\n  \
             <topology sockets=\"4\" cores=\"1\" threads=\"1\"/>\n</cpu>\n"
        );
        let own = render(
            &Cpu::Custom(json!({"topology": {"@cores": 2, "@sockets": 1, "@threads": 1}})),
            DomainType::Kvm,
            2,
        );
        assert_eq!(
            own,
            "<cpu>\n  <topology cores=\"2\" sockets=\"1\" threads=\"1\"/>\n</cpu>\n"
        );
        for odd in [json!(null), json!("text"), json!([1, 2])] {
            assert_eq!(
                render(&Cpu::Custom(odd), DomainType::Kvm, 1),
                "<cpu>\n  <topology sockets=\"1\" cores=\"1\" threads=\"1\"/>\n</cpu>\n"
            );
        }
    }
}
