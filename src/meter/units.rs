//! The units of v1's `usageRate` and `storageRate`.
//!
//! Paperspace does not document them. The legacy API's equivalents were
//! `hourlyRate` (dollars per hour of running) and `monthlyRate` (dollars per
//! month of storage), and the numbers v1 sends match the prices Paperspace
//! publishes per hour and per month, so those are the defaults. An operator
//! who finds otherwise sets `cost.usage_rate_unit` / `cost.storage_rate_unit`;
//! the rates are stored as sent, so the correction reprices history too.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::machine::BillingMonth;

/// What one unit of `usageRate` buys: running for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageUnit {
    /// Dollars per hour of running (the default, as legacy `hourlyRate`).
    #[default]
    Hour,
    /// Dollars per minute.
    Minute,
    /// Dollars per second.
    Second,
}

/// What one unit of `storageRate` buys: a disk kept for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageUnit {
    /// Dollars per calendar month (the default, as legacy `monthlyRate`).
    #[default]
    Month,
    /// Dollars per day.
    Day,
    /// Dollars per hour.
    Hour,
}

/// A unit name that is not one of the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a rate unit; use one of {accepted}")]
pub struct BadUnit {
    /// What was given.
    pub given: String,
    /// The accepted spellings, for the message.
    pub accepted: &'static str,
}

impl UsageUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageUnit::Hour => "hour",
            UsageUnit::Minute => "minute",
            UsageUnit::Second => "second",
        }
    }

    /// Seconds of running one unit of the rate pays for.
    fn seconds(self) -> f64 {
        match self {
            UsageUnit::Hour => 3600.0,
            UsageUnit::Minute => 60.0,
            UsageUnit::Second => 1.0,
        }
    }
}

impl StorageUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageUnit::Month => "month",
            StorageUnit::Day => "day",
            StorageUnit::Hour => "hour",
        }
    }
}

impl FromStr for UsageUnit {
    type Err = BadUnit;

    fn from_str(s: &str) -> Result<Self, BadUnit> {
        match s {
            "hour" => Ok(UsageUnit::Hour),
            "minute" => Ok(UsageUnit::Minute),
            "second" => Ok(UsageUnit::Second),
            other => Err(BadUnit {
                given: other.to_string(),
                accepted: "`hour`, `minute` or `second`",
            }),
        }
    }
}

impl FromStr for StorageUnit {
    type Err = BadUnit;

    fn from_str(s: &str) -> Result<Self, BadUnit> {
        match s {
            "month" => Ok(StorageUnit::Month),
            "day" => Ok(StorageUnit::Day),
            "hour" => Ok(StorageUnit::Hour),
            other => Err(BadUnit {
                given: other.to_string(),
                accepted: "`month`, `day` or `hour`",
            }),
        }
    }
}

impl fmt::Display for UsageUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for StorageUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! serde_by_name {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_by_name!(UsageUnit);
serde_by_name!(StorageUnit);

/// How to read the two rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateUnits {
    /// `usageRate` is dollars per this much running.
    pub usage: UsageUnit,
    /// `storageRate` is dollars per this much keeping the disk.
    pub storage: StorageUnit,
}

impl RateUnits {
    /// Dollars per hour of running at `usage_rate`.
    pub fn hourly(&self, usage_rate: f64) -> f64 {
        usage_rate * 3600.0 / self.usage.seconds()
    }

    /// Dollars per second of keeping the disk at `storage_rate` during
    /// `month` (a monthly price spreads over that month's length).
    pub fn storage_per_second(&self, storage_rate: f64, month: BillingMonth) -> f64 {
        let per = match self.storage {
            StorageUnit::Month => (month.end() - month.start()).num_seconds() as f64,
            StorageUnit::Day => 86_400.0,
            StorageUnit::Hour => 3600.0,
        };
        storage_rate / per
    }

    /// Dollars per month of keeping the disk at `storage_rate` (for a
    /// 30-day month when the unit is shorter), to show next to the machine.
    pub fn monthly_storage(&self, storage_rate: f64) -> f64 {
        match self.storage {
            StorageUnit::Month => storage_rate,
            StorageUnit::Day => storage_rate * 30.0,
            StorageUnit::Hour => storage_rate * 720.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_convert_to_hours_and_seconds() {
        let units = RateUnits::default();
        assert_eq!(units.hourly(0.51), 0.51);
        let minute = RateUnits {
            usage: UsageUnit::Minute,
            storage: StorageUnit::Day,
        };
        assert!((minute.hourly(0.01) - 0.6).abs() < 1e-12);
        let april: BillingMonth = "2026-04".parse().unwrap();
        let per_s = units.storage_per_second(30.0, april);
        assert!((per_s * 30.0 * 86_400.0 - 30.0).abs() < 1e-9);
        assert!((minute.storage_per_second(1.0, april) * 86_400.0 - 1.0).abs() < 1e-12);
        assert_eq!(minute.monthly_storage(1.0), 30.0);
    }

    #[test]
    fn unit_names_parse_and_refuse() {
        assert_eq!("minute".parse::<UsageUnit>().unwrap(), UsageUnit::Minute);
        let e = "hours".parse::<UsageUnit>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`hours` is not a rate unit; use one of `hour`, `minute` or `second`"
        );
        assert_eq!("day".parse::<StorageUnit>().unwrap(), StorageUnit::Day);
    }
}
