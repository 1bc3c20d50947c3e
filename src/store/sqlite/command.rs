//! What the writer thread takes: [`Command`], one variant per family of
//! writes, each family defined and applied by the file of what it writes.
//! The driver's handle (`mod.rs`) sends them, the writer (`batch.rs`)
//! applies them; neither the families nor this file know the handle.

use super::tx::Reply;
use super::{claims, groups, jobs, machines, metering, reports, schedules, sessions, webhooks};

/// Declares [`Command`], one variant per family of writes plus the
/// writer's own, and `From` each family, from one list.
macro_rules! commands {
    ($($variant:ident($family:ty)),* $(,)?) => {
        /// A write, with the channel its answer goes back on; one variant per
        /// family, each applied by the file of what it writes.
        pub(super) enum Command {
            $($variant($family),)*
            /// A write for readiness's sake (the one row of `write_probe`).
            Probe {
                /// Answered once the probe row is committed.
                reply: Reply<()>,
            },
            /// Tests of a full disk: `PRAGMA max_page_count`, `None` lifting it.
            CapPages {
                /// The page limit to set, or `None` to lift it.
                pages: Option<u32>,
                /// Answered once the pragma is set.
                reply: Reply<()>,
            },
        }

        $(impl From<$family> for Command {
            fn from(command: $family) -> Self {
                Command::$variant(command)
            }
        })*
    };
}

commands!(
    Job(jobs::JobCommand),
    Claim(claims::ClaimCommand),
    SeeMachines(machines::SeeMachines),
    Schedule(schedules::ScheduleCommand),
    Window(schedules::WindowCommand),
    SaveUtilization(reports::SaveUtilization),
    Meter(metering::MeterCommand),
    Webhook(webhooks::WebhookCommand),
    Group(groups::GroupCommand),
    SignOut(sessions::SignOut),
);
