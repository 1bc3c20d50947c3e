//! Which machines a schedule or window acts on: explicit ids, or a selector
//! resolved against the account's machine list each time it fires.

use serde::{Deserialize, Serialize};

use crate::job::operation::{check_id, check_text};
use crate::job::{JobKind, SpecError};
use crate::machine::Machine;

/// The targets of a schedule. Empty for kinds that act on no machine
/// (`refresh`, `availability`, `create`): those fire one job per firing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Explicit machine ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machine_ids: Vec<String>,
    /// Machines matching this at fire time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// A machine group (`/v1/groups`), run in its stage order: a start
    /// starts stage by stage, a stop stops in reverse. Alone: not with
    /// `machine_ids` or a selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Conditions a machine must all meet; an absent condition matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// A glob on the machine name: `*` any run of characters, `?` one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<String>,
    /// e.g. `ready` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Checks a group's (or a stage's) name: it is typed on command lines and
/// shown in tables, so 1 to 64 letters, digits, `-`, `_` or `.`. The
/// same rule as `group/spec.rs` names groups by; it lives here because
/// schedules sit below groups in the layers and name them too.
pub fn check_group_name(field: &str, name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        check_text(field, name)?;
        Err(SpecError::new(
            field,
            "must be 1 to 64 letters, digits, `-`, `_` or `.`",
        ))
    }
}

/// The target written for firings of kinds that act on no machine.
pub const NO_TARGET: &str = "-";

impl Selector {
    /// True when `machine` meets every condition.
    pub fn matches(&self, machine: &Machine) -> bool {
        let name_ok = self
            .name
            .as_deref()
            .is_none_or(|glob| wildmatch::WildMatch::new(glob).matches(&machine.name));
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        name_ok
            && eq(&self.region, machine.region.as_deref())
            && eq(&self.machine_type, machine.machine_type.as_deref())
            && eq(&self.state, Some(machine.state.as_str()))
    }

    fn is_empty(&self) -> bool {
        self == &Selector::default()
    }
}

impl Targets {
    /// True when nothing is targeted.
    pub fn is_empty(&self) -> bool {
        self.machine_ids.is_empty() && self.selector.is_none() && self.group.is_none()
    }

    /// True when firing needs the account's machine list. For a group,
    /// whether its stages have selectors is known only once the group is
    /// read: the scheduler asks the group then.
    pub fn needs_listing(&self) -> bool {
        self.selector.is_some()
    }

    /// Checks the targets against whether the job kind acts on a machine.
    /// `kind` is a job kind, `window` for a window's targets (whose edges
    /// start and stop), or `group` for a group's stage.
    pub fn validate(&self, needs_machine: bool, kind: &str) -> Result<(), SpecError> {
        if let Some(group) = &self.group {
            return self.validate_group(group, needs_machine, kind);
        }
        if !needs_machine {
            if !self.is_empty() {
                return Err(SpecError::new(
                    "targets",
                    format!("{kind} jobs act on no existing machine; leave targets out"),
                ));
            }
            return Ok(());
        }
        if self.is_empty() {
            return Err(SpecError::new(
                "targets",
                format!("{kind} jobs need targets: `machine_ids` or a `selector`"),
            ));
        }
        if !self.machine_ids.is_empty() && self.selector.is_some() {
            return Err(SpecError::new(
                "targets",
                "give machine_ids or a selector, not both",
            ));
        }
        if self.machine_ids.len() > 10_000 {
            return Err(SpecError::new(
                "targets.machine_ids",
                "at most 10000 machines",
            ));
        }
        for (i, id) in self.machine_ids.iter().enumerate() {
            check_id(&format!("targets.machine_ids[{i}]"), id)?;
        }
        if let Some(selector) = &self.selector {
            for (field, value) in [
                ("targets.selector.name", &selector.name),
                ("targets.selector.region", &selector.region),
                ("targets.selector.machine_type", &selector.machine_type),
                ("targets.selector.state", &selector.state),
            ] {
                if let Some(value) = value {
                    check_text(field, value)?;
                }
            }
            if selector.is_empty() {
                return Err(SpecError::new(
                    "targets.selector",
                    "an empty selector would match every machine; give name, region, machine_type or state (name `*` matches all)",
                ));
            }
            if let Some(state) = &selector.state
                && !crate::machine::MachineState::KNOWN
                    .iter()
                    .any(|s| s.as_str() == state)
            {
                return Err(SpecError::new(
                    "targets.selector.state",
                    format!("`{state}` is not a machine state"),
                ));
            }
            if let Some(name) = &selector.name
                && (name.is_empty() || name.chars().count() > 128)
            {
                return Err(SpecError::new(
                    "targets.selector.name",
                    "a glob of 1 to 128 characters",
                ));
            }
        }
        Ok(())
    }

    /// A group target: alone, for the kinds a group runs (a window's edges
    /// are a start and a stop), and named by the rule groups are named by.
    fn validate_group(
        &self,
        group: &str,
        needs_machine: bool,
        kind: &str,
    ) -> Result<(), SpecError> {
        if !self.machine_ids.is_empty() || self.selector.is_some() {
            return Err(SpecError::new(
                "targets",
                "give a group alone, not with machine_ids or a selector (a group's stages name its machines)",
            ));
        }
        // A window's edges are a start and a stop.
        let runs_group = kind == "window"
            || matches!(
                kind.parse::<JobKind>(),
                Ok(JobKind::Start | JobKind::Stop | JobKind::Restart)
            );
        if !needs_machine || !runs_group {
            return Err(SpecError::new(
                "targets.group",
                format!(
                    "{kind} jobs cannot target a group; only start, stop and restart schedules (and windows) run one"
                ),
            ));
        }
        check_group_name("targets.group", group)
    }

    /// The machine ids to act on now; `machines` is the account's list,
    /// needed only with a selector.
    pub fn resolve(&self, machines: Option<&[Machine]>) -> Vec<String> {
        if let Some(selector) = &self.selector {
            let mut ids: Vec<String> = machines
                .unwrap_or_default()
                .iter()
                .filter(|m| selector.matches(m))
                .map(|m| m.id.clone())
                .collect();
            ids.sort();
            ids.dedup();
            return ids;
        }
        let mut ids = self.machine_ids.clone();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineState;

    fn machine(id: &str, name: &str, region: &str, ty: &str, state: MachineState) -> Machine {
        let mut m = Machine::new(id, name, state);
        m.region = Some(region.into());
        m.machine_type = Some(ty.into());
        m
    }

    #[test]
    fn selectors_match_every_condition() {
        let fleet = [
            machine(
                "ps1",
                "gpu-train-1",
                "Europe (AMS1)",
                "P4000",
                MachineState::Ready,
            ),
            machine(
                "ps2",
                "gpu-train-2",
                "East Coast (NY2)",
                "P4000",
                MachineState::Off,
            ),
            machine("ps3", "dev-box", "Europe (AMS1)", "C5", MachineState::Ready),
        ];
        let t = |s: Selector| Targets {
            machine_ids: vec![],
            selector: Some(s),
            group: None,
        };
        let by_name = t(Selector {
            name: Some("gpu-*".into()),
            ..Selector::default()
        });
        assert_eq!(by_name.resolve(Some(&fleet)), ["ps1", "ps2"]);
        let ams_ready = t(Selector {
            region: Some("Europe (AMS1)".into()),
            state: Some("ready".into()),
            ..Selector::default()
        });
        assert_eq!(ams_ready.resolve(Some(&fleet)), ["ps1", "ps3"]);
        let one = t(Selector {
            name: Some("gpu-train-?".into()),
            machine_type: Some("P4000".into()),
            region: Some("East Coast (NY2)".into()),
            ..Selector::default()
        });
        assert_eq!(one.resolve(Some(&fleet)), ["ps2"]);
    }

    #[test]
    fn validation_names_the_field() {
        let field = |t: Targets, needs: bool| t.validate(needs, "start").unwrap_err().field;
        assert_eq!(field(Targets::default(), true), "targets");
        let both = Targets {
            machine_ids: vec!["ps1".into()],
            selector: Some(Selector {
                name: Some("*".into()),
                ..Selector::default()
            }),
            group: None,
        };
        assert_eq!(field(both, true), "targets");
        let bad_id = Targets {
            machine_ids: vec!["ps1".into(), "a/b".into()],
            selector: None,
            group: None,
        };
        assert_eq!(field(bad_id, true), "targets.machine_ids[1]");
        let empty = Targets {
            machine_ids: vec![],
            selector: Some(Selector::default()),
            group: None,
        };
        assert_eq!(field(empty, true), "targets.selector");
        let bad_state = Targets {
            machine_ids: vec![],
            selector: Some(Selector {
                state: Some("sleeping".into()),
                ..Selector::default()
            }),
            group: None,
        };
        assert_eq!(field(bad_state, true), "targets.selector.state");
        let extra = Targets {
            machine_ids: vec!["ps1".into()],
            selector: None,
            group: None,
        };
        assert_eq!(field(extra, false), "targets");
    }

    #[test]
    fn a_group_is_alone_named_like_a_group_and_only_started_or_stopped() {
        let group = |name: &str| Targets {
            group: Some(name.into()),
            ..Targets::default()
        };
        group("shop").validate(true, "start").unwrap();
        group("shop").validate(true, "restart").unwrap();
        group("shop").validate(true, "window").unwrap();
        let with_ids = Targets {
            machine_ids: vec!["ps1".into()],
            ..group("shop")
        };
        assert_eq!(
            with_ids.validate(true, "stop").unwrap_err().field,
            "targets"
        );
        let err = group("shop").validate(true, "show").unwrap_err();
        assert_eq!(err.field, "targets.group");
        assert!(err.message.contains("show jobs cannot target a group"));
        assert_eq!(
            group("shop").validate(false, "refresh").unwrap_err().field,
            "targets.group"
        );
        assert_eq!(
            group("a shop").validate(true, "start").unwrap_err().field,
            "targets.group"
        );
        assert_eq!(
            group(&"g".repeat(65))
                .validate(true, "start")
                .unwrap_err()
                .field,
            "targets.group"
        );
    }
}
