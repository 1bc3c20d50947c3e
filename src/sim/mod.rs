//! The simulated Paperspace account (work in progress).

/// Flags of `machinist sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {}

/// Runs `machinist sim`.
pub async fn run(_args: SimArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
