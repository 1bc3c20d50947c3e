//! What the writer thread takes: [`Command`], one variant per family of
//! writes, each family defined and applied by the file of what it writes.
//! The driver's handle (`mod.rs`) sends them, the writer (`batch.rs`)
//! applies them; neither the families nor this file know the handle.

use super::tx::Reply;
use super::{claims, jobs, machines, reports, schedules};

/// A write, with the channel its answer goes back on; one variant per
/// family, each applied by the file of what it writes.
pub(super) enum Command {
    Job(jobs::JobCommand),
    Claim(claims::ClaimCommand),
    SeeMachines(machines::SeeMachines),
    Schedule(schedules::ScheduleCommand),
    Window(schedules::WindowCommand),
    SaveUtilization(reports::SaveUtilization),
    /// A write for readiness's sake (the one row of `write_probe`).
    Probe {
        reply: Reply<()>,
    },
    /// Tests of a full disk: `PRAGMA max_page_count`, `None` lifting it.
    CapPages {
        pages: Option<u32>,
        reply: Reply<()>,
    },
}

macro_rules! command_from {
    ($($variant:ident($family:ty)),* $(,)?) => {
        $(impl From<$family> for Command {
            fn from(command: $family) -> Self {
                Command::$variant(command)
            }
        })*
    };
}

command_from!(
    Job(jobs::JobCommand),
    Claim(claims::ClaimCommand),
    SeeMachines(machines::SeeMachines),
    Schedule(schedules::ScheduleCommand),
    Window(schedules::WindowCommand),
    SaveUtilization(reports::SaveUtilization),
);
