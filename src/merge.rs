//! Deployment explosion: a collector's metadata plus one entry per `os-apply-config` /
//! `Heat::Ungrouped` deployment, named after the deployment
//! (docs/compatibility.md, "os-collect-config: collectors and deployment explosion").

use serde_json::Value;

/// What a collector returns: `(output key, JSON value)` pairs in order (duplicates kept, like
/// the reference; the later one wins when merged).
pub type Entries = Vec<(String, Value)>;

const APPLY_GROUPS: [&str; 2] = ["os-apply-config", "Heat::Ungrouped"];

/// `[(collector_name, metadata), (deployment name, deployment config), ...]`. Warnings
/// (`Deployment-key <k> was found but does not contain a list.`, `No name found for a
/// deployment under <k>.`, malformed entries) are logged; nothing here panics or fails.
pub fn merged_list_from_content(
    metadata: Value,
    deployment_keys: &[String],
    collector_name: &str,
) -> Entries {
    let (entries, warnings) = explode(metadata, deployment_keys, collector_name);
    for w in warnings {
        log::warn!("{w}");
    }
    entries
}

/// [`merged_list_from_content`] returning its warnings instead of logging them.
pub fn explode(
    metadata: Value,
    deployment_keys: &[String],
    collector_name: &str,
) -> (Entries, Vec<String>) {
    let mut entries: Entries = Vec::new();
    let mut warnings = Vec::new();
    if let Value::Object(map) = &metadata {
        for key in deployment_keys {
            let Some(deployments) = map.get(key) else {
                continue;
            };
            let Value::Array(list) = deployments else {
                warnings.push(format!(
                    "Deployment-key {key} was found but does not contain a list."
                ));
                continue;
            };
            for deployment in list {
                // W-C21: the reference applies substring semantics to strings and crashes
                // on a missing config; we warn and skip the entry.
                let Value::Object(d) = deployment else {
                    warnings.push(format!("Deployment under {key} is not a map; skipped."));
                    continue;
                };
                let Some(name) = d.get("name") else {
                    warnings.push(format!("No name found for a deployment under {key}."));
                    continue;
                };
                let group = match d.get("group") {
                    None => Some("Heat::Ungrouped"),
                    Some(Value::String(g)) => Some(g.as_str()),
                    Some(_) => None,
                };
                if !group.is_some_and(|g| APPLY_GROUPS.contains(&g)) {
                    continue;
                }
                let Value::String(name) = name else {
                    warnings.push(format!(
                        "Deployment name {} under {key} is not a string; skipped.",
                        crate::pyjson::py_repr(name)
                    ));
                    continue;
                };
                let Some(config) = d.get("config") else {
                    warnings.push(format!(
                        "Deployment {name} under {key} has no config; skipped."
                    ));
                    continue;
                };
                if crate::cache::is_reserved_name(name) {
                    warnings.push(format!(
                        "Deployment {name} under {key} is named like one of the agent's own cache files; its config is cached as {}.json",
                        crate::cache::safe_stem(name)
                    ));
                }
                entries.push((name.clone(), config.clone()));
            }
        }
    }
    entries.insert(0, (collector_name.to_string(), metadata));
    (entries, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys() -> Vec<String> {
        vec!["deployments".to_string()]
    }

    /// test_cfn.SOFTWARE_CONFIG_DATA, the fixture the collector integration tests use too.
    pub fn software_config_data() -> Value {
        serde_json::from_str(include_str!(
            "../tests/collectors_support/software_config_data.json"
        ))
        .unwrap()
    }

    #[test]
    fn test_merged_list_from_content() {
        let data = software_config_data();
        let (entries, warnings) = explode(data.clone(), &keys(), "cfn");
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["cfn", "dep-name1", "dep-name2", "dep-name3"]);
        assert_eq!(entries[0].1, data);
        assert_eq!(entries[1].1, json!({"config1": "value1"}));
        assert_eq!(entries[3].1, json!({"config3": "value3"}));
    }

    #[test]
    fn nameless_deployment_warns_and_is_skipped() {
        let data = json!({"deployments": [{"config": {}}, {"name": "a", "config": {"x": 1}}]});
        let (entries, warnings) = explode(data, &keys(), "heat");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].0, "a");
        assert_eq!(
            warnings,
            ["No name found for a deployment under deployments."]
        );
    }

    #[test]
    fn deployments_not_a_list_is_left_alone() {
        let data = json!({"deployments": {"dep-name1": {"config": {}}}});
        let (entries, warnings) = explode(data.clone(), &keys(), "cfn");
        assert_eq!(entries, vec![("cfn".to_string(), data)]);
        assert_eq!(
            warnings,
            ["Deployment-key deployments was found but does not contain a list."]
        );
    }

    #[test]
    fn explicit_null_group_is_not_ungrouped() {
        let data = json!({"deployments": [{"name": "n", "group": null, "config": {}}]});
        let (entries, warnings) = explode(data, &keys(), "heat");
        assert_eq!(entries.len(), 1);
        assert!(warnings.is_empty());
    }

    #[test]
    fn wc21_malformed_entries_are_skipped_with_warning() {
        let data = json!({"deployments": [
            "name", 7, null,
            {"name": "noconfig"},
            {"name": 5, "config": {}},
            {"name": "ok", "config": "text config kept as is"}
        ]});
        let (entries, warnings) = explode(data, &keys(), "request");
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1],
            ("ok".to_string(), json!("text config kept as is"))
        );
        assert_eq!(warnings.len(), 5, "{warnings:?}");
        assert_eq!(
            warnings[3],
            "Deployment noconfig under deployments has no config; skipped."
        );
    }

    #[test]
    fn several_keys_in_order_and_non_map_metadata() {
        let data = json!({"b": [{"name": "b1", "config": 1}], "a": [{"name": "a1", "config": 2}]});
        let ks = vec!["a".to_string(), "b".to_string(), "missing".to_string()];
        let (entries, _) = explode(data, &ks, "zaqar");
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["zaqar", "a1", "b1"]);
        let (entries, _) = explode(json!([1, 2]), &keys(), "zaqar");
        assert_eq!(entries, vec![("zaqar".to_string(), json!([1, 2]))]);
    }
}
