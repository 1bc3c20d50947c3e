//! Dependencies between jobs: a job may wait for others to succeed before
//! it runs.
//!
//! A job submitted with `depends_on` is stored `blocked` while any of them
//! is unfinished: it is in no due index, holds no worker and is polled by
//! nobody. The store keeps one edge per unfinished dependency, and when a
//! job reaches a final state the same transaction settles its dependents
//! (`store/sqlite/dependencies.rs`): an edge to a job that succeeded goes
//! away, and the dependent is queued once it has none left; an edge to a
//! job that failed or was cancelled cancels the dependent (and, in turn,
//! its own dependents), unless it asked to run anyway
//! ([`OnDependencyFailure::Run`]). A dependency is always an older job (a
//! batch is ordered so that it is), so a machine's line, which runs its
//! jobs in id order, never waits on a job behind it.
//!
//! In a request a dependency is a job id, or, in a batch (`POST
//! /v1/jobs/batch`), the `ref` of another job of the same batch; a batch
//! whose refs form a cycle is refused with the cycle named.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::JobId;
use super::operation::SpecError;

/// What a job does when one of its dependencies fails or is cancelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDependencyFailure {
    /// It is cancelled too, with the dependency and its reason named.
    #[default]
    Cancel,
    /// It runs once every dependency has finished, however they ended.
    Run,
}

impl OnDependencyFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnDependencyFailure::Cancel => "cancel",
            OnDependencyFailure::Run => "run",
        }
    }

    pub fn parse(s: &str) -> Result<Self, SpecError> {
        match s {
            "cancel" => Ok(OnDependencyFailure::Cancel),
            "run" => Ok(OnDependencyFailure::Run),
            other => Err(SpecError::new(
                "on_dependency_failure",
                format!("`{other}` is not a choice; use cancel (the default) or run"),
            )),
        }
    }
}

impl fmt::Display for OnDependencyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dependency as a request names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DependencyRef {
    /// A job already in the queue.
    Job(JobId),
    /// The `ref` of another job of the same batch.
    Ref(String),
}

/// A checked dependency, as the store takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// A job already in the queue; the store refuses an id it does not hold.
    Job(JobId),
    /// The job at this position of the same batch, always an earlier one.
    Earlier(usize),
}

/// How the store begins the error of a job cancelled because a job it
/// depends on failed or was cancelled; what follows names that job.
pub const NOT_RUN: &str = "not run: ";

/// The refusal of a dependency on job `id`, which the store does not hold;
/// named by `field` (`depends_on[1]`, `jobs[2].depends_on[0]`).
pub fn no_such_job(field: impl Into<String>, id: JobId) -> SpecError {
    SpecError::new(
        field,
        format!("there is no job {id} (it may have been pruned); name jobs that exist"),
    )
}

/// Most dependencies one job may name.
pub const MAX_DEPENDENCIES: usize = 1000;

/// Most jobs in one batch: 200 jobs of any kind fit the admin API's body
/// limit (64 KiB by default, `http.max_body_bytes`), so a batch the
/// document allows is never refused for its size. A group run is not a
/// batch and has no such bound.
pub const MAX_BATCH: usize = 200;

/// Checks one job's `depends_on` outside a batch: ids only, no repeats.
pub fn check_ids(field: &str, deps: &[DependencyRef]) -> Result<Vec<Dependency>, SpecError> {
    if deps.len() > MAX_DEPENDENCIES {
        return Err(SpecError::new(
            field,
            format!("at most {MAX_DEPENDENCIES} dependencies"),
        ));
    }
    let mut out: Vec<Dependency> = Vec::with_capacity(deps.len());
    for (i, dep) in deps.iter().enumerate() {
        match dep {
            DependencyRef::Job(id) if *id > 0 => {
                if !out.contains(&Dependency::Job(*id)) {
                    out.push(Dependency::Job(*id));
                }
            }
            DependencyRef::Job(id) => {
                return Err(SpecError::new(
                    format!("{field}[{i}]"),
                    format!("{id} is not a job id; ids are positive integers"),
                ));
            }
            DependencyRef::Ref(name) => {
                return Err(SpecError::new(
                    format!("{field}[{i}]"),
                    format!(
                        "`{}` is a batch ref; only jobs of the same batch (POST /v1/jobs/batch) can be named by ref, give a job id here",
                        crate::text::escape(name)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The jobs of a batch in an order where each comes after what it depends
/// on: `order[k]` is the position in the request of the k-th job to store,
/// and `deps[k]` its dependencies with refs turned into positions in that
/// order. Refused: a ref that names no job of the batch, a job depending on
/// itself, and a cycle, named by its refs (`a → b → a`).
pub struct BatchOrder {
    /// Request positions, in storage order.
    pub order: Vec<usize>,
    /// Each stored job's dependencies, by storage position or job id.
    pub deps: Vec<Vec<Dependency>>,
}

/// Orders a batch; `refs[i]` is the i-th job's `ref`, `deps[i]` its
/// `depends_on` as requested.
pub fn order_batch(
    refs: &[Option<String>],
    deps: &[Vec<DependencyRef>],
) -> Result<BatchOrder, SpecError> {
    let n = refs.len();
    let mut by_ref: HashMap<&str, usize> = HashMap::new();
    for (i, r) in refs.iter().enumerate() {
        if let Some(r) = r {
            crate::job::operation::check_text(&format!("jobs[{i}].ref"), r)?;
            if r.is_empty() || r.chars().count() > 64 {
                return Err(SpecError::new(
                    format!("jobs[{i}].ref"),
                    "must be 1 to 64 characters",
                ));
            }
            if let Some(first) = by_ref.insert(r, i) {
                return Err(SpecError::new(
                    format!("jobs[{i}].ref"),
                    format!(
                        "`{}` is also the ref of jobs[{first}]; refs must be unique in a batch",
                        crate::text::escape(r)
                    ),
                ));
            }
        }
    }
    // Edges by request position: earlier[i] = jobs of the batch i waits for.
    let mut earlier: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut ids: Vec<Vec<JobId>> = vec![Vec::new(); n];
    for (i, list) in deps.iter().enumerate() {
        let field = format!("jobs[{i}].depends_on");
        if list.len() > MAX_DEPENDENCIES {
            return Err(SpecError::new(
                field,
                format!("at most {MAX_DEPENDENCIES} dependencies"),
            ));
        }
        for (k, dep) in list.iter().enumerate() {
            match dep {
                DependencyRef::Job(id) if *id > 0 => {
                    if !ids[i].contains(id) {
                        ids[i].push(*id);
                    }
                }
                DependencyRef::Job(id) => {
                    return Err(SpecError::new(
                        format!("{field}[{k}]"),
                        format!("{id} is not a job id; ids are positive integers"),
                    ));
                }
                DependencyRef::Ref(name) => {
                    let Some(&j) = by_ref.get(name.as_str()) else {
                        return Err(SpecError::new(
                            format!("{field}[{k}]"),
                            format!(
                                "no job of this batch has the ref `{}`",
                                crate::text::escape(name)
                            ),
                        ));
                    };
                    if j == i {
                        return Err(SpecError::new(
                            format!("{field}[{k}]"),
                            format!(
                                "job `{}` cannot depend on itself",
                                crate::text::escape(name)
                            ),
                        ));
                    }
                    if !earlier[i].contains(&j) {
                        earlier[i].push(j);
                    }
                }
            }
        }
    }
    // Kahn's algorithm, taking the lowest ready position first so that a
    // batch already in order keeps its order.
    let mut waiting: Vec<usize> = earlier.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, list) in earlier.iter().enumerate() {
        for &j in list {
            dependents[j].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.insert(d);
            }
        }
    }
    if order.len() < n {
        let cycle = find_cycle(&earlier, &waiting);
        let name = |i: usize| match &refs[i] {
            Some(r) => crate::text::escape(r),
            None => format!("jobs[{i}]"),
        };
        let path: Vec<String> = cycle.iter().map(|&i| name(i)).collect();
        return Err(SpecError::new(
            format!("jobs[{}].depends_on", cycle[0]),
            format!(
                "the jobs {} depend on each other in a cycle, so none could ever run; remove one of these dependencies",
                path.join(" → ")
            ),
        ));
    }
    let mut position = vec![0; n];
    for (k, &i) in order.iter().enumerate() {
        position[i] = k;
    }
    let deps = order
        .iter()
        .map(|&i| {
            earlier[i]
                .iter()
                .map(|&j| Dependency::Earlier(position[j]))
                .chain(ids[i].iter().map(|&id| Dependency::Job(id)))
                .collect()
        })
        .collect();
    Ok(BatchOrder { order, deps })
}

/// One cycle among the jobs Kahn's algorithm left (`waiting > 0`), as
/// request positions with the first repeated at the end.
fn find_cycle(earlier: &[Vec<usize>], waiting: &[usize]) -> Vec<usize> {
    let start = (0..earlier.len())
        .find(|&i| waiting[i] > 0)
        .expect("a job is left");
    // Every job left waits for another job left: walk those edges until a
    // job repeats.
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut path = Vec::new();
    let mut at = start;
    loop {
        if let Some(&k) = seen.get(&at) {
            let mut cycle = path[k..].to_vec();
            cycle.push(at);
            return cycle;
        }
        seen.insert(at, path.len());
        path.push(at);
        at = *earlier[at]
            .iter()
            .find(|&&j| waiting[j] > 0)
            .expect("a job left waits for another job left");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> DependencyRef {
        DependencyRef::Ref(s.into())
    }

    fn refs(names: &[&str]) -> Vec<Option<String>> {
        names.iter().map(|n| Some(n.to_string())).collect()
    }

    #[test]
    fn a_batch_in_order_keeps_it() {
        let o = order_batch(
            &refs(&["db", "app", "web"]),
            &[vec![], vec![r("db")], vec![r("app"), DependencyRef::Job(7)]],
        )
        .unwrap();
        assert_eq!(o.order, [0, 1, 2]);
        assert_eq!(
            o.deps,
            [
                vec![],
                vec![Dependency::Earlier(0)],
                vec![Dependency::Earlier(1), Dependency::Job(7)]
            ]
        );
    }

    #[test]
    fn dependencies_come_first() {
        let o = order_batch(
            &refs(&["web", "app", "db"]),
            &[vec![r("app")], vec![r("db")], vec![]],
        )
        .unwrap();
        assert_eq!(o.order, [2, 1, 0]);
        assert_eq!(
            o.deps,
            [
                vec![],
                vec![Dependency::Earlier(0)],
                vec![Dependency::Earlier(1)]
            ]
        );
    }

    #[test]
    fn a_cycle_is_named() {
        let e = order_batch(
            &refs(&["a", "b", "c", "d"]),
            &[vec![], vec![r("c")], vec![r("d")], vec![r("b")]],
        )
        .err()
        .unwrap();
        assert!(
            e.message.contains("b → c → d → b") || e.message.contains("c → d → b → c"),
            "{e}"
        );
        let e = order_batch(&refs(&["a"]), &[vec![r("a")]]).err().unwrap();
        assert!(e.message.contains("itself"), "{e}");
        let e = order_batch(&refs(&["a"]), &[vec![r("zz")]]).err().unwrap();
        assert_eq!(e.field, "jobs[0].depends_on[0]");
        let e = order_batch(&refs(&["a", "a"]), &[vec![], vec![]])
            .err()
            .unwrap();
        assert_eq!(e.field, "jobs[1].ref");
    }

    #[test]
    fn single_jobs_take_ids_only() {
        assert_eq!(
            check_ids(
                "depends_on",
                &[DependencyRef::Job(3), DependencyRef::Job(3)]
            )
            .unwrap(),
            [Dependency::Job(3)]
        );
        assert_eq!(
            check_ids("depends_on", &[r("x")]).unwrap_err().field,
            "depends_on[0]"
        );
        assert!(check_ids("depends_on", &[DependencyRef::Job(0)]).is_err());
    }
}
