//! Counts of the API calls the simulator received, for tests that assert
//! how often a client asked ("did the retry create twice?").

use std::collections::BTreeMap;

use serde::Serialize;

use super::faults::normalize_route;

/// How many calls one (method, route, machine) received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallCount {
    /// `GET`, `POST`, …
    pub method: String,
    /// Route template, e.g. `/machines/:machineId/start`.
    pub route: String,
    /// The machine the call named (path, query or body `machineId`), if any.
    pub machine_id: Option<String>,
    /// Calls so far.
    pub count: u64,
}

/// Every call to a legacy route, counted before auth and faults.
#[derive(Debug, Default)]
pub struct CallLog {
    /// (method, route template, machine id) → count; ordered for stable listings.
    counts: BTreeMap<(String, String, Option<String>), u64>,
}

impl CallLog {
    /// Counts one call; `route_key` is `METHOD /template`.
    pub fn record(&mut self, route_key: &str, machine_id: Option<String>) {
        let (method, route) = split(route_key);
        *self.counts.entry((method, route, machine_id)).or_default() += 1;
    }

    /// Calls to `method route`; `machine_id: None` counts calls whatever machine they named.
    pub fn count(&self, method: &str, route: &str, machine_id: Option<&str>) -> u64 {
        let (method, route) = split(&format!("{method} {route}"));
        self.counts
            .iter()
            .filter(|((m, r, id), _)| {
                *m == method
                    && *r == route
                    && machine_id.is_none_or(|want| id.as_deref() == Some(want))
            })
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn entries(&self) -> Vec<CallCount> {
        self.counts
            .iter()
            .map(|((method, route, machine_id), count)| CallCount {
                method: method.clone(),
                route: route.clone(),
                machine_id: machine_id.clone(),
                count: *count,
            })
            .collect()
    }

    pub fn reset(&mut self) {
        self.counts.clear();
    }
}

fn split(route_key: &str) -> (String, String) {
    let key = normalize_route(route_key);
    let (method, route) = key.split_once(' ').unwrap_or(("", &key));
    (method.to_string(), route.to_string())
}
