//! TripleO's `99-refresh-completed`: after a refresh whose phases all succeeded, tell Heat the
//! server's configuration is complete. The metadata names where: `completion-handle` (a wait
//! condition handle, PUT) and `completion-signal` (a signal URL, POST); nothing is sent
//! without an `instance-id`. The body is the CloudFormation wait condition document with
//! status SUCCESS. docs/operators.md, "TripleO-specific pieces".

use super::transport::{self, Target, Verb};
use serde_json::{json, Map, Value};

/// Where to report a completed refresh, read from the merged metadata.
#[derive(Debug, PartialEq)]
pub struct Completion {
    pub instance_id: String,
    /// (URL, verb): the handle first, then the signal.
    pub targets: Vec<(String, Verb)>,
}

/// A top-level metadata value as text (`os-apply-config --type raw`); empty when absent or
/// null.
fn raw(metadata: &Map<String, Value>, key: &str) -> String {
    match metadata.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The completion to report, or `None` when the metadata has no `instance-id` or names neither
/// a handle nor a signal.
pub fn from_metadata(metadata: &Map<String, Value>) -> Option<Completion> {
    let instance_id = raw(metadata, "instance-id");
    if instance_id.is_empty() {
        return None;
    }
    let targets: Vec<(String, Verb)> = [
        ("completion-handle", Verb::Put),
        ("completion-signal", Verb::Post),
    ]
    .into_iter()
    .map(|(key, verb)| (raw(metadata, key), verb))
    .filter(|(url, _)| !url.is_empty())
    .collect();
    (!targets.is_empty()).then_some(Completion {
        instance_id,
        targets,
    })
}

/// The wait condition document: SUCCESS, keyed by the instance id.
pub fn body(instance_id: &str) -> Value {
    json!({
        "Status": "SUCCESS",
        "Reason": "Configuration Complete",
        "UniqueId": instance_id,
        "Data": "Finished os-refresh-config.",
    })
}

/// Send the completion to each target once; the first failure is the error (its text names
/// the method and the URL, signatures redacted). Heat answers a completed wait condition
/// with 200; any 2xx is taken as delivered.
pub fn send(agent: &ureq::Agent, completion: &Completion) -> Result<(), String> {
    let payload = body(&completion.instance_id);
    for (url, verb) in &completion.targets {
        let target = Target::Http {
            url: url.clone(),
            verb: *verb,
        };
        let status = transport::send(agent, &target, &payload).map_err(|f| f.message)?;
        log::info!(
            "refresh completion reported to {} (HTTP {status})",
            crate::logging::redact_url(url)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn needs_an_instance_id_and_a_place_to_report() {
        assert_eq!(
            from_metadata(&md(json!({"completion-handle": "http://h/w"}))),
            None
        );
        assert_eq!(from_metadata(&md(json!({"instance-id": "i-1"}))), None);
        assert_eq!(
            from_metadata(&md(
                json!({"instance-id": "i-1", "completion-handle": null})
            )),
            None
        );
        assert_eq!(
            from_metadata(&md(json!({
                "instance-id": "i-1",
                "completion-signal": "http://h/s",
                "completion-handle": "http://h/w"
            }))),
            Some(Completion {
                instance_id: "i-1".into(),
                targets: vec![
                    ("http://h/w".into(), Verb::Put),
                    ("http://h/s".into(), Verb::Post)
                ],
            })
        );
    }
}
