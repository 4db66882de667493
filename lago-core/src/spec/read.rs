//! Typed reading of JSON values with located errors: [`Ctx`] (the file, its
//! position map and the variable lookup) and [`Obj`] (a mapping whose known
//! keys are taken one by one, leaving the unknown ones as extras).

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::error::{SpecError, SpecErrorKind};
use super::keyword::Keyword;
use super::locate::Locator;
use super::path::KeyPath;
use super::vars::expand_vars;

/// A variable lookup for [`expand_vars`].
pub(crate) type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// What every reader needs to report errors and expand variables.
pub(crate) struct Ctx<'a> {
    pub(crate) file: PathBuf,
    pub(crate) locator: Locator,
    pub(crate) lookup: &'a Lookup<'a>,
}

impl Ctx<'_> {
    /// An error of `kind` about the value at `path`, located in the file.
    pub(crate) fn error(
        &self,
        kind: SpecErrorKind,
        path: &KeyPath,
        problem: impl Into<String>,
    ) -> SpecError {
        SpecError::new(kind, &self.file, path.clone(), problem).at(self.locator.find(path))
    }

    /// A [`SpecErrorKind::WrongType`] error: `expected …, got …`.
    pub(crate) fn wrong_type(&self, path: &KeyPath, expected: &str, found: &Value) -> SpecError {
        self.error(
            SpecErrorKind::WrongType,
            path,
            format!("expected {expected}, got {}", describe(found)),
        )
    }

    /// `text` with its `$VARS` expanded.
    pub(crate) fn expand(&self, text: &str) -> String {
        expand_vars(text, self.lookup)
    }
}

/// A short description of a value for messages: `the string "lots"`,
/// `a list`, `the number 1.5`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("the string {shown:?}")
        }
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// Reads a whole number from an integer, an integral float or a numeric
/// string (Lago converts with Python's `int()`).
fn as_whole(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Some(i128::from(u))
            } else if let Some(i) = n.as_i64() {
                Some(i128::from(i))
            } else {
                let f = n.as_f64()?;
                // Integral floats such as 2048.0; the bound keeps the cast exact.
                (f.fract() == 0.0 && f.abs() < 1e18).then_some(f as i128)
            }
        }
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    }
}

/// Reads a boolean, accepting the YAML 1.1 spellings Lago's YAML loader
/// turns into booleans (`yes`, `on`, `True`, …) when quoted or read by a YAML
/// 1.2 parser, and 0/1.
fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A mapping being read: known keys are taken out, what is left is kept as
/// the extras of the struct being built.
pub(crate) struct Obj<'c, 'a> {
    ctx: &'c Ctx<'a>,
    path: KeyPath,
    map: Map<String, Value>,
}

impl<'c, 'a> Obj<'c, 'a> {
    /// `value` as a mapping, or a wrong-type error naming `what` it should be.
    pub(crate) fn new(
        ctx: &'c Ctx<'a>,
        path: KeyPath,
        value: Value,
        what: &str,
    ) -> Result<Self, SpecError> {
        match value {
            Value::Object(map) => Ok(Self { ctx, path, map }),
            other => Err(ctx.wrong_type(&path, what, &other)),
        }
    }

    /// A mapping already known to be one.
    pub(crate) fn from_map(ctx: &'c Ctx<'a>, path: KeyPath, map: Map<String, Value>) -> Self {
        Self { ctx, path, map }
    }

    /// The context this mapping is read in.
    pub(crate) fn ctx(&self) -> &'c Ctx<'a> {
        self.ctx
    }

    /// The path of this mapping.
    pub(crate) fn path(&self) -> &KeyPath {
        &self.path
    }

    /// The path of `key` in this mapping.
    pub(crate) fn at(&self, key: &str) -> KeyPath {
        self.path.key(key)
    }

    /// Takes `key` out; a `null` value (an empty YAML value) counts as absent.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        match self.map.shift_remove(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    /// Takes a string.
    pub(crate) fn string(&mut self, key: &str) -> Result<Option<String>, SpecError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.ctx.wrong_type(&self.at(key), "a string", &other)),
        }
    }

    /// Takes a string naming one of a fixed set of values: `parse` reads
    /// it, `valid` lists the values for the message when it does not.
    pub(crate) fn one_of<T>(
        &mut self,
        key: &str,
        valid: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, SpecError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        match parse(&text) {
            Some(v) => Ok(Some(v)),
            None => Err(self
                .ctx
                .error(
                    SpecErrorKind::InvalidValue,
                    &self.at(key),
                    format!("unknown value {text:?}"),
                )
                .valid(valid.to_string())),
        }
    }

    /// Takes a string, or a number or boolean written without quotes (kept
    /// as its text, e.g. `root-password: 123456`).
    pub(crate) fn text(&mut self, key: &str) -> Result<Option<String>, SpecError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.ctx.wrong_type(&self.at(key), "a string", &other)),
        }
    }

    /// Takes a string that must be present.
    pub(crate) fn required_string(&mut self, key: &str, valid: &str) -> Result<String, SpecError> {
        match self.string(key)? {
            Some(s) => Ok(s),
            None => Err(self.missing(key, valid)),
        }
    }

    /// A missing-key error for `key`, pointing at this mapping.
    pub(crate) fn missing(&self, key: &str, valid: &str) -> SpecError {
        self.ctx
            .error(
                SpecErrorKind::MissingKey,
                &self.at(key),
                format!("missing required key '{key}'"),
            )
            .valid(valid)
    }

    /// Takes a whole number in `min..=max`, from an integer or a numeric
    /// string; `what` describes it for messages (`a whole number of MiB`).
    pub(crate) fn whole(
        &mut self,
        key: &str,
        min: u64,
        max: u64,
        what: &str,
    ) -> Result<Option<u64>, SpecError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let path = self.at(key);
        let Some(n) = as_whole(&value) else {
            return Err(self.ctx.wrong_type(&path, what, &value));
        };
        match u64::try_from(n) {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self
                .ctx
                .error(
                    SpecErrorKind::InvalidValue,
                    &path,
                    format!("{n} is out of range"),
                )
                .valid(format!("{what} from {min} to {max}"))),
        }
    }

    /// Takes a boolean (`true`/`false`, also `yes`/`no`, `on`/`off`, the
    /// strings `"True"`/`"true"`, and 0/1).
    pub(crate) fn boolean(&mut self, key: &str) -> Result<Option<bool>, SpecError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        match as_bool(&value) {
            Some(b) => Ok(Some(b)),
            None => Err(self
                .ctx
                .wrong_type(&self.at(key), "a boolean (true or false)", &value)),
        }
    }

    /// Takes one of the words of keyword `K`; `what` names it for messages
    /// (`disk type` gives `unknown disk type 'foo'`).
    pub(crate) fn keyword<K: Keyword>(
        &mut self,
        key: &str,
        what: &str,
    ) -> Result<Option<K>, SpecError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let path = self.at(key);
        let Value::String(text) = &value else {
            return Err(self.ctx.wrong_type(
                &path,
                &format!("one of: {}", K::valid_list()),
                &value,
            ));
        };
        match K::from_name(text) {
            Some(k) => Ok(Some(k)),
            None => Err(self
                .ctx
                .error(
                    SpecErrorKind::InvalidValue,
                    &path,
                    format!("unknown {what} '{text}'"),
                )
                .valid(K::valid_list())),
        }
    }

    /// Takes a list.
    pub(crate) fn list(&mut self, key: &str, what: &str) -> Result<Option<Vec<Value>>, SpecError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.ctx.wrong_type(&self.at(key), what, &other)),
        }
    }

    /// Takes a mapping.
    pub(crate) fn map(
        &mut self,
        key: &str,
        what: &str,
    ) -> Result<Option<Map<String, Value>>, SpecError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.ctx.wrong_type(&self.at(key), what, &other)),
        }
    }

    /// Takes a list of strings.
    pub(crate) fn string_list(&mut self, key: &str) -> Result<Option<Vec<String>>, SpecError> {
        let Some(items) = self.list(key, "a list of strings")? else {
            return Ok(None);
        };
        let path = self.at(key);
        string_items(self.ctx, &path, items).map(Some)
    }

    /// The keys not taken: the extras of the struct being built.
    pub(crate) fn finish(self) -> Map<String, Value> {
        self.map
    }
}

/// Every item of `items` as a string, or a wrong-type error at `path[i]`.
pub(crate) fn string_items(
    ctx: &Ctx<'_>,
    path: &KeyPath,
    items: Vec<Value>,
) -> Result<Vec<String>, SpecError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s),
            other => Err(ctx.wrong_type(&path.index(i), "a string", &other)),
        })
        .collect()
}

/// Checks that `name` (of a VM, network or disk) can be used in file names,
/// libvirt names and DNS names: not empty, no `/`, no control characters,
/// not `.` or `..`.
pub(crate) fn check_name(
    ctx: &Ctx<'_>,
    path: &KeyPath,
    name: &str,
    what: &str,
) -> Result<(), SpecError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.chars().any(|c| c == '/' || c.is_control());
    if bad {
        return Err(ctx
            .error(
                SpecErrorKind::InvalidValue,
                path,
                format!("{what} name {name:?} cannot be used"),
            )
            .valid("a non-empty name without '/' or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            file: PathBuf::from("t.yaml"),
            locator: Locator::default(),
            lookup: &no_vars,
        }
    }

    #[test]
    fn whole_numbers_from_ints_floats_and_strings() {
        let ctx = ctx();
        let mut obj = Obj::new(
            &ctx,
            KeyPath::root(),
            json!({"a": 2, "b": "3", "c": 4.0, "d": " 5 ", "e": 1.5, "f": "x", "g": -1}),
            "",
        )
        .unwrap();
        assert_eq!(obj.whole("a", 0, 9, "n").unwrap(), Some(2));
        assert_eq!(obj.whole("b", 0, 9, "n").unwrap(), Some(3));
        assert_eq!(obj.whole("c", 0, 9, "n").unwrap(), Some(4));
        assert_eq!(obj.whole("d", 0, 9, "n").unwrap(), Some(5));
        assert_eq!(obj.whole("zz", 0, 9, "n").unwrap(), None);
        let e = obj.whole("e", 0, 9, "n").unwrap_err();
        assert_eq!(e.kind(), SpecErrorKind::WrongType);
        assert_eq!(e.problem(), "expected n, got the number 1.5");
        let f = obj.whole("f", 0, 9, "n").unwrap_err();
        assert_eq!(f.problem(), "expected n, got the string \"x\"");
        let g = obj.whole("g", 0, 9, "n").unwrap_err();
        assert_eq!(g.kind(), SpecErrorKind::InvalidValue);
    }

    #[test]
    fn booleans_in_many_spellings() {
        let ctx = ctx();
        let mut obj = Obj::new(
            &ctx,
            KeyPath::root(),
            json!({"a": true, "b": "True", "c": "no", "d": 0, "e": "maybe"}),
            "",
        )
        .unwrap();
        assert_eq!(obj.boolean("a").unwrap(), Some(true));
        assert_eq!(obj.boolean("b").unwrap(), Some(true));
        assert_eq!(obj.boolean("c").unwrap(), Some(false));
        assert_eq!(obj.boolean("d").unwrap(), Some(false));
        assert!(obj.boolean("e").is_err());
    }

    #[test]
    fn extras_keep_order_and_nulls_are_absent() {
        let ctx = ctx();
        let mut obj = Obj::new(
            &ctx,
            KeyPath::root(),
            json!({"z": 1, "known": null, "a": 2, "m": 3}),
            "",
        )
        .unwrap();
        assert_eq!(obj.string("known").unwrap(), None);
        let keys: Vec<String> = obj.finish().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn names_are_checked() {
        let ctx = ctx();
        for bad in ["", ".", "..", "a/b", "a\nb"] {
            assert!(
                check_name(&ctx, &KeyPath::root(), bad, "VM").is_err(),
                "{bad:?}"
            );
        }
        for good in ["vm0", "engine-4.3", "host_1"] {
            assert!(check_name(&ctx, &KeyPath::root(), good, "VM").is_ok());
        }
    }

    #[test]
    fn describes_values() {
        assert_eq!(describe(&json!(null)), "nothing (null)");
        assert_eq!(describe(&json!([1])), "a list");
        assert_eq!(describe(&json!({})), "a mapping");
        assert_eq!(describe(&json!(true)), "the boolean true");
        let long = "x".repeat(50);
        assert!(describe(&json!(long)).ends_with("…\""));
    }
}
