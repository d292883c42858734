//! Resolving the routing file's secret references. Environment variables are read here; Secrets
//! Manager (or another store) is a lookup function the shell passes in, so this crate needs no
//! cloud SDK.

use costkit_core::notify::routing::{SecretRef, Setting};
use costkit_core::notify::Secret;
use thiserror::Error;

/// A secret that could not be resolved. Names the reference, never the value.
#[derive(Debug, Error)]
pub enum SecretError {
    /// The environment variable is missing or empty.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The secret store failed or has no such secret.
    #[error("secret `{id}`: {message}")]
    Store {
        /// Secret id.
        id: String,
        /// What failed.
        message: String,
    },
    /// The secret is not a JSON object with the named field.
    #[error("secret `{id}`: no string field `{key}` in its JSON value")]
    MissingKey {
        /// Secret id.
        id: String,
        /// Field name.
        key: String,
    },
}

/// Resolves `r`: environment variables directly, secrets through `lookup(id)` (which returns the
/// secret's string value), picking `key` from its JSON when given.
pub fn resolve(
    r: &SecretRef,
    lookup: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Secret, SecretError> {
    match r {
        SecretRef::Env(name) => std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| Secret::new(v.trim()))
            .ok_or_else(|| SecretError::MissingEnv(name.clone())),
        SecretRef::Secret { id, key } => {
            let value = lookup(id).map_err(|message| SecretError::Store {
                id: id.clone(),
                message,
            })?;
            match key {
                None => Ok(Secret::new(value.trim())),
                Some(k) => serde_json::from_str::<serde_json::Value>(&value)
                    .ok()
                    .and_then(|v| v.get(k).and_then(|x| x.as_str()).map(Secret::new))
                    .ok_or_else(|| SecretError::MissingKey {
                        id: id.clone(),
                        key: k.clone(),
                    }),
            }
        }
    }
}

/// A setting that may be written in the file or given by reference.
pub fn resolve_setting(
    s: &Setting,
    lookup: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Secret, SecretError> {
    match s {
        Setting::Literal(v) => Ok(Secret::new(v.clone())),
        Setting::Ref(r) => resolve(r, lookup),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_and_missing_values() {
        let store = |id: &str| -> Result<String, String> {
            match id {
                "costkit/notify" => Ok(r#"{"slack":"https://hooks.example/x","n":1}"#.into()),
                _ => Err("ResourceNotFoundException".into()),
            }
        };
        let r = SecretRef::Secret {
            id: "costkit/notify".into(),
            key: Some("slack".into()),
        };
        assert_eq!(
            resolve(&r, &store).expect("resolves").expose(),
            "https://hooks.example/x"
        );
        let missing = SecretRef::Secret {
            id: "costkit/notify".into(),
            key: Some("teams".into()),
        };
        let e = resolve(&missing, &store)
            .expect_err("no such field")
            .to_string();
        assert!(e.contains("teams") && !e.contains("hooks.example"), "{e}");
        let gone = SecretRef::Secret {
            id: "other".into(),
            key: None,
        };
        assert!(resolve(&gone, &store)
            .expect_err("no secret")
            .to_string()
            .contains("ResourceNotFound"));
        let env = SecretRef::Env("COSTKIT_TEST_SURELY_UNSET_VAR".into());
        assert!(matches!(
            resolve(&env, &store),
            Err(SecretError::MissingEnv(_))
        ));
    }
}
