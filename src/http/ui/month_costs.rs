//! The cost reports the dashboard shows, kept for a short while.
//!
//! A cost report meters every machine's month, and the savings in it need
//! each machine's pattern before Machinist first stopped it, read from the
//! whole history: with 1,000 machines and six months of history that is
//! most of a second, on every view of the fleet or the reports. A
//! dashboard that says "this month so far" can say it as of a minute ago,
//! and a month that has ended no longer grows (a back-filled gap may still
//! move it a little). So a report of the running month is kept for
//! [`KEEP_RUNNING`], one of a finished month for [`KEEP_FINISHED`], and
//! every page that shows one says when it was metered. The JSON API
//! (`GET /v1/reports/cost`) always meters afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use crate::cost::{CostError, CostReport, Ledger};
use crate::machine::BillingMonth;

/// How long a report of the month still running is shown before it is
/// metered again.
const KEEP_RUNNING: Duration = Duration::seconds(60);
/// How long a report of a finished month is kept.
const KEEP_FINISHED: Duration = Duration::minutes(10);

/// A report and when it was metered.
#[derive(Clone)]
pub(in crate::http) struct Metered {
    /// The report, shared by the pages that show it.
    pub report: Arc<CostReport>,
    /// When it was metered (the daemon's clock).
    pub at: DateTime<Utc>,
}

/// The kept reports, by month; one per router.
#[derive(Clone, Default)]
pub(in crate::http) struct MonthCosts {
    kept: Arc<Mutex<HashMap<BillingMonth, Metered>>>,
}

impl MonthCosts {
    /// `month`'s report as of at most a minute ago (ten for a finished
    /// month), metered now when none is kept.
    pub(in crate::http) async fn report(
        &self,
        ledger: &Ledger,
        month: BillingMonth,
        now: DateTime<Utc>,
    ) -> Result<Metered, CostError> {
        if let Some(kept) = self.kept(month, now) {
            return Ok(kept);
        }
        let report = ledger.cost_report(month, now).await?;
        let metered = Metered {
            report: Arc::new(report),
            at: now,
        };
        let mut kept = self.kept.lock().expect("month costs lock");
        kept.retain(|_, m| fresh(m, now));
        kept.insert(month, metered.clone());
        Ok(metered)
    }

    fn kept(&self, month: BillingMonth, now: DateTime<Utc>) -> Option<Metered> {
        let kept = self.kept.lock().expect("month costs lock");
        kept.get(&month).filter(|m| fresh(m, now)).cloned()
    }
}

/// Whether a kept report may still be shown at `now` (never one metered
/// after `now`: a clock moved back, as tests do).
fn fresh(m: &Metered, now: DateTime<Utc>) -> bool {
    let keep = if m.report.complete {
        KEEP_FINISHED
    } else {
        KEEP_RUNNING
    };
    m.at <= now && now - m.at < keep
}
