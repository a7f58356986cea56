//! `heat_local`: JSON files written by cloud-init / heat-cfntools,
//! shallow-merged in path order.

use super::{CollectError, Entries};
use crate::config::Settings;
use serde_json::Value;

pub fn collect(settings: &Settings) -> Result<Entries, CollectError> {
    let paths = &settings.heat_local.path;
    let mut content: Option<Value> = None;
    for path in paths {
        if !path.exists() {
            continue;
        }
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                log::info!("{}: {e}", path.display());
                continue;
            }
        };
        let value = match super::parse_json(&text) {
            Ok(v) => v,
            Err(e) => {
                log::info!("{} is not valid JSON ({e})", path.display());
                continue;
            }
        };
        content = match content {
            Some(Value::Object(mut acc)) if !acc.is_empty() => match value {
                Value::Object(new) => {
                    acc.extend(new);
                    Some(Value::Object(acc))
                }
                _ => {
                    // the reference crashes in dict.update here
                    log::warn!("{} is not a JSON object; ignored", path.display());
                    Some(Value::Object(acc))
                }
            },
            Some(acc) if crate::pyjson::truthy(&acc) => {
                log::warn!(
                    "{} ignored: the metadata read before it is not a JSON object",
                    path.display()
                );
                Some(acc)
            }
            _ => Some(value),
        };
    }
    match content {
        Some(v) if crate::pyjson::truthy(&v) => Ok(vec![("heat_local".to_string(), v)]),
        _ => {
            let shown: Vec<String> = paths.iter().map(|p| format!("'{}'", p.display())).collect();
            Err(CollectError::NotAvailable(format!(
                "Local metadata not found ([{}])",
                shown.join(", ")
            )))
        }
    }
}

/// The `heat_local` collector: no state of its own.
#[derive(Debug, Default)]
pub struct HeatLocal;

impl super::Collector for HeatLocal {
    fn collect(
        &mut self,
        ctx: &mut super::Context<'_>,
    ) -> Result<super::Entries, super::CollectError> {
        collect(ctx.settings)
    }
}
