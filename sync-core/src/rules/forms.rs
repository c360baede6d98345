//! Service-report forms: versioned templates and validation of answers against them.
//!
//! Templates are reference data (the server is their authority); answers live in the work-order
//! document keyed by field key, with the template id and version they were given against.

use crate::workorder::FormValue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A versioned form template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormTemplate {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub fields: Vec<FieldDef>,
}

/// One field of a template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub key: String,
    pub label: String,
    pub required: bool,
    pub kind: FieldKind,
}

/// The type of a field and its constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    Text { max_len: usize },
    Integer { min: Option<i64>, max: Option<i64> },
    Number { min: Option<f64>, max: Option<f64> },
    Bool,
    Choice { options: Vec<String> },
}

/// Why an answer is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl FormTemplate {
    /// The definition of `key`.
    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// Check one answer as it is typed (required-ness is checked at completion).
    pub fn check_answer(&self, key: &str, value: &FormValue) -> Result<(), FieldError> {
        let err = |reason: String| FieldError {
            key: key.to_owned(),
            reason,
        };
        let def = self
            .field(key)
            .ok_or_else(|| err(format!("not a field of form {}@{}", self.id, self.version)))?;
        match (&def.kind, value) {
            (FieldKind::Text { max_len }, FormValue::Text(s)) => {
                if s.chars().count() > *max_len {
                    return Err(err(format!("longer than {max_len} characters")));
                }
            }
            (FieldKind::Integer { min, max }, FormValue::Integer(v)) => {
                if min.is_some_and(|m| *v < m) || max.is_some_and(|m| *v > m) {
                    return Err(err(format!("{v} is outside {}", range(min, max))));
                }
            }
            (FieldKind::Number { min, max }, FormValue::Number(v)) => {
                if !v.is_finite() {
                    return Err(err("not a finite number".into()));
                }
                if min.is_some_and(|m| *v < m) || max.is_some_and(|m| *v > m) {
                    return Err(err(format!("{v} is outside {}", range(min, max))));
                }
            }
            (FieldKind::Bool, FormValue::Bool(_)) => {}
            (FieldKind::Choice { options }, FormValue::Choice(c)) => {
                if !options.iter().any(|o| o == c) {
                    return Err(err(format!("{c:?} is not one of {}", options.join(", "))));
                }
            }
            (kind, value) => {
                return Err(err(format!(
                    "expected {}, got {}",
                    kind_name(kind),
                    value_name(value)
                )));
            }
        }
        Ok(())
    }

    /// Check a whole report: every answer valid, every required field answered. Returns every
    /// problem, not just the first, so a form can show them all.
    pub fn validate(&self, answers: &BTreeMap<String, FormValue>) -> Result<(), Vec<FieldError>> {
        let mut errors: Vec<FieldError> = answers
            .iter()
            .filter_map(|(k, v)| self.check_answer(k, v).err())
            .collect();
        for def in self.fields.iter().filter(|f| f.required) {
            let missing = match answers.get(&def.key) {
                None => true,
                Some(FormValue::Text(s)) => s.trim().is_empty(),
                Some(_) => false,
            };
            if missing {
                errors.push(FieldError {
                    key: def.key.clone(),
                    reason: "required".into(),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn range<T: std::fmt::Display>(min: &Option<T>, max: &Option<T>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}..={b}"),
        (Some(a), None) => format!(">= {a}"),
        (None, Some(b)) => format!("<= {b}"),
        (None, None) => "any".into(),
    }
}

fn kind_name(k: &FieldKind) -> &'static str {
    match k {
        FieldKind::Text { .. } => "text",
        FieldKind::Integer { .. } => "an integer",
        FieldKind::Number { .. } => "a number",
        FieldKind::Bool => "yes/no",
        FieldKind::Choice { .. } => "a choice",
    }
}

fn value_name(v: &FormValue) -> &'static str {
    match v {
        FormValue::Text(_) => "text",
        FormValue::Integer(_) => "an integer",
        FormValue::Number(_) => "a number",
        FormValue::Bool(_) => "yes/no",
        FormValue::Choice(_) => "a choice",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn chiller_template() -> FormTemplate {
        FormTemplate {
            id: "chiller-service".into(),
            version: 2,
            name: "Chiller service".into(),
            fields: vec![
                FieldDef {
                    key: "refrigerant_pressure_bar".into(),
                    label: "Refrigerant pressure (bar)".into(),
                    required: true,
                    kind: FieldKind::Number {
                        min: Some(0.0),
                        max: Some(40.0),
                    },
                },
                FieldDef {
                    key: "filters_replaced".into(),
                    label: "Filters replaced".into(),
                    required: true,
                    kind: FieldKind::Integer {
                        min: Some(0),
                        max: Some(12),
                    },
                },
                FieldDef {
                    key: "condition".into(),
                    label: "Condition".into(),
                    required: false,
                    kind: FieldKind::Choice {
                        options: vec!["good".into(), "worn".into(), "failed".into()],
                    },
                },
                FieldDef {
                    key: "remarks".into(),
                    label: "Remarks".into(),
                    required: false,
                    kind: FieldKind::Text { max_len: 10 },
                },
                FieldDef {
                    key: "leak_test_passed".into(),
                    label: "Leak test passed".into(),
                    required: false,
                    kind: FieldKind::Bool,
                },
            ],
        }
    }

    #[test]
    fn valid_report_passes() {
        let t = chiller_template();
        let answers = BTreeMap::from([
            ("refrigerant_pressure_bar".into(), FormValue::Number(12.5)),
            ("filters_replaced".into(), FormValue::Integer(2)),
            ("condition".into(), FormValue::Choice("worn".into())),
            ("leak_test_passed".into(), FormValue::Bool(true)),
        ]);
        assert_eq!(t.validate(&answers), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let t = chiller_template();
        let answers = BTreeMap::from([
            ("refrigerant_pressure_bar".into(), FormValue::Number(55.0)), // out of range
            ("condition".into(), FormValue::Choice("broken".into())),     // not an option
            (
                "remarks".into(),
                FormValue::Text("far too long text".into()),
            ), // too long
            ("leak_test_passed".into(), FormValue::Text("yes".into())),   // wrong type
            ("colour".into(), FormValue::Text("red".into())),             // unknown field
        ]);
        let errors = t.validate(&answers).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "colour",
                "condition",
                "leak_test_passed",
                "refrigerant_pressure_bar",
                "remarks",
                "filters_replaced" // required, missing
            ]
        );
        assert!(errors[3].reason.contains("0..=40"), "{}", errors[3].reason);
        assert_eq!(errors[5].reason, "required");
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        let t = chiller_template();
        assert!(
            t.check_answer("refrigerant_pressure_bar", &FormValue::Number(f64::NAN))
                .is_err()
        );
    }
}
