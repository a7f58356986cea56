//! Layering: command line > `OS_<GROUP>__<OPT>` environment > legacy INI files > native TOML
//! files > defaults, resolved option by option into `Settings` with oslo.config's value types
//! and `$` interpolation.

use super::options::{self, Kind, OptDef, OPTIONS};
use super::{interp, ConfigError, Settings};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

macro_rules! config_warn {
    ($($arg:tt)*) => { emit_warning(format!($($arg)*)) };
}

/// A resolved value of one option.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    None,
    Str(String),
    Float(f64),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Val {
    /// Python `str()` of the value, which is what `$name` substitutes (None gives "").
    fn substitution_text(&self) -> String {
        match self {
            Val::None => String::new(),
            Val::Str(s) => s.clone(),
            Val::Float(f) => {
                let r = crate::pyjson::float_repr(*f);
                match r.as_str() {
                    "NaN" => "nan".into(),
                    "Infinity" => "inf".into(),
                    "-Infinity" => "-inf".into(),
                    _ => r,
                }
            }
            Val::Int(i) => i.to_string(),
            Val::Bool(true) => "True".into(),
            Val::Bool(false) => "False".into(),
            Val::List(items) => py_list_repr(items),
        }
    }
}

/// Python `repr()` of a list of strings: `['a', 'b']`.
pub(crate) fn py_list_repr(items: &[String]) -> String {
    let arr = serde_json::Value::Array(
        items
            .iter()
            .map(|s| serde_json::Value::String(s.clone()))
            .collect(),
    );
    crate::pyjson::py_repr(&arr)
}

type Key = (&'static str, &'static str);

thread_local! {
    /// Warnings raised while no logger was listening (the front ends parse the configuration
    /// before they can set up logging, since the log level is part of it).
    static DEFERRED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Log a configuration warning now, or keep it for [`take_deferred`] when logging is not set up.
fn emit_warning(message: String) {
    if log::max_level() >= log::LevelFilter::Warn {
        log::warn!("{message}");
    } else {
        DEFERRED.with(|d| d.borrow_mut().push(message));
    }
}

/// The warnings kept since the last call (see [`emit_warning`]).
pub(crate) fn take_deferred() -> Vec<String> {
    DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()))
}

fn key(def: &OptDef) -> Key {
    (def.group, def.name)
}

/// What one source said about one option.
#[derive(Clone, Debug)]
pub(crate) enum Given {
    /// Text to interpolate and convert (INI, env, command line). Single-valued options use the
    /// last element; multi-valued options use all.
    Raw(Vec<String>),
    /// Already typed (TOML): no interpolation.
    Typed(Val),
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub given: Given,
    /// Where it came from, for error messages ("" = the command line).
    pub source: String,
}

/// One source's values.
#[derive(Default, Debug)]
pub(crate) struct Layer {
    values: HashMap<Key, Entry>,
}

impl Layer {
    /// Record a textual value. Multi-valued options append (empty items are dropped: Heat's
    /// nulls mean "unset"); others replace.
    pub fn push_raw(&mut self, def: &'static OptDef, value: String, source: &str) {
        if def.kind == Kind::Multi {
            if value.is_empty() {
                return;
            }
            match self.values.get_mut(&key(def)) {
                Some(Entry {
                    given: Given::Raw(items),
                    source: s,
                }) => {
                    items.push(value);
                    *s = source.to_string();
                }
                _ => {
                    self.values.insert(
                        key(def),
                        Entry {
                            given: Given::Raw(vec![value]),
                            source: source.to_string(),
                        },
                    );
                }
            }
        } else {
            self.values.insert(
                key(def),
                Entry {
                    given: Given::Raw(vec![value]),
                    source: source.to_string(),
                },
            );
        }
    }

    pub fn set_typed(&mut self, def: &'static OptDef, value: Val, source: &str) {
        self.values.insert(
            key(def),
            Entry {
                given: Given::Typed(value),
                source: source.to_string(),
            },
        );
    }

    fn get(&self, def: &OptDef) -> Option<&Entry> {
        self.values.get(&key(def))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

/// The four layers, highest precedence first.
pub(crate) struct Layers {
    pub cli: Layer,
    pub env: Layer,
    pub ini: Layer,
    pub toml: Layer,
}

const MAX_DEPTH: usize = 32;

pub(crate) struct Resolver<'a> {
    layers: &'a Layers,
    defaults: Settings,
    cache: HashMap<Key, Val>,
    active: Vec<Key>,
}

impl<'a> Resolver<'a> {
    pub fn new(layers: &'a Layers) -> Self {
        Resolver {
            layers,
            defaults: Settings::default(),
            cache: HashMap::new(),
            active: Vec::new(),
        }
    }

    pub fn default_of(&self, def: &OptDef) -> Val {
        match get_field(&self.defaults, def.group, def.name) {
            Some(v) => v,
            None => match def.kind {
                Kind::Bool => Val::Bool(false),
                _ => Val::None,
            },
        }
    }

    /// The effective value of an option.
    pub fn resolve(&mut self, def: &'static OptDef) -> Result<Val, ConfigError> {
        if let Some(v) = self.cache.get(&key(def)) {
            return Ok(v.clone());
        }
        if self.active.contains(&key(def)) || self.active.len() > MAX_DEPTH {
            return Err(ConfigError::config(format!(
                "option [{}] {}: interpolation loop through {}",
                def.group,
                def.name,
                self.active
                    .iter()
                    .map(|(g, n)| format!("[{g}] {n}"))
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )));
        }
        self.active.push(key(def));
        let result = self.resolve_uncached(def);
        self.active.pop();
        let v = result?;
        self.cache.insert(key(def), v.clone());
        Ok(v)
    }

    fn resolve_uncached(&mut self, def: &'static OptDef) -> Result<Val, ConfigError> {
        let layers = self.layers;
        if def.kind == Kind::Multi {
            let cli = layers.cli.get(def);
            let base = [&layers.env, &layers.ini, &layers.toml]
                .into_iter()
                .find_map(|l| l.get(def));
            // The positional collectors on the command line replace; every other multi-valued
            // option concatenates the files' values and then the command line's (oslo).
            let replace = def.group == "DEFAULT" && def.name == "collectors";
            let mut items = Vec::new();
            match (base, cli) {
                (None, None) => return Ok(self.default_of(def)),
                (Some(b), Some(c)) if !replace => {
                    items.extend(self.items(def, b)?);
                    items.extend(self.items(def, c)?);
                }
                (_, Some(c)) => items.extend(self.items(def, c)?),
                (Some(b), None) => items.extend(self.items(def, b)?),
            }
            return Ok(Val::List(items));
        }
        let found = [&layers.cli, &layers.env, &layers.ini, &layers.toml]
            .into_iter()
            .find_map(|l| l.get(def));
        let Some(entry) = found else {
            return Ok(self.default_of(def));
        };
        match &entry.given {
            Given::Typed(v) => Ok(v.clone()),
            Given::Raw(values) => {
                let raw = values.last().cloned().unwrap_or_default();
                if def.kind == Kind::Ignored {
                    return Ok(Val::Str(raw));
                }
                let text = self.interpolate(def, &raw, &entry.source)?;
                match convert(def, &text) {
                    Ok(Some(v)) => Ok(v),
                    Ok(None) => Ok(self.default_of(def)),
                    Err(msg) => Err(ConfigError::config(with_source(msg, &entry.source))),
                }
            }
        }
    }

    fn items(&mut self, def: &'static OptDef, entry: &Entry) -> Result<Vec<String>, ConfigError> {
        match &entry.given {
            Given::Typed(Val::List(items)) => Ok(items.clone()),
            Given::Typed(other) => Ok(vec![other.substitution_text()]),
            Given::Raw(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let text = self.interpolate(def, item, &entry.source)?;
                    if !text.is_empty() {
                        out.push(text);
                    }
                }
                Ok(out)
            }
        }
    }

    fn interpolate(
        &mut self,
        def: &'static OptDef,
        raw: &str,
        source: &str,
    ) -> Result<String, ConfigError> {
        let mut inner: Option<ConfigError> = None;
        let result = interp::substitute(raw, &mut |name| {
            let target = match lookup_reference(def.group, name) {
                Ok(t) => t,
                Err(msg) => return Err(msg),
            };
            match self.resolve(target) {
                Ok(v) => Ok(v.substitution_text()),
                Err(e) => {
                    let text = e.message.clone();
                    inner = Some(e);
                    Err(text)
                }
            }
        });
        match result {
            Ok(s) => Ok(s),
            Err(msg) => {
                if let Some(e) = inner {
                    // an error further down the chain already names its option
                    return Err(e);
                }
                // a secret's text must not leak through the name it seemed to reference
                let why = if def.secret {
                    "a $ reference to an unknown option".to_string()
                } else {
                    msg
                };
                Err(ConfigError::config(with_source(
                    format!(
                        "option [{}] {}: {why} (write $$ for a literal $)",
                        def.group, def.name
                    ),
                    source,
                )))
            }
        }
    }
}

/// The option a `$name` / `${group.opt}` reference means, seen from an option of `group`.
fn lookup_reference(group: &str, name: &str) -> Result<&'static OptDef, String> {
    if let Some((g, o)) = name.split_once('.') {
        if !options::group_exists(g) {
            return Err(format!("no such group [{g}]"));
        }
        return options::find(g, o)
            .ok_or_else(|| format!("no such option {name} in group [{group}]"));
    }
    options::find(group, name)
        .or_else(|| options::find("DEFAULT", name))
        .ok_or_else(|| format!("no such option {name} in group [{group}]"))
}

fn with_source(msg: String, source: &str) -> String {
    if source.is_empty() {
        msg
    } else {
        format!("{msg} (from {source})")
    }
}

/// Convert interpolated text to the option's type. `Ok(None)`: empty text for a number or
/// bool, meaning "use the default" (Heat writes nulls as empty values).
pub(crate) fn convert(def: &OptDef, text: &str) -> Result<Option<Val>, String> {
    let name = def.name;
    match def.kind {
        Kind::Str | Kind::Ignored => Ok(Some(if text.is_empty() {
            Val::None
        } else {
            Val::Str(text.to_string())
        })),
        Kind::Uri => {
            if text.is_empty() {
                Ok(Some(Val::None))
            } else if valid_uri(text) {
                Ok(Some(Val::Str(text.to_string())))
            } else {
                // redacted: a malformed signed URL must not put its signature on stderr
                Err(format!(
                    "argument --{name}: Invalid URI value: {}",
                    crate::logging::redact_url(text)
                ))
            }
        }
        Kind::Float => {
            if text.is_empty() {
                return Ok(None);
            }
            parse_py_float(text)
                .map(|f| Some(Val::Float(f)))
                .ok_or_else(|| format!("argument --{name}: Invalid Float value: {text}"))
        }
        Kind::Int => {
            if text.is_empty() {
                return Ok(None);
            }
            parse_py_int(text)
                .map(|i| Some(Val::Int(i)))
                .ok_or_else(|| format!("argument --{name}: Invalid Integer value: {text}"))
        }
        Kind::Bool => {
            if text.is_empty() {
                return Ok(None);
            }
            parse_bool(text)
                .map(|b| Some(Val::Bool(b)))
                .ok_or_else(|| format!("argument --{name}: Invalid Boolean value: {text}"))
        }
        Kind::Multi => Ok(Some(Val::List(vec![text.to_string()]))),
    }
}

/// oslo `Boolean`: true/1/on/yes, false/0/off/no, any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// Python `float()`: surrounding whitespace, a sign, digits with single `_` between them,
/// `inf`/`infinity`/`nan` in any case.
pub(crate) fn parse_py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return t
            .to_ascii_lowercase()
            .parse::<f64>()
            .ok()
            .or(Some(if lower == "nan" {
                f64::NAN
            } else if t.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }));
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'))
    {
        return None;
    }
    let cleaned = strip_digit_underscores(t)?;
    cleaned.parse::<f64>().ok()
}

/// Python `int()` of a string: whitespace, sign, decimal digits with single `_` separators.
pub(crate) fn parse_py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    strip_digit_underscores(t)?.parse::<i64>().ok()
}

/// Remove `_` only where it sits between two digits (Python's grouping rule).
fn strip_digit_underscores(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == '_' {
            let before = i > 0 && chars[i - 1].is_ascii_digit();
            let after = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
            if !(before && after) {
                return None;
            }
        } else {
            out.push(*c);
        }
    }
    Some(out)
}

/// oslo `URI`: `urlparse` must find a scheme and a network location.
pub(crate) fn valid_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut sc = scheme.chars();
    let scheme_ok = sc.next().is_some_and(|c| c.is_ascii_alphabetic())
        && sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return false;
    }
    let Some(after) = rest.strip_prefix("//") else {
        return false;
    };
    let netloc_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    netloc_end > 0
}

// ---------------------------------------------------------------------------------------------
// Settings <-> values

trait FieldVal: Sized + Clone {
    fn to_val(&self) -> Val;
    /// `Val::None` keeps the default for fields that cannot be unset.
    fn from_val(v: Val, default: &Self) -> Self;
}

impl FieldVal for Option<String> {
    fn to_val(&self) -> Val {
        self.clone().map(Val::Str).unwrap_or(Val::None)
    }
    fn from_val(v: Val, _: &Self) -> Self {
        match v {
            Val::None => None,
            other => Some(other.substitution_text()),
        }
    }
}

impl FieldVal for Option<PathBuf> {
    fn to_val(&self) -> Val {
        self.as_ref()
            .map(|p| Val::Str(p.to_string_lossy().into_owned()))
            .unwrap_or(Val::None)
    }
    fn from_val(v: Val, _: &Self) -> Self {
        match v {
            Val::None => None,
            other => Some(PathBuf::from(other.substitution_text())),
        }
    }
}

impl FieldVal for String {
    fn to_val(&self) -> Val {
        Val::Str(self.clone())
    }
    fn from_val(v: Val, default: &Self) -> Self {
        match v {
            Val::None => default.clone(),
            other => other.substitution_text(),
        }
    }
}

impl FieldVal for PathBuf {
    fn to_val(&self) -> Val {
        Val::Str(self.to_string_lossy().into_owned())
    }
    fn from_val(v: Val, default: &Self) -> Self {
        match v {
            Val::None => default.clone(),
            other => PathBuf::from(other.substitution_text()),
        }
    }
}

impl FieldVal for f64 {
    fn to_val(&self) -> Val {
        Val::Float(*self)
    }
    fn from_val(v: Val, default: &Self) -> Self {
        match v {
            Val::Float(f) => f,
            Val::Int(i) => i as f64,
            _ => *default,
        }
    }
}

impl FieldVal for i64 {
    fn to_val(&self) -> Val {
        Val::Int(*self)
    }
    fn from_val(v: Val, default: &Self) -> Self {
        match v {
            Val::Int(i) => i,
            _ => *default,
        }
    }
}

impl FieldVal for bool {
    fn to_val(&self) -> Val {
        Val::Bool(*self)
    }
    fn from_val(v: Val, default: &Self) -> Self {
        match v {
            Val::Bool(b) => b,
            _ => *default,
        }
    }
}

impl FieldVal for Vec<String> {
    fn to_val(&self) -> Val {
        Val::List(self.clone())
    }
    fn from_val(v: Val, default: &Self) -> Self {
        match v {
            Val::List(l) => l,
            _ => default.clone(),
        }
    }
}

impl FieldVal for Vec<PathBuf> {
    fn to_val(&self) -> Val {
        Val::List(
            self.iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
        )
    }
    fn from_val(v: Val, default: &Self) -> Self {
        match v {
            Val::List(l) => l.into_iter().map(PathBuf::from).collect(),
            _ => default.clone(),
        }
    }
}

macro_rules! settings_fields {
    ($($group:literal $name:literal => $($field:ident).+;)*) => {
        fn get_field(s: &Settings, group: &str, name: &str) -> Option<Val> {
            match (group, name) {
                $(($group, $name) => Some(FieldVal::to_val(&s.$($field).+)),)*
                _ => None,
            }
        }
        /// False for an option with no Settings field (a missing row below: see the test
        /// `every_option_reaches_a_settings_field`).
        fn set_field(s: &mut Settings, group: &str, name: &str, v: Val) -> bool {
            match (group, name) {
                $(($group, $name) => {
                    let current = s.$($field).+.clone();
                    s.$($field).+ = FieldVal::from_val(v, &current);
                    true
                })*
                _ => false,
            }
        }
    };
}

settings_fields! {
    "DEFAULT" "command" => command;
    "DEFAULT" "cachedir" => cachedir;
    "DEFAULT" "backup_cachedir" => backup_cachedir;
    "DEFAULT" "collectors" => collectors;
    "DEFAULT" "one_time" => one_time;
    "DEFAULT" "min_polling_interval" => min_polling_interval;
    "DEFAULT" "polling_interval" => polling_interval;
    "DEFAULT" "print_cachedir" => print_cachedir;
    "DEFAULT" "force" => force;
    "DEFAULT" "print_only" => print_only;
    "DEFAULT" "deployment_key" => deployment_key;
    "DEFAULT" "splay" => splay;
    "DEFAULT" "log_file" => log_file;
    "DEFAULT" "log_level" => log_level;
    "ec2" "metadata_url" => ec2.metadata_url;
    "ec2" "timeout" => ec2.timeout;
    "cfn" "metadata_url" => cfn.metadata_url;
    "cfn" "heat_metadata_hint" => cfn.heat_metadata_hint;
    "cfn" "ca_certificate" => cfn.ca_certificate;
    "cfn" "stack_name" => cfn.stack_name;
    "cfn" "path" => cfn.path;
    "cfn" "secret_access_key" => cfn.secret_access_key;
    "cfn" "access_key_id" => cfn.access_key_id;
    "cfn" "deployment_key" => cfn.deployment_key;
    "cfn" "timeout" => cfn.timeout;
    "heat" "user_id" => heat.user_id;
    "heat" "password" => heat.password;
    "heat" "project_id" => heat.project_id;
    "heat" "auth_url" => heat.auth_url;
    "heat" "stack_id" => heat.stack_id;
    "heat" "resource_name" => heat.resource_name;
    "heat" "region_name" => heat.region_name;
    "heat_local" "path" => heat_local.path;
    "local" "path" => local.path;
    "request" "metadata_url" => request.metadata_url;
    "request" "timeout" => request.timeout;
    "zaqar" "user_id" => zaqar.user_id;
    "zaqar" "password" => zaqar.password;
    "zaqar" "project_id" => zaqar.project_id;
    "zaqar" "auth_url" => zaqar.auth_url;
    "zaqar" "queue_id" => zaqar.queue_id;
    "zaqar" "region_name" => zaqar.region_name;
    "zaqar" "ca_file" => zaqar.ca_file;
    "zaqar" "use_websockets" => zaqar.use_websockets;
    "zaqar" "ssl_certificate_validation" => zaqar.ssl_certificate_validation;
    "keystone" "cache_dir" => keystone.cache_dir;
    "keystone" "cache_ttl" => keystone.cache_ttl;
    "http" "connect_timeout" => http.connect_timeout;
    "http" "timeout" => http.timeout;
    "http" "ca_file" => http.ca_file;
    "deploy" "hook_timeout" => deploy.hook_timeout;
    "deploy" "rerun_interrupted" => deploy.rerun_interrupted;
    "deploy" "state_dir" => deploy.state_dir;
}

/// Options with no Settings field of their own: `debug` is read in `resolve_into` itself; the
/// oslo.log options are parsed and type-checked like the reference's, and not used (logging is
/// heat-agent's own: `log_level`, `log_file`).
const HANDLED_APART: [(&str, &str); 9] = [
    ("DEFAULT", "debug"),
    ("DEFAULT", "log_config_append"),
    ("DEFAULT", "log_date_format"),
    ("DEFAULT", "log_dir"),
    ("DEFAULT", "use_syslog"),
    ("DEFAULT", "use_journal"),
    ("DEFAULT", "syslog_log_facility"),
    ("DEFAULT", "use_json"),
    ("DEFAULT", "shell_completion"),
];

/// Resolve every option into `base` (whose `config_files` etc. the caller fills).
pub(crate) fn resolve_into(layers: &Layers, base: &mut Settings) -> Result<(), ConfigError> {
    let mut r = Resolver::new(layers);
    for def in OPTIONS {
        if def.kind == Kind::Ignored {
            continue;
        }
        let v = r.resolve(def)?;
        if !set_field(base, def.group, def.name, v)
            && !HANDLED_APART.contains(&(def.group, def.name))
        {
            return Err(ConfigError::config(format!(
                "option [{}] {} has no setting to go to (a heat-agent bug)",
                def.group, def.name
            )));
        }
    }
    // oslo.log's --debug: honoured as a log level (the reference ignores it)
    if base.log_level.is_none() {
        if let Some(debug) = options::find("DEFAULT", "debug") {
            if r.resolve(debug)? == Val::Bool(true) {
                base.log_level = Some("debug".into());
            }
        }
    }
    if let Some(level) = &base.log_level {
        if crate::logging::parse_level(level).is_none() {
            return Err(ConfigError::config(format!(
                "option log_level: unknown level {level:?} (error, warn, info, debug, trace)"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sources

/// The environment layer: `OS_<GROUP>__<OPT>`. Multi-valued options split on whitespace (the
/// reference splits the string into characters, which is useless).
pub(crate) fn env_layer(env: &dyn Fn(&str) -> Option<String>) -> Layer {
    let mut layer = Layer::default();
    for def in OPTIONS {
        if def.kind == Kind::Ignored {
            continue;
        }
        let name = def.env_name();
        if let Some(v) = env(&name) {
            if def.kind == Kind::Multi {
                for item in v.split_whitespace() {
                    layer.push_raw(def, item.to_string(), &format!("environment {name}"));
                }
            } else {
                layer.push_raw(def, v, &format!("environment {name}"));
            }
        }
    }
    layer
}

/// Read one legacy INI file into `layer` (later files override, multi values append).
pub(crate) fn read_ini(path: &Path, layer: &mut Layer) -> Result<(), ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::config(format!(
            "Failed to read config file {}: {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        ConfigError::config(format!(
            "Failed to parse {}: not valid UTF-8",
            path.display()
        ))
    })?;
    apply_ini_text(&text, &path.display().to_string(), layer)
}

pub(crate) fn apply_ini_text(
    text: &str,
    source: &str,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let assignments = super::ini::parse(text)
        .map_err(|e| ConfigError::config(format!("Failed to parse {source}: {e}")))?;
    let mut warned_sections = HashSet::new();
    for a in assignments {
        let group = a.section.as_str();
        let known_group = group == "DEFAULT" || options::LEGACY_GROUPS.contains(&group);
        if !known_group {
            if warned_sections.insert(a.section.clone()) {
                if group == "default" {
                    config_warn!(
                        "{source}: section [default] ignored: the DEFAULT section name is case-sensitive, write [DEFAULT]"
                    );
                } else {
                    config_warn!("{source}: unknown section [{group}] ignored");
                }
            }
            continue;
        }
        match options::find(group, &a.key) {
            Some(def) if !def.is_native() => layer.push_raw(def, a.value, source),
            Some(_) => config_warn!(
                "{source}: option [{group}] {} is a heat-agent option: set it in /etc/heat-agent/config.toml; ignored",
                a.key
            ),
            None => {
                let underscored = a.key.replace('-', "_");
                if underscored != a.key && options::find(group, &underscored).is_some() {
                    config_warn!(
                        "{source}: unknown option [{group}] {} ignored: option names use underscores, write {underscored}",
                        a.key
                    );
                } else {
                    config_warn!("{source}: unknown option [{group}] {} ignored", a.key);
                }
            }
        }
    }
    Ok(())
}

/// The native TOML files: `<dir>/config.toml`, then `<dir>/config.d/*.toml` in name order.
pub(crate) fn native_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![dir.join("config.toml")];
    files.extend(sorted_with_ext(&dir.join("config.d"), "toml"));
    files
}

/// Files of `dir` ending in `.<ext>`, sorted by name (none when `dir` cannot be read).
pub(crate) fn sorted_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let suffix = format!(".{ext}");
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&suffix) && n.len() > suffix.len())
                && p.is_file()
        })
        .collect();
    files.sort();
    files
}

/// Read the native TOML files that exist into `layer` (later files win key by key).
pub(crate) fn read_native(dir: &Path, layer: &mut Layer) -> Result<(), ConfigError> {
    for file in native_files(dir) {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(ConfigError::config(format!(
                    "{}: cannot read: {e}",
                    file.display()
                )))
            }
        };
        apply_toml_text(&text, &file.display().to_string(), layer)?;
    }
    Ok(())
}

pub(crate) fn apply_toml_text(
    text: &str,
    source: &str,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map(|before| before.matches('\n').count() + 1);
        let msg = e.message().replace('\n', " ");
        match line {
            Some(l) => ConfigError::config(format!("{source}: line {l}: {msg}")),
            None => ConfigError::config(format!("{source}: {msg}")),
        }
    })?;
    for (k, v) in &table {
        match v {
            toml::Value::Table(t) if options::find("DEFAULT", k).is_none() => {
                let known = options::LEGACY_GROUPS.iter().copied().find(|g| g == k);
                let Some(group) = known.or_else(|| options::native_group(k)) else {
                    config_warn!("{source}: unknown table [{k}] ignored");
                    continue;
                };
                for (ok, ov) in t {
                    toml_option(group, ok, ov, source, layer)?;
                }
            }
            _ => toml_option("DEFAULT", k, v, source, layer)?,
        }
    }
    Ok(())
}

fn toml_option(
    group: &str,
    name: &str,
    v: &toml::Value,
    source: &str,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let dotted = if group == "DEFAULT" {
        name.to_string()
    } else {
        format!("{group}.{name}")
    };
    let Some(def) = options::find(group, name) else {
        config_warn!("{source}: unknown key {dotted} ignored");
        return Ok(());
    };
    let wrong = |expected: &str| {
        ConfigError::config(format!(
            "{source}: key {dotted}: expected {expected}, found {}",
            v.type_str()
        ))
    };
    let val = match (def.kind, v) {
        (Kind::Str | Kind::Ignored, toml::Value::String(s)) => {
            if s.is_empty() {
                Val::None
            } else {
                Val::Str(s.clone())
            }
        }
        (Kind::Str | Kind::Ignored, _) => return Err(wrong("a string")),
        (Kind::Uri, toml::Value::String(s)) => {
            if s.is_empty() {
                Val::None
            } else if valid_uri(s) {
                Val::Str(s.clone())
            } else {
                return Err(ConfigError::config(format!(
                    "{source}: key {dotted}: Invalid URI value: {s}"
                )));
            }
        }
        (Kind::Uri, _) => return Err(wrong("a URL string")),
        (Kind::Float, toml::Value::Float(f)) => Val::Float(*f),
        (Kind::Float, toml::Value::Integer(i)) => Val::Float(*i as f64),
        (Kind::Float, _) => return Err(wrong("a number")),
        (Kind::Int, toml::Value::Integer(i)) => Val::Int(*i),
        (Kind::Int, _) => return Err(wrong("an integer")),
        (Kind::Bool, toml::Value::Boolean(b)) => Val::Bool(*b),
        (Kind::Bool, _) => return Err(wrong("true or false")),
        (Kind::Multi, toml::Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::String(s) => out.push(s.clone()),
                    _ => return Err(wrong("an array of strings")),
                }
            }
            Val::List(out)
        }
        (Kind::Multi, toml::Value::String(s)) => Val::List(vec![s.clone()]),
        (Kind::Multi, _) => return Err(wrong("an array of strings")),
    };
    if def.name == "log_level" {
        if let Val::Str(l) = &val {
            if crate::logging::parse_level(l).is_none() {
                return Err(ConfigError::config(format!(
                    "{source}: key {dotted}: unknown level {l:?} (error, warn, info, debug, trace)"
                )));
            }
        }
    }
    layer.set_typed(def, val, source);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One declaration per option: every row of `OPTIONS` (but the ignored ones and those
    /// handled apart) reaches a Settings field, both ways.
    #[test]
    fn every_option_reaches_a_settings_field() {
        let defaults = Settings::default();
        let mut missing = Vec::new();
        for def in OPTIONS {
            if def.kind == Kind::Ignored || HANDLED_APART.contains(&(def.group, def.name)) {
                continue;
            }
            match get_field(&defaults, def.group, def.name) {
                Some(v) => assert!(set_field(&mut Settings::default(), def.group, def.name, v)),
                None => missing.push(format!("[{}] {}", def.group, def.name)),
            }
        }
        assert!(missing.is_empty(), "options with no field: {missing:?}");
        assert!(!set_field(
            &mut Settings::default(),
            "DEFAULT",
            "nope",
            Val::None
        ));
    }

    fn empty_layers() -> Layers {
        Layers {
            cli: Layer::default(),
            env: Layer::default(),
            ini: Layer::default(),
            toml: Layer::default(),
        }
    }

    fn resolved(layers: &Layers) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        resolve_into(layers, &mut s)?;
        Ok(s)
    }

    #[test]
    fn defaults_round_trip_through_the_table() {
        let s = resolved(&empty_layers()).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn float_parsing_follows_python() {
        assert_eq!(parse_py_float(" 1.5 "), Some(1.5));
        assert_eq!(parse_py_float("+2"), Some(2.0));
        assert_eq!(parse_py_float("1_000.5"), Some(1000.5));
        assert_eq!(parse_py_float("1e3"), Some(1000.0));
        assert_eq!(parse_py_float("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_py_float("nan").unwrap().is_nan());
        assert_eq!(parse_py_float("abc"), None);
        assert_eq!(parse_py_float("1__0"), None);
        assert_eq!(parse_py_float("_1"), None);
        assert_eq!(parse_py_float(""), None);
        assert_eq!(parse_py_float("0x10"), None);
    }

    #[test]
    fn int_parsing_follows_python() {
        assert_eq!(parse_py_int(" 42 "), Some(42));
        assert_eq!(parse_py_int("-7"), Some(-7));
        assert_eq!(parse_py_int("1_800"), Some(1800));
        assert_eq!(parse_py_int("1.5"), None);
        assert_eq!(parse_py_int("x"), None);
    }

    #[test]
    fn bool_words() {
        for t in ["true", "TRUE", "1", "on", "Yes"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "0", "OFF", "no"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn uri_needs_scheme_and_host() {
        assert!(valid_uri("http://127.0.0.1:8000/v1/"));
        assert!(valid_uri("https://h"));
        assert!(valid_uri("ws://h?x"));
        assert!(!valid_uri("foo"));
        assert!(!valid_uri("http:foo"));
        assert!(!valid_uri("http:///path"));
        assert!(!valid_uri("1http://h"));
        assert!(!valid_uri("://h"));
    }

    #[test]
    fn conversion_errors_have_the_reference_text() {
        let splay = options::find("DEFAULT", "splay").unwrap();
        assert_eq!(
            convert(splay, "abc").unwrap_err(),
            "argument --splay: Invalid Float value: abc"
        );
        let url = options::find("cfn", "metadata_url").unwrap();
        assert_eq!(
            convert(url, "foo").unwrap_err(),
            "argument --metadata_url: Invalid URI value: foo"
        );
        let one_time = options::find("DEFAULT", "one_time").unwrap();
        assert_eq!(
            convert(one_time, "maybe").unwrap_err(),
            "argument --one_time: Invalid Boolean value: maybe"
        );
        let ttl = options::find("keystone", "cache_ttl").unwrap();
        assert_eq!(
            convert(ttl, "1.5").unwrap_err(),
            "argument --cache_ttl: Invalid Integer value: 1.5"
        );
    }

    #[test]
    fn substitution_text_is_python_str() {
        assert_eq!(Val::Float(10.0).substitution_text(), "10.0");
        assert_eq!(Val::Bool(true).substitution_text(), "True");
        assert_eq!(Val::None.substitution_text(), "");
        assert_eq!(
            Val::List(vec!["a".into(), "b".into()]).substitution_text(),
            "['a', 'b']"
        );
    }

    #[test]
    fn interpolation_uses_same_group_then_default_and_typed_values() {
        let mut layers = empty_layers();
        apply_ini_text(
            "[DEFAULT]\ncommand = $cachedir\n[cfn]\nstack_name = $cachedir-$timeout\n",
            "t.conf",
            &mut layers.ini,
        )
        .unwrap();
        let s = resolved(&layers).unwrap();
        assert_eq!(s.command.as_deref(), Some("/var/lib/os-collect-config"));
        assert_eq!(
            s.cfn.stack_name.as_deref(),
            Some("/var/lib/os-collect-config-10.0")
        );
    }

    #[test]
    fn interpolation_reaches_other_groups_and_none_is_empty() {
        let mut layers = empty_layers();
        apply_ini_text(
            "[DEFAULT]\ncommand = a ${cfn.stack_name} [$heat.user_id]\n[cfn]\nstack_name = s\n",
            "t.conf",
            &mut layers.ini,
        )
        .unwrap();
        assert_eq!(
            resolved(&layers).unwrap().command.as_deref(),
            Some("a s []")
        );
    }

    #[test]
    fn interpolation_errors_name_the_option_and_file() {
        let mut layers = empty_layers();
        apply_ini_text(
            "[heat]\npassword = abc$def\n",
            "/etc/x.conf",
            &mut layers.ini,
        )
        .unwrap();
        let e = resolved(&layers).unwrap_err();
        assert_eq!(e.exit_code, 1);
        assert_eq!(
            e.message,
            "option [heat] password: a $ reference to an unknown option (write $$ for a literal $) (from /etc/x.conf)"
        );
        let mut layers = empty_layers();
        apply_ini_text(
            "[heat]\nuser_id = abc$def\n",
            "/etc/x.conf",
            &mut layers.ini,
        )
        .unwrap();
        assert_eq!(
            resolved(&layers).unwrap_err().message,
            "option [heat] user_id: no such option def in group [heat] (write $$ for a literal $) (from /etc/x.conf)"
        );
        let mut layers = empty_layers();
        apply_ini_text("[DEFAULT]\ncommand = ${nope.x}\n", "f", &mut layers.ini).unwrap();
        assert!(resolved(&layers)
            .unwrap_err()
            .message
            .contains("no such group [nope]"));
    }

    #[test]
    fn interpolation_loop_is_an_error_not_a_stack_overflow() {
        let mut layers = empty_layers();
        apply_ini_text(
            "[DEFAULT]\ncommand = $cachedir\ncachedir = $command\n",
            "f",
            &mut layers.ini,
        )
        .unwrap();
        assert!(resolved(&layers)
            .unwrap_err()
            .message
            .contains("interpolation loop"));
    }

    #[test]
    fn empty_values_mean_unset() {
        let mut layers = empty_layers();
        apply_ini_text(
            "[cfn]\nmetadata_url =\nstack_name =\npath =\ntimeout =\n[zaqar]\nuse_websockets =\n",
            "f",
            &mut layers.ini,
        )
        .unwrap();
        assert_eq!(layers.ini.len(), 4, "empty multi item dropped");
        let s = resolved(&layers).unwrap();
        assert_eq!(s.cfn, Settings::default().cfn);
        assert!(!s.zaqar.use_websockets);
    }

    #[test]
    fn toml_types_are_checked() {
        let mut layer = Layer::default();
        let e = apply_toml_text(
            "[cfn]\ntimeout = \"x\"\n",
            "/etc/heat-agent/config.toml",
            &mut layer,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "/etc/heat-agent/config.toml: key cfn.timeout: expected a number, found string"
        );
        let e = apply_toml_text("collectors = [1]\n", "c.toml", &mut layer).unwrap_err();
        assert_eq!(
            e.message,
            "c.toml: key collectors: expected an array of strings, found array"
        );
        let e = apply_toml_text("splay = \n", "c.toml", &mut layer).unwrap_err();
        assert!(e.message.starts_with("c.toml: line 1: "), "{}", e.message);
        assert!(!e.message.contains('\n'));
    }
}
