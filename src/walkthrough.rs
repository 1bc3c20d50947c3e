//! The scripted walk through every operation (work in progress).

/// Flags of `machinist demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `machinist demo`.
pub async fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
