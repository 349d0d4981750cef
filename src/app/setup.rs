//! The form before a run starts: pick the environment, fill in the inputs. Values are
//! checked as they are typed (pattern, choices, required); secrets are masked.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::runbook::Runbook;

/// One input of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub description: String,
    pub value: String,
    pub secret: bool,
    /// Values to cycle through with ←/→ (`choices`, or `choices_from` once loaded).
    pub choices: Vec<String>,
    pub choices_from: Option<String>,
    /// Whether `choices_from` was run (it runs on demand, the first time the field is focused).
    pub loaded: bool,
    pub error: Option<String>,
}

/// The form.
#[derive(Debug, Clone)]
pub struct Setup {
    pub runbook: Arc<Runbook>,
    /// Environments the runbook allows, with whether each is protected.
    pub envs: Vec<(String, bool)>,
    pub env: usize,
    pub fields: Vec<Field>,
    /// 0 is the environment row; 1.. are the fields.
    pub focus: usize,
    /// Set when the form asks again for a resumed run's secrets (never journaled): the
    /// run's id. The environment is the run's, and only the secret fields are shown.
    pub resume: Option<String>,
}

impl Setup {
    pub fn new(runbook: Arc<Runbook>, envs: Vec<(String, bool)>, default_env: Option<&str>) -> Self {
        let env = default_env.and_then(|d| envs.iter().position(|(n, _)| n == d)).unwrap_or(0);
        let fields = runbook
            .inputs
            .iter()
            .map(|i| {
                let from_env = std::env::var(format!("RUNBOOK_INPUT_{}", i.name.to_ascii_uppercase())).ok();
                Field {
                    name: i.name.clone(),
                    description: i.description.clone(),
                    value: from_env.or_else(|| i.default.clone()).unwrap_or_default(),
                    secret: i.secret,
                    choices: i.choices.clone(),
                    choices_from: i.choices_from.clone(),
                    loaded: false,
                    error: None,
                }
            })
            .collect();
        let mut setup = Self { runbook, envs, env, fields, focus: 0, resume: None };
        setup.validate();
        setup
    }

    /// The form for resuming run `run_id`: its environment, and the secret inputs `names`
    /// that the journal does not keep.
    pub fn for_resume(runbook: Arc<Runbook>, env: (String, bool), names: &[String], run_id: &str) -> Self {
        let mut setup = Self::new(runbook, vec![env], None);
        setup.fields.retain(|f| names.contains(&f.name));
        setup.resume = Some(run_id.to_owned());
        setup.focus = usize::from(!setup.fields.is_empty());
        setup.validate();
        setup
    }

    /// Whether the form can be skipped: nothing to choose and nothing to fill in.
    pub fn is_trivial(&self) -> bool {
        self.envs.len() <= 1 && self.fields.iter().all(|f| f.error.is_none()) && self.fields.is_empty()
    }

    pub fn validate(&mut self) {
        for f in &mut self.fields {
            let input = self.runbook.input(&f.name);
            f.error = if f.value.is_empty() && input.is_some_and(|i| i.default.is_none()) {
                Some("required".into())
            } else {
                input.and_then(|i| i.check_value(&f.value).err())
            };
        }
    }

    pub fn is_valid(&self) -> bool {
        self.fields.iter().all(|f| f.error.is_none())
    }

    pub fn env_name(&self) -> &str {
        &self.envs[self.env].0
    }

    pub fn values(&self) -> BTreeMap<String, String> {
        self.fields.iter().map(|f| (f.name.clone(), f.value.clone())).collect()
    }

    pub fn field_mut(&mut self) -> Option<&mut Field> {
        self.focus.checked_sub(1).and_then(|i| self.fields.get_mut(i))
    }

    /// ←/→: the previous or next environment, or choice.
    pub fn cycle(&mut self, forward: bool) {
        let step = |len: usize, i: usize| if forward { (i + 1) % len } else { (i + len - 1) % len };
        if self.focus == 0 {
            if !self.envs.is_empty() {
                self.env = step(self.envs.len(), self.env);
            }
        } else if let Some(f) = self.field_mut()
            && !f.choices.is_empty()
        {
            let at = f.choices.iter().position(|c| c == &f.value);
            let next = match at {
                Some(i) => step(f.choices.len(), i),
                None => 0,
            };
            f.value = f.choices[next].clone();
        }
        self.validate();
    }
}
