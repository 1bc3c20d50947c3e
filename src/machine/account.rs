//! Account-level facts: billing months, utilization, availability, templates.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A billing month, written `YYYY-MM` as Paperspace expects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingMonth {
    /// Calendar year, e.g. `2026`.
    year: i32,
    /// 1..=12
    month: u32,
}

/// A string that is not a `YYYY-MM` month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", bad_month_message(.0))]
pub struct BadBillingMonth(pub String);

/// Says what is wrong with `s`: a `2026-13` has the right form and names a
/// month that does not exist, which "not of the form YYYY-MM" would deny.
fn bad_month_message(s: &str) -> String {
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('-') {
        Some((y, m)) if digits(y, 4) && digits(m, 2) => {
            if (1..=12).contains(&m.parse::<u32>().unwrap_or(0)) {
                format!("billing month `{s}` is invalid: the year must be 1970 to 9999")
            } else {
                format!("billing month `{s}` is invalid: month {m} does not exist (01 to 12)")
            }
        }
        _ => format!("billing month `{s}` is not of the form YYYY-MM (e.g. 2026-03)"),
    }
}

impl BillingMonth {
    /// `month` is 1..=12.
    pub fn new(year: i32, month: u32) -> Result<Self, BadBillingMonth> {
        if (1..=12).contains(&month) && (1970..=9999).contains(&year) {
            Ok(BillingMonth { year, month })
        } else {
            Err(BadBillingMonth(format!("{year:04}-{month:02}")))
        }
    }

    /// The month that contains `at` (UTC).
    pub fn containing(at: DateTime<Utc>) -> Self {
        BillingMonth {
            year: at.year(),
            month: at.month(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    /// The month before this one.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            BillingMonth {
                year: self.year - 1,
                month: 12,
            }
        } else {
            BillingMonth {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The month after this one.
    pub fn next(self) -> Self {
        if self.month == 12 {
            BillingMonth {
                year: self.year + 1,
                month: 1,
            }
        } else {
            BillingMonth {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// First instant of the month, UTC.
    pub fn start(self) -> DateTime<Utc> {
        let date = NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month");
        Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
    }

    /// First instant of the next month, UTC (exclusive end).
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for BillingMonth {
    type Err = BadBillingMonth;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadBillingMonth(s.to_string());
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        BillingMonth::new(year, month).map_err(|_| bad())
    }
}

impl Serialize for BillingMonth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BillingMonth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What one machine used in one billing month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    /// The machine the figures are for.
    pub machine_id: String,
    /// The month they cover.
    pub billing_month: BillingMonth,
    /// Seconds the machine ran (billed hourly).
    pub seconds_used: u64,
    /// Dollars per hour of running.
    pub hourly_rate: f64,
    /// Seconds its storage existed in the month.
    pub storage_seconds_used: u64,
    /// Dollars per month of storage.
    pub storage_monthly_rate: f64,
}

impl Utilization {
    /// What the month cost: hours run times the hourly rate, plus storage
    /// prorated over the month's length.
    pub fn cost(&self) -> f64 {
        let month_secs =
            (self.billing_month.end() - self.billing_month.start()).num_seconds() as f64;
        self.seconds_used as f64 / 3600.0 * self.hourly_rate
            + self.storage_seconds_used as f64 / month_secs * self.storage_monthly_rate
    }
}

/// Whether Paperspace lets the account run machines (v1
/// `GET /billing/account-standing`). Paperspace stops machines some days
/// after a payment failure, and refuses creates and starts meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStanding {
    /// `isInGoodStanding`: creates and starts are allowed.
    pub in_good_standing: bool,
    /// `hasPaymentMethod`.
    pub has_payment_method: bool,
    /// `isAdminLocked`: Paperspace staff locked the account.
    pub admin_locked: bool,
    /// `messages`: what Paperspace tells the account holder, shown as sent.
    pub messages: Vec<String>,
}

/// Whether a machine type can be created in a region right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// Region display name, e.g. `Europe (AMS1)`.
    pub region: String,
    /// Machine type asked about, e.g. `P4000`.
    pub machine_type: String,
    /// Whether Paperspace said it can be created there now.
    pub available: bool,
}

/// A template a machine can be created from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Paperspace's template id, passed as `template_id` to a create.
    pub id: String,
    /// e.g. `paperspace/t123abc` for public templates.
    pub name: String,
    /// Human description, e.g. `Ubuntu 22.04 Server`.
    pub label: Option<String>,
    /// Operating system label, e.g. `Ubuntu 22.04`; on v1 the OS label or agent type.
    pub os: Option<String>,
    /// Region the template is stored in; `None` on v1 and when the answer omits it.
    pub region: Option<String>,
    /// Team owning a private template; legacy only.
    pub team_id: Option<String>,
    /// User owning a private template; legacy only.
    pub user_id: Option<String>,
    /// When the template was created.
    pub created_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_month_parses_and_rejects() {
        let m: BillingMonth = "2026-03".parse().unwrap();
        assert_eq!(m.to_string(), "2026-03");
        assert_eq!(m.previous().to_string(), "2026-02");
        assert_eq!(
            "2026-01"
                .parse::<BillingMonth>()
                .unwrap()
                .previous()
                .to_string(),
            "2025-12"
        );
        assert_eq!(
            "2026-12"
                .parse::<BillingMonth>()
                .unwrap()
                .next()
                .to_string(),
            "2027-01"
        );
        for (bad, says) in [
            ("2026-13", "month 13 does not exist"),
            ("2026-00", "month 00 does not exist"),
            ("1969-05", "the year must be 1970 to 9999"),
        ] {
            let err = bad.parse::<BillingMonth>().unwrap_err().to_string();
            assert!(
                err.contains("is invalid") && err.contains(says),
                "{bad}: {err}"
            );
            assert!(!err.contains("YYYY-MM"), "{bad}: {err}");
        }
        for bad in ["2026-3", "26-03", "2026/03", "", "abcd-ef", "2026-03-01"] {
            let err = bad.parse::<BillingMonth>().unwrap_err();
            assert!(err.to_string().contains("YYYY-MM"), "{bad}: {err}");
        }
    }

    #[test]
    fn utilization_cost_adds_runtime_and_prorated_storage() {
        let u = Utilization {
            machine_id: "ps1".into(),
            billing_month: "2026-04".parse().unwrap(), // 30 days
            seconds_used: 10 * 3600,
            hourly_rate: 0.51,
            storage_seconds_used: 15 * 86400,
            storage_monthly_rate: 10.0,
        };
        assert!((u.cost() - (5.1 + 5.0)).abs() < 1e-9, "{}", u.cost());
    }
}
