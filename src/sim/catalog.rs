//! What the simulated account can offer: regions, machine types with their
//! hardware and hourly rates, storage tiers, availability, templates and the
//! team's users.
//!
//! Everything here is fixed (not derived from the seed), so that tests and
//! scripts can name a template id or a user id without asking first. The
//! numbers are plausible, not Paperspace's price list.

/// The three legacy regions, spelled exactly as the API spells them.
pub const REGIONS: [&str; 3] = ["East Coast (NY2)", "West Coast (CA1)", "Europe (AMS1)"];

/// Largest disk a machine can be created with, in GB.
pub const MAX_DISK_GB: u32 = 2000;

const GIB: u64 = 1024 * 1024 * 1024;

/// Which family a machine type belongs to; templates are restricted by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeClass {
    /// Shared GRID GPUs (`Air` … `Advanced`): Windows templates only.
    Grid,
    /// CPU-only types (`C1` … `C10`): Linux templates only.
    Cpu,
    /// Dedicated GPUs (`GPU+`, `P4000`, …): the only types with limited availability.
    DedicatedGpu,
}

/// One machine type and what it runs on.
#[derive(Debug)]
pub struct MachineType {
    /// The wire name, e.g. `P4000`.
    pub name: &'static str,
    /// Reported as `cpus`.
    pub cpus: u32,
    /// Reported as `ram` (bytes, as a string).
    pub ram_bytes: u64,
    /// Reported as `gpu`; `None` for CPU-only types.
    pub gpu: Option<&'static str>,
    /// Dollars per hour in cents, so that rates print exactly with two decimals.
    pub hourly_cents: u32,
    /// Decides template compatibility and whether availability can be limited.
    pub class: TypeClass,
}

const fn mt(
    name: &'static str,
    cpus: u32,
    ram_gib: u64,
    gpu: Option<&'static str>,
    hourly_cents: u32,
    class: TypeClass,
) -> MachineType {
    MachineType {
        name,
        cpus,
        ram_bytes: ram_gib * GIB,
        gpu,
        hourly_cents,
        class,
    }
}

/// Every machine type the simulator knows, in the order the Node docs list them.
pub static MACHINE_TYPES: [MachineType; 19] = [
    mt("Air", 2, 4, Some("GRID K160Q (2GB)"), 7, TypeClass::Grid),
    mt(
        "Standard",
        4,
        8,
        Some("GRID K180Q (4GB)"),
        40,
        TypeClass::Grid,
    ),
    mt("Pro", 4, 16, Some("GRID K260Q (2GB)"), 65, TypeClass::Grid),
    mt(
        "Advanced",
        8,
        32,
        Some("GRID K280Q (4GB)"),
        94,
        TypeClass::Grid,
    ),
    mt(
        "GPU+",
        8,
        30,
        Some("Quadro M4000 (8GB)"),
        45,
        TypeClass::DedicatedGpu,
    ),
    mt(
        "P4000",
        8,
        30,
        Some("Quadro P4000 (8GB)"),
        51,
        TypeClass::DedicatedGpu,
    ),
    mt(
        "P5000",
        8,
        30,
        Some("Quadro P5000 (16GB)"),
        78,
        TypeClass::DedicatedGpu,
    ),
    mt(
        "P6000",
        8,
        30,
        Some("Quadro P6000 (24GB)"),
        110,
        TypeClass::DedicatedGpu,
    ),
    mt(
        "V100",
        8,
        30,
        Some("Tesla V100 (16GB)"),
        230,
        TypeClass::DedicatedGpu,
    ),
    mt("C1", 1, 1, None, 1, TypeClass::Cpu),
    mt("C2", 1, 2, None, 2, TypeClass::Cpu),
    mt("C3", 2, 4, None, 4, TypeClass::Cpu),
    mt("C4", 2, 6, None, 6, TypeClass::Cpu),
    mt("C5", 4, 8, None, 8, TypeClass::Cpu),
    mt("C6", 8, 16, None, 12, TypeClass::Cpu),
    mt("C7", 12, 30, None, 20, TypeClass::Cpu),
    mt("C8", 16, 60, None, 40, TypeClass::Cpu),
    mt("C9", 24, 120, None, 80, TypeClass::Cpu),
    mt("C10", 32, 240, None, 160, TypeClass::Cpu),
];

/// (region, type) pairs that cannot be created right now. Only dedicated GPU
/// types are ever limited, as the Node docs say of `getAvailability`.
const UNAVAILABLE: [(&str, &str); 3] = [
    ("Europe (AMS1)", "V100"),
    ("Europe (AMS1)", "GPU+"),
    ("West Coast (CA1)", "P6000"),
];

/// Storage tiers: (disk size in GB, monthly rate in cents).
const STORAGE_TIERS: [(u32, u32); 6] = [
    (50, 500),
    (100, 700),
    (250, 1000),
    (500, 2000),
    (1000, 4000),
    (2000, 8000),
];

/// The catalog entry for a machine type name (exact, case-sensitive, like the API).
pub fn machine_type(name: &str) -> Option<&'static MachineType> {
    MACHINE_TYPES.iter().find(|t| t.name == name)
}

/// The canonical spelling of a region name.
pub fn region(name: &str) -> Option<&'static str> {
    REGIONS.iter().copied().find(|r| *r == name)
}

/// Whether `machine_type` can be created in `region` (both already known).
pub fn is_available(region: &str, machine_type: &str) -> bool {
    !UNAVAILABLE.contains(&(region, machine_type))
}

/// Monthly storage rate in cents for a disk: the smallest tier that holds it.
pub fn storage_monthly_cents(size_gb: u32) -> u32 {
    STORAGE_TIERS
        .iter()
        .find(|(gb, _)| size_gb <= *gb)
        .map_or(STORAGE_TIERS[STORAGE_TIERS.len() - 1].1, |(_, cents)| {
            *cents
        })
}

/// Formats cents as the API's two-decimal dollar string, e.g. `"0.51"`.
pub fn dollars(cents: u32) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Which operating system family a template installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsFamily {
    /// Cannot run on GRID types.
    Linux,
    /// Cannot run on CPU-only types.
    Windows,
}

/// A public template machines are created from.
#[derive(Debug)]
pub struct Template {
    /// e.g. `tkni3aa4`; what `templateId` names.
    pub id: &'static str,
    /// `paperspace/<id>` for public templates.
    pub name: &'static str,
    /// Human description shown in listings.
    pub label: &'static str,
    /// Reported as the machine's `os` once provisioned.
    pub os: &'static str,
    /// Reported as the machine's `agentType`.
    pub agent_type: &'static str,
    /// Decides which machine types it can run on.
    pub family: OsFamily,
    /// Disk the OS occupies, reported as `storageUsed`.
    pub used_bytes: u64,
    /// The template's `dtCreated`, already in wire form.
    pub dt_created: &'static str,
}

/// The public templates.
pub static TEMPLATES: [Template; 5] = [
    Template {
        id: "tkni3aa4",
        name: "paperspace/tkni3aa4",
        label: "Ubuntu 22.04 Server",
        os: "Ubuntu 22.04.3 LTS; uname: 5.15.0-91-generic; distro: ubuntu; major: 22; minor: 04",
        agent_type: "LinuxHeadless",
        family: OsFamily::Linux,
        used_bytes: 9 * GIB,
        dt_created: "2022-05-03T17:21:08.412Z",
    },
    Template {
        id: "t0nspur5",
        name: "paperspace/t0nspur5",
        label: "Ubuntu 20.04 Server",
        os: "Ubuntu 20.04.6 LTS; uname: 5.4.0-150-generic; distro: ubuntu; major: 20; minor: 04",
        agent_type: "LinuxHeadless",
        family: OsFamily::Linux,
        used_bytes: 8 * GIB,
        dt_created: "2020-06-11T09:02:51.077Z",
    },
    Template {
        id: "tqqsxr6b",
        name: "paperspace/tqqsxr6b",
        label: "ML-in-a-Box Ubuntu 22.04",
        os: "Ubuntu 22.04.3 LTS; uname: 5.15.0-91-generic; distro: ubuntu; major: 22; minor: 04",
        agent_type: "LinuxHeadless",
        family: OsFamily::Linux,
        used_bytes: 38 * GIB,
        dt_created: "2023-02-14T12:40:19.930Z",
    },
    Template {
        id: "tvimtol9",
        name: "paperspace/tvimtol9",
        label: "Windows 10",
        os: "Windows 10 (Server 2016)",
        agent_type: "WindowsDesktop",
        family: OsFamily::Windows,
        used_bytes: 27 * GIB,
        dt_created: "2017-01-03T23:41:06.801Z",
    },
    Template {
        id: "twnlo3zj",
        name: "paperspace/twnlo3zj",
        label: "Windows Server 2016",
        os: "Microsoft Windows Server 2016 Datacenter",
        agent_type: "WindowsDesktop",
        family: OsFamily::Windows,
        used_bytes: 24 * GIB,
        dt_created: "2017-03-20T16:05:33.250Z",
    },
];

/// The catalog entry for a template id.
pub fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id)
}

/// Whether a template's OS can run on a machine type, per the Node docs'
/// note on `create` (no Windows on CPU-only, no Ubuntu on GRID).
pub fn template_fits(template: &Template, machine_type: &MachineType) -> bool {
    !matches!(
        (template.family, machine_type.class),
        (OsFamily::Windows, TypeClass::Cpu) | (OsFamily::Linux, TypeClass::Grid)
    )
}

/// The team every simulated machine belongs to.
pub const TEAM_ID: &str = "te7k2m9qx";

/// The team's users; the first one owns the account and every machine
/// created without a `userId`.
pub const USER_IDS: [&str; 3] = ["u1a2b3c4", "u5d6e7f8", "u9g0h1j2"];

/// Whether a user id belongs to the team.
pub fn is_user(id: &str) -> bool {
    USER_IDS.contains(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_rounds_up_to_the_next_tier() {
        assert_eq!(dollars(storage_monthly_cents(50)), "5.00");
        assert_eq!(dollars(storage_monthly_cents(51)), "7.00");
        assert_eq!(dollars(storage_monthly_cents(1)), "5.00");
        assert_eq!(dollars(storage_monthly_cents(2000)), "80.00");
        assert_eq!(dollars(51), "0.51");
        assert_eq!(dollars(230), "2.30");
    }

    #[test]
    fn templates_fit_their_families() {
        let windows = template("tvimtol9").unwrap();
        let ubuntu = template("tkni3aa4").unwrap();
        assert!(!template_fits(windows, machine_type("C5").unwrap()));
        assert!(template_fits(windows, machine_type("Air").unwrap()));
        assert!(!template_fits(ubuntu, machine_type("Air").unwrap()));
        assert!(template_fits(ubuntu, machine_type("P4000").unwrap()));
    }
}
