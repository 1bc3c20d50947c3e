//! A group: an ordered list of stages, each a set of machines.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::GroupId;
use crate::job::SpecError;
use crate::job::operation::check_id;
use crate::schedule::target::{Selector, Targets, check_group_name};

/// Most stages in a group.
pub const MAX_STAGES: usize = 50;

/// A stored group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Store-assigned.
    pub id: GroupId,
    /// Unique; what `--group NAME`, schedules and windows name it by.
    pub name: String,
    /// In start order: a start runs them first to last, a stop last to first.
    pub stages: Vec<Stage>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One stage: a name and its machines, explicit or by selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Unique in the group, e.g. `db`; shown in a run's progress.
    pub name: String,
    /// Explicit machine ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machine_ids: Vec<String>,
    /// Machines matching this when a run is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
}

impl Stage {
    /// The stage's machines as schedule targets, which resolve the same way.
    pub fn targets(&self) -> Targets {
        Targets {
            machine_ids: self.machine_ids.clone(),
            selector: self.selector.clone(),
            ..Targets::default()
        }
    }
}

/// A request to create a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Letters, digits, `-`, `_` and `.`, at most 64.
    pub name: String,
    /// At least one, at most 50, in start order.
    pub stages: Vec<Stage>,
}

/// A request to change a group: the fields given replace the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<Stage>>,
}

impl GroupSpec {
    /// Checks the name and every stage; the first problem is named by its
    /// field (`stages[1].machine_ids[0]`).
    pub fn check(&self) -> Result<(), SpecError> {
        check_name("name", &self.name)?;
        check_stages(&self.stages)
    }
}

impl GroupPatch {
    /// Checks what the patch sets.
    pub fn check(&self) -> Result<(), SpecError> {
        if self.name.is_none() && self.stages.is_none() {
            return Err(SpecError::new(
                "name",
                "give name or stages to change; nothing else can be changed",
            ));
        }
        if let Some(name) = &self.name {
            check_name("name", name)?;
        }
        if let Some(stages) = &self.stages {
            check_stages(stages)?;
        }
        Ok(())
    }
}

/// A group or stage name, by the rule schedules name groups by.
fn check_name(field: &str, name: &str) -> Result<(), SpecError> {
    check_group_name(field, name)
}

fn check_stages(stages: &[Stage]) -> Result<(), SpecError> {
    if stages.is_empty() {
        return Err(SpecError::new(
            "stages",
            "give at least one stage, e.g. {\"name\": \"db\", \"machine_ids\": [\"psA\"]}",
        ));
    }
    if stages.len() > MAX_STAGES {
        return Err(SpecError::new(
            "stages",
            format!("at most {MAX_STAGES} stages"),
        ));
    }
    let mut all_ids: Vec<(&str, usize)> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let at = format!("stages[{i}]");
        check_name(&format!("{at}.name"), &stage.name)?;
        if let Some(j) = stages[..i].iter().position(|s| s.name == stage.name) {
            return Err(SpecError::new(
                format!("{at}.name"),
                format!(
                    "`{}` is also the name of stages[{j}]; stage names must be unique",
                    stage.name
                ),
            ));
        }
        if stage.machine_ids.is_empty() && stage.selector.is_none() {
            return Err(SpecError::new(
                at,
                "a stage needs machine_ids or a selector",
            ));
        }
        for (k, id) in stage.machine_ids.iter().enumerate() {
            check_id(&format!("{at}.machine_ids[{k}]"), id)?;
            if let Some((_, j)) = all_ids.iter().find(|(m, _)| *m == id) {
                return Err(SpecError::new(
                    format!("{at}.machine_ids[{k}]"),
                    format!("{id} is already in stages[{j}]; a machine belongs to one stage"),
                ));
            }
            all_ids.push((id, i));
        }
        stage.targets().validate(true, "group").map_err(|e| {
            SpecError::new(
                format!("{at}.{}", e.field.trim_start_matches("targets.")),
                e.message,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, ids: &[&str]) -> Stage {
        Stage {
            name: name.into(),
            machine_ids: ids.iter().map(|s| s.to_string()).collect(),
            selector: None,
        }
    }

    #[test]
    fn names_stages_and_machines_are_checked() {
        let ok = GroupSpec {
            name: "shop".into(),
            stages: vec![stage("db", &["psA"]), stage("app", &["psB", "psC"])],
        };
        ok.check().unwrap();
        let field = |spec: GroupSpec| spec.check().unwrap_err().field;
        assert_eq!(
            field(GroupSpec {
                name: "a b".into(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field(GroupSpec {
                stages: vec![],
                ..ok.clone()
            }),
            "stages"
        );
        assert_eq!(
            field(GroupSpec {
                stages: vec![stage("db", &["psA"]), stage("db", &["psB"])],
                ..ok.clone()
            }),
            "stages[1].name"
        );
        assert_eq!(
            field(GroupSpec {
                stages: vec![stage("db", &["psA"]), stage("app", &["psA"])],
                ..ok.clone()
            }),
            "stages[1].machine_ids[0]"
        );
        assert_eq!(
            field(GroupSpec {
                stages: vec![stage("db", &["ps/A"])],
                ..ok.clone()
            }),
            "stages[0].machine_ids[0]"
        );
        assert_eq!(
            field(GroupSpec {
                stages: vec![stage("db", &[])],
                ..ok
            }),
            "stages[0]"
        );
    }
}
