//! The weekly digest: what the machines ran, cost and saved in the week
//! and the month to date, and which jobs failed, as one `digest.weekly`
//! event. A `digest` job composes it (a built-in schedule fires one every
//! Monday at 08:00 in the default zone; `machinist jobs submit digest`
//! sends one now).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::cost::{CostError, Ledger, cents};
use crate::job::{JobKind, JobState};
use crate::machine::BillingMonth;
use crate::store::JobFilter;
use crate::webhook::{Event, EventType, Subject};

/// Failed jobs listed by name in a digest; the rest are counted.
const LISTED_FAILURES: usize = 10;

/// The digest of the seven days up to `now`.
pub async fn compose(ledger: &Ledger, now: DateTime<Utc>) -> Result<Event, CostError> {
    let week_start = now - Duration::days(7);
    let this_month = BillingMonth::containing(now);
    let mut months = vec![this_month];
    let earlier = BillingMonth::containing(week_start);
    if earlier != this_month {
        months.insert(0, earlier);
    }
    let mut week_hours = 0.0;
    let mut week_compute = 0.0;
    let mut month = None;
    for m in months {
        let report = ledger.cost_report(m, now).await?;
        for day in &report.daily {
            let date = day
                .date
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc();
            if date
                >= week_start
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                && date < now
            {
                week_hours += day.hours;
                week_compute += day.compute;
            }
        }
        if m == this_month {
            month = Some(report);
        }
    }
    let month = month.expect("the current month is among those read");
    let running: Vec<Value> = month
        .machines
        .iter()
        .filter(|l| l.hours > 0.0)
        .map(|l| {
            json!({
                "machine_id": l.machine_id,
                "name": l.name,
                "hours": l.hours,
                "total": l.total,
                "saved": l.saved,
            })
        })
        .collect();

    // Failed jobs of the week (the machines lane's; a delivery's failure
    // is told by its endpoint's deliveries, not by another event).
    let store = ledger.store();
    let filter = JobFilter {
        state: Some(JobState::Failed),
        ..JobFilter::default()
    };
    let mut failures = Vec::new();
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut before = None;
    'pages: loop {
        let page = store.jobs(&filter, before, 200).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for job in page {
            let at = job.finished_at.unwrap_or(job.updated_at);
            if job.created_at < week_start && at < week_start {
                break 'pages;
            }
            if at < week_start || job.kind == JobKind::Deliver {
                continue;
            }
            *counts.entry(job.kind.to_string()).or_default() += 1;
            if failures.len() < LISTED_FAILURES {
                failures.push(json!({
                    "job_id": job.id,
                    "kind": job.kind.as_str(),
                    "machine_id": job.machine_id,
                    "error": job.last_error,
                    "link": format!("/v1/jobs/{}", job.id),
                }));
            }
        }
    }
    let failed: u32 = counts.values().sum();
    let summary = format!(
        "week to {}: {:.1} h run, ${:.2} compute; {}: {} machines, {:.1} h, ${:.2} spent, ${:.2} saved; {failed} failed job{}",
        now.date_naive(),
        cents(week_hours),
        cents(week_compute),
        month.month,
        running.len(),
        month.totals.hours,
        month.totals.total,
        month.totals.saved,
        if failed == 1 { "" } else { "s" },
    );
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(Event::new(
        EventType::WeeklyDigest,
        now,
        json!({
            "summary": summary,
            "week": {
                "from": ts(week_start),
                "to": ts(now),
                "hours": cents(week_hours),
                "compute": cents(week_compute),
            },
            "month_to_date": {
                "month": month.month.to_string(),
                "machines_run": running.len(),
                "hours": month.totals.hours,
                "compute": month.totals.compute,
                "storage": month.totals.storage,
                "total": month.totals.total,
                "saved": month.totals.saved,
            },
            "currency": "USD",
            "failed_jobs": failed,
            "failed_by_kind": counts,
            "failures": failures,
            "machines": running,
            "link": format!("/v1/reports/cost?month={}", month.month),
        }),
        Subject::default(),
    ))
}
