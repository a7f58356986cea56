//! One collection cycle: every configured collector polled in
//! order, and what they gave stored through the cache in one batch, bookkeeping included.
//!
//! A collector that is configured but unavailable this cycle keeps its last good entries in
//! `OS_CONFIG_FILES` (W-C7). See (docs/compatibility.md, "Contract with the caller") and
//! (docs/compatibility.md, "os-collect-config: cache, command and poll loop").

use super::{CollectError, Entries, Polled, State};
use crate::cache::{Cache, SourceKeys};
use crate::config::Settings;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Mutex;

/// Result of one store-mode collection.
#[derive(Debug, Default)]
pub struct Collected {
    /// Keys whose value differs from the committed one (in first-seen order).
    pub changed: Vec<String>,
    /// Every key stored this cycle, in order (duplicates kept, like the reference).
    pub keys: Vec<String>,
    /// Cache paths of `keys`: what `OS_CONFIG_FILES` lists.
    pub paths: Vec<PathBuf>,
    /// Collectors that produced entries, were kept from last time, or were skipped.
    pub report: Vec<(String, SourceOutcome)>,
    /// Origins (`scheme://host:port`) this cycle's successful polls fetched from.
    pub answered: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceOutcome {
    Collected(usize),
    /// Unavailable this cycle; its last good entries were kept.
    Kept(usize),
    Unavailable,
    NotConfigured,
}

impl Collected {
    /// One line for `systemctl status`: how many keys changed, and each source's outcome.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .report
            .iter()
            .map(|(n, o)| match o {
                SourceOutcome::Collected(k) => format!("{n}: {k}"),
                SourceOutcome::Kept(k) => format!("{n}: kept {k}"),
                SourceOutcome::Unavailable => format!("{n}: unavailable"),
                SourceOutcome::NotConfigured => format!("{n}: off"),
            })
            .collect();
        format!("{} changed; {}", self.changed.len(), parts.join(", "))
    }
}

/// What the last settled cycle collected (nothing pending): when a cycle collects exactly the
/// same entries, nothing can have changed and no file needs to be read or written.
#[derive(Debug, Default)]
struct Memo {
    /// Per collector (in `settings.collectors` order): what it contributed.
    sources: Vec<MemoSource>,
    /// The `.heat-agent-sources.json` content the cycle left on disk.
    source_keys: SourceKeys,
    keys: Vec<String>,
    paths: Vec<PathBuf>,
}

#[derive(Debug)]
struct MemoSource {
    entries: Entries,
    /// The entries came from the collector itself (not kept from the cache), so its
    /// [`Polled::Unchanged`] refers to them.
    fresh: bool,
}

/// One collector's contribution to a cycle.
enum Contribution {
    Fresh(Entries),
    Unchanged,
    Kept(Entries),
    Nothing,
}

impl Memo {
    /// This cycle contributed exactly what the memo's cycle did, source by source.
    fn matches(&self, contributions: &[Contribution]) -> bool {
        self.sources.len() == contributions.len()
            && self
                .sources
                .iter()
                .zip(contributions)
                .all(|(m, c)| match c {
                    Contribution::Unchanged => m.fresh,
                    Contribution::Fresh(e) => m.fresh && &m.entries == e,
                    Contribution::Kept(e) => !m.fresh && &m.entries == e,
                    Contribution::Nothing => !m.fresh && m.entries.is_empty(),
                })
    }
}

/// Run one collector and log the outcome the way the reference does
/// (docs/compatibility.md, "Contract with the caller").
fn run_collector(
    name: &str,
    settings: &Settings,
    state: &mut State,
    have_previous: bool,
) -> Result<Polled, CollectError> {
    let result = state.poll(name, settings, &settings.cachedir, have_previous);
    match &result {
        Err(CollectError::NotAvailable(msg)) => {
            if !msg.is_empty() {
                log::warn!("{msg}");
            }
            log::warn!("Source [{name}] Unavailable.");
        }
        Err(CollectError::NotConfigured(msg)) => {
            if state.first_unconfigured_listing(name, settings) {
                let why = if msg.is_empty() { "" } else { ": " };
                log::warn!("Collector {name} is listed in collectors but not configured{why}{msg}");
            } else if !msg.is_empty() {
                log::debug!("{msg}");
            }
            log::debug!("Source [{name}] Not configured.");
        }
        Ok(_) => {}
    }
    result
}

/// Print mode: every collector's entries merged into one map (later duplicates replace).
pub fn collect_print(settings: &Settings, state: &mut State) -> Value {
    let mut merged = Map::new();
    for name in &settings.collectors {
        if let Ok(polled) = run_collector(name, settings, state, false) {
            let entries = match polled {
                Polled::Fresh(e) => e,
                Polled::Unchanged => state.unchanged_entries(name, settings, &settings.cachedir),
            };
            for (k, v) in entries {
                merged.insert(k, v);
            }
        }
    }
    Value::Object(merged)
}

/// Store mode across cycles of one process: the collectors with their state, and what the
/// last settled cycle collected.
#[derive(Debug, Default)]
pub struct Cycles {
    state: State,
    memo: Option<Memo>,
}

/// What every collector gave this cycle, before anything is stored.
struct Polls {
    contributions: Vec<Contribution>,
    sources: SourceKeys,
    sources_changed: bool,
}

impl Cycles {
    /// The collectors, with what they kept in `cache` from an earlier process.
    pub fn new(cache: &Cache) -> Cycles {
        let mut state = State::default();
        state.restore(cache);
        Cycles { state, memo: None }
    }

    /// The last cycle's changes stay pending (the command failed): the next cycle must see
    /// them again, so it goes through the cache whatever it collects.
    pub fn forget(&mut self) {
        self.memo = None;
    }

    /// Collect, store each entry, work out what changed. `write_lock` is held
    /// while files are written, so a stop never cuts a write in half.
    pub fn collect_store(
        &mut self,
        settings: &Settings,
        cache: &Cache,
        write_lock: &Mutex<()>,
    ) -> std::io::Result<Collected> {
        let mut out = Collected::default();
        let polls = self.poll_all(settings, cache, &mut out.report);
        out.answered = self.state.take_answered();
        if let Some(m) = self
            .memo
            .as_mut()
            .filter(|m| !polls.sources_changed && m.matches(&polls.contributions))
        {
            m.source_keys = polls.sources;
            out.keys = m.keys.clone();
            out.paths = m.paths.clone();
            return Ok(out);
        }
        // Something differs: the whole cycle goes through the cache.
        let per_source = self.resolve(settings, polls.contributions);
        let entries: Vec<(&str, &Value)> = per_source
            .iter()
            .flat_map(|s| s.entries.iter().map(|(k, v)| (k.as_str(), v)))
            .collect();
        let stored = {
            let _guard = write_lock.lock().unwrap_or_else(|e| e.into_inner());
            let sources = polls.sources_changed.then_some(&polls.sources);
            cache.write_cycle(&entries, self.state.bookkeeping(cache), sources)?
        };
        for ((key, _), (path, changed)) in entries.iter().zip(stored) {
            if changed && !out.changed.iter().any(|c| c == key) {
                out.changed.push(key.to_string());
            }
            out.keys.push(key.to_string());
            out.paths.push(path);
        }
        self.memo = Some(Memo {
            sources: per_source,
            source_keys: polls.sources,
            keys: out.keys.clone(),
            paths: out.paths.clone(),
        });
        Ok(out)
    }

    /// Poll every configured collector, in order.
    fn poll_all(
        &mut self,
        settings: &Settings,
        cache: &Cache,
        report: &mut Vec<(String, SourceOutcome)>,
    ) -> Polls {
        let mut sources = match &mut self.memo {
            Some(m) => std::mem::take(&mut m.source_keys),
            None => cache.source_keys(),
        };
        let mut sources_changed = false;
        let mut contributions = Vec::with_capacity(settings.collectors.len());
        for (i, name) in settings.collectors.iter().enumerate() {
            let have_previous = self
                .memo
                .as_ref()
                .and_then(|m| m.sources.get(i))
                .is_some_and(|s| s.fresh);
            let (outcome, contribution) =
                match run_collector(name, settings, &mut self.state, have_previous) {
                    Ok(polled) => {
                        let keys: Vec<String> = match &polled {
                            Polled::Fresh(e) => e.iter().map(|(k, _)| k.clone()).collect(),
                            Polled::Unchanged => sources.get(name).cloned().unwrap_or_default(),
                        };
                        let outcome = SourceOutcome::Collected(keys.len());
                        if sources.get(name) != Some(&keys) {
                            sources.insert(name.clone(), keys);
                            sources_changed = true;
                        }
                        match polled {
                            Polled::Fresh(e) => (outcome, Contribution::Fresh(e)),
                            Polled::Unchanged => (outcome, Contribution::Unchanged),
                        }
                    }
                    Err(CollectError::NotAvailable(_)) => keep_last(name, &sources, cache),
                    Err(CollectError::NotConfigured(_)) => {
                        sources_changed |= sources.remove(name).is_some();
                        (SourceOutcome::NotConfigured, Contribution::Nothing)
                    }
                };
            report.push((name.clone(), outcome));
            contributions.push(contribution);
        }
        Polls {
            contributions,
            sources,
            sources_changed,
        }
    }

    /// Each contribution as entries: an unchanged source's come from the last cycle (or, on
    /// the first, from the collector's state). Takes the memo: it is rebuilt from these.
    fn resolve(
        &mut self,
        settings: &Settings,
        contributions: Vec<Contribution>,
    ) -> Vec<MemoSource> {
        let previous = self.memo.take();
        let mut per_source = Vec::with_capacity(contributions.len());
        for (i, (name, c)) in settings.collectors.iter().zip(contributions).enumerate() {
            let (entries, fresh) = match c {
                Contribution::Fresh(e) => (e, true),
                Contribution::Unchanged => {
                    let kept = previous
                        .as_ref()
                        .and_then(|m| m.sources.get(i))
                        .map(|s| s.entries.clone());
                    let entries = kept.unwrap_or_else(|| {
                        self.state
                            .unchanged_entries(name, settings, &settings.cachedir)
                    });
                    (entries, true)
                }
                Contribution::Kept(e) => (e, false),
                Contribution::Nothing => (Vec::new(), false),
            };
            per_source.push(MemoSource { entries, fresh });
        }
        per_source
    }
}

/// Keep the last good data of a source that is only temporarily away (W-C7).
fn keep_last(name: &str, sources: &SourceKeys, cache: &Cache) -> (SourceOutcome, Contribution) {
    let kept: Vec<&String> = sources
        .get(name)
        .into_iter()
        .flatten()
        .filter(|k| cache.path(k).exists())
        .collect();
    if kept.is_empty() {
        return (SourceOutcome::Unavailable, Contribution::Nothing);
    }
    log::info!("keeping the last data of [{name}] ({} entries)", kept.len());
    let entries: Entries = kept
        .iter()
        .filter_map(|key| cache.current(key).map(|value| (key.to_string(), value)))
        .collect();
    (SourceOutcome::Kept(kept.len()), Contribution::Kept(entries))
}
