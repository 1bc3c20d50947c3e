//! `machinist demo --client`: a scripted walk through every machine operation.
//!
//! Starts a simulated Paperspace account in-process, then drives it with Machinist's own legacy client: templates,
//! availability, create, show, update, set access, stop, start, restart,
//! utilization, list and destroy, waiting for each state change and printing
//! one line per step. No API key and no money involved.

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::clock::SystemClock;
use crate::daemon::PaperspaceSettings;
use crate::machine::{
    BillingMonth, CreateMachine, FilterField, MachineFilter, TemplateFilter, UpdateMachine,
    WaitTarget,
};
use crate::paperspace::{Backend, MachineApi, WaitOptions, wait_for};
use crate::sim::{self, SimConfig, Timings};

/// Prints steps with the time since the walk began.
struct Narrator {
    /// When the walk began.
    started: Instant,
}

impl Narrator {
    fn step(&self, what: &str, detail: impl Display) {
        println!(
            "[{:>6.2}s] {what:<13} {detail}",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Runs `machinist demo --client` against an in-process simulator.
pub async fn run(transition: Duration) -> Result<()> {
    let config = SimConfig {
        timings: Timings::uniform(transition),
        ..SimConfig::default()
    };
    // Kept alive for the whole walk.
    let handle = sim::spawn(config, Arc::new(SystemClock))
        .await
        .context("could not start the simulated account")?;
    let api = PaperspaceSettings {
        request_timeout: Duration::from_secs(10),
        ..PaperspaceSettings::simulator(Backend::Legacy, &handle.url)
    }
    .legacy_client()?;
    println!(
        "Simulated Paperspace account at {} (legacy API); walking every machine operation.\n",
        handle.url
    );
    walk(&api, transition).await?;
    println!("\nEvery operation answered as expected.");
    Ok(())
}

/// The walk itself; fails on the first operation that does not behave.
pub async fn walk(api: &dyn MachineApi, transition: Duration) -> Result<()> {
    let say = Narrator {
        started: Instant::now(),
    };
    let wait = WaitOptions {
        timeout: transition * 20 + Duration::from_secs(10),
        interval: (transition / 5).clamp(Duration::from_millis(20), Duration::from_secs(1)),
    };

    let templates = api.templates(&TemplateFilter::default()).await?;
    let template = templates
        .iter()
        .find(|t| t.os.as_deref().is_some_and(|os| os.contains("Ubuntu")))
        .or(templates.first())
        .context("the account offers no templates")?;
    say.step(
        "templates",
        format!(
            "{} templates; using {} ({})",
            templates.len(),
            template.id,
            template.label.as_deref().unwrap_or(&template.name)
        ),
    );

    let (region, machine_type) = ("Europe (AMS1)", "P4000");
    let availability = api.availability(region, machine_type).await?;
    say.step(
        "availability",
        format!(
            "{machine_type} in {region}: {}",
            if availability.available {
                "available"
            } else {
                "not available"
            }
        ),
    );

    let fleet = api.list_all(&MachineFilter::all()).await?;
    say.step("list", format!("{} machines in the account", fleet.len()));

    let name = format!("demo-{}", std::process::id());
    let created = api
        .create(&CreateMachine::new(
            &name,
            region,
            machine_type,
            100,
            &template.id,
        ))
        .await?;
    let id = created.id.clone();
    say.step("create", format!("{id} \"{name}\" → {}", created.state));
    let ready = wait_for(api, &id, WaitTarget::Ready, wait).await?;
    say.step("wait ready", format!("{id} is {}", ready.state));

    let shown = api.show(&id).await?;
    say.step(
        "show",
        format!(
            "{id}: {} {} in {}, {} events",
            shown.machine_type.as_deref().unwrap_or("?"),
            shown.state,
            shown.region.as_deref().unwrap_or("?"),
            shown.events.len()
        ),
    );

    let renamed = format!("{name}-renamed");
    let changes = UpdateMachine {
        name: Some(renamed.clone()),
        auto_shutdown_timeout_hours: Some(2.0),
        ..UpdateMachine::default()
    };
    api.update(&id, &changes).await?;
    let after = api.show(&id).await?;
    if after.name != renamed {
        bail!(
            "update did not rename {id}: it is still called {:?}",
            after.name
        );
    }
    say.step(
        "update",
        format!("{id} renamed to \"{renamed}\", auto-shutdown after 2h"),
    );

    let user = "u1a2b3c4";
    match api.set_access(&id, user, true).await {
        Ok(()) => say.step("set access", format!("{user} may now use {id}")),
        Err(e) if e.is_not_found() => say.step("set access", format!("skipped: {e}")),
        Err(e) => return Err(e.into()),
    }

    api.stop(&id).await?;
    say.step("stop", format!("{id} asked to stop"));
    let off = wait_for(api, &id, WaitTarget::Off, wait).await?;
    say.step("wait off", format!("{id} is {}", off.state));
    api.stop(&id).await?;
    say.step("stop again", format!("{id} was already off: a no-op"));

    api.start(&id).await?;
    say.step("start", format!("{id} asked to start"));
    wait_for(api, &id, WaitTarget::Ready, wait).await?;
    say.step("wait ready", format!("{id} is ready"));

    api.restart(&id).await?;
    say.step("restart", format!("{id} asked to restart"));
    wait_for(api, &id, WaitTarget::Ready, wait).await?;
    say.step("wait ready", format!("{id} is ready again"));

    let month = BillingMonth::containing(chrono::Utc::now());
    let usage = api.utilization(&id, month).await?;
    say.step(
        "utilization",
        format!(
            "{id} in {month}: {}s running at ${:.2}/h, storage ${:.2}/month → ${:.4} so far",
            usage.seconds_used,
            usage.hourly_rate,
            usage.storage_monthly_rate,
            usage.cost()
        ),
    );

    let mine = api
        .list_all(&MachineFilter::all().with(FilterField::Region, region))
        .await?;
    say.step("list", format!("{} machines in {region}", mine.len()));

    api.destroy(&id, true).await?;
    say.step("destroy", format!("{id} asked to go away"));
    wait_for(api, &id, WaitTarget::Gone, wait).await?;
    say.step("wait gone", format!("{id} no longer exists"));
    Ok(())
}
