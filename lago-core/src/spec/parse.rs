//! From text to a JSON value: JSON first, then YAML (as Lago does), with
//! YAML anchors, aliases and merge keys (`<<`) resolved, and syntax errors
//! turned into located [`SpecError`]s.

use std::path::Path;

use serde_json::{Map, Number, Value};

use super::error::{SpecError, SpecErrorKind};
use super::locate::Pos;
use super::path::KeyPath;
use super::read::Ctx;

/// How deep a YAML document may nest. serde_yaml stops at 128 while parsing;
/// this bounds the recursion of the conversion whatever aliases expand to.
const MAX_DEPTH: usize = 200;

/// The syntax an init file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// The text is valid JSON.
    Json,
    /// The text is YAML (and not JSON).
    Yaml,
}

/// Parses `text` as JSON, or else as YAML; for YAML, resolves merge keys.
/// Duplicate keys must have been checked by the caller (JSON parsers keep
/// the last value silently).
pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<(Value, Syntax), SpecError> {
    let json_err = match serde_json::from_str::<Value>(text) {
        Ok(value) => return Ok((value, Syntax::Json)),
        Err(err) => err,
    };
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(yaml) => {
            let mut value = to_json(yaml, &KeyPath::root(), 0, ctx)?;
            apply_merges(&mut value, &KeyPath::root(), ctx)?;
            Ok((value, Syntax::Yaml))
        }
        Err(_) if is_json_file(&ctx.file) => Err(json_syntax(&ctx.file, &json_err)),
        Err(yaml_err) => Err(yaml_syntax(&ctx.file, &yaml_err)),
    }
}

fn is_json_file(file: &Path) -> bool {
    file.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
}

fn json_syntax(file: &Path, err: &serde_json::Error) -> SpecError {
    let pos = (err.line() > 0).then(|| Pos {
        line: err.line(),
        column: err.column().max(1),
    });
    // serde_json's Display repeats the position: keep only the message.
    let text = err.to_string();
    let message = text
        .strip_suffix(&format!(" at line {} column {}", err.line(), err.column()))
        .unwrap_or(&text);
    SpecError::new(
        SpecErrorKind::Syntax,
        file,
        KeyPath::root(),
        format!("JSON syntax error: {message}"),
    )
    .at(pos)
}

fn yaml_syntax(file: &Path, err: &serde_yaml::Error) -> SpecError {
    let text = err.to_string();
    let (pos, message) = match err.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            let message = text.replacen(&suffix, "", 1);
            let pos = Pos {
                line: loc.line().max(1),
                column: loc.column().max(1),
            };
            (Some(pos), message)
        }
        None => (None, text),
    };
    SpecError::new(
        SpecErrorKind::Syntax,
        file,
        KeyPath::root(),
        format!("YAML syntax error: {message}"),
    )
    .at(pos)
}

/// The text of a scalar used as a mapping key.
fn key_text(key: serde_yaml::Value) -> Result<String, serde_yaml::Value> {
    match key {
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Null => Ok("null".to_owned()),
        serde_yaml::Value::Tagged(tagged) => key_text(tagged.value),
        other => Err(other),
    }
}

/// Converts a YAML value into JSON: tags are dropped, scalar keys become
/// strings, non-finite floats their YAML text.
fn to_json(
    value: serde_yaml::Value,
    path: &KeyPath,
    depth: usize,
    ctx: &Ctx<'_>,
) -> Result<Value, SpecError> {
    if depth > MAX_DEPTH {
        return Err(ctx.error(
            SpecErrorKind::InvalidValue,
            path,
            format!("the document nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(match value {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                match n.as_f64().and_then(Number::from_f64) {
                    Some(f) => Value::Number(f),
                    None => Value::String(n.to_string()),
                }
            }
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| to_json(item, &path.index(i), depth + 1, ctx))
                .collect::<Result<_, _>>()?,
        ),
        serde_yaml::Value::Mapping(mapping) => {
            let mut map = Map::with_capacity(mapping.len());
            for (key, item) in mapping {
                let key = key_text(key).map_err(|key| {
                    ctx.error(
                        SpecErrorKind::WrongType,
                        path,
                        format!(
                            "a mapping key must be a string, number or boolean, not {}",
                            match key {
                                serde_yaml::Value::Sequence(_) => "a list",
                                _ => "a mapping",
                            }
                        ),
                    )
                })?;
                let item = to_json(item, &path.key(&key), depth + 1, ctx)?;
                map.insert(key, item);
            }
            Value::Object(map)
        }
        serde_yaml::Value::Tagged(tagged) => to_json(tagged.value, path, depth, ctx)?,
    })
}

/// Resolves YAML merge keys (`<<: *base`, `<<: [*a, *b]`) everywhere in
/// `value`, innermost first so that merged mappings are complete.
///
/// Keys written in the mapping win over merged ones; among several merged
/// mappings the first listed wins. Key order follows PyYAML: merged keys
/// first (the last listed mapping's first), then the mapping's own keys.
fn apply_merges(value: &mut Value, path: &KeyPath, ctx: &Ctx<'_>) -> Result<(), SpecError> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                apply_merges(item, &path.index(i), ctx)?;
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                apply_merges(item, &path.key(key), ctx)?;
            }
            let Some(merge) = map.shift_remove("<<") else {
                return Ok(());
            };
            let merge_path = path.key("<<");
            let sources = match merge {
                Value::Object(source) => vec![source],
                Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::Object(source) => Ok(source),
                        other => Err(ctx.wrong_type(
                            &merge_path.index(i),
                            "a mapping to merge (an alias such as *base)",
                            &other,
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => {
                    return Err(ctx.wrong_type(
                        &merge_path,
                        "a mapping or a list of mappings to merge (an alias such as *base)",
                        &other,
                    ));
                }
            };
            let mut merged = Map::new();
            for source in sources.into_iter().rev() {
                for (key, item) in source {
                    merged.insert(key, item);
                }
            }
            for (key, item) in std::mem::take(map) {
                merged.insert(key, item);
            }
            *map = merged;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::spec::locate::Locator;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    fn run(file: &str, text: &str) -> Result<(Value, Syntax), SpecError> {
        let ctx = Ctx {
            file: PathBuf::from(file),
            locator: Locator::build(text),
            lookup: &no_vars,
        };
        parse(text, &ctx)
    }

    #[test]
    fn json_first_then_yaml() {
        let (v, syntax) = run("a.yaml", r#"{"a": [1, 2]}"#).unwrap();
        assert_eq!(syntax, Syntax::Json);
        assert_eq!(v, json!({"a": [1, 2]}));
        let (v, syntax) = run("a.json", "a:\n  - 1\n  - x\n").unwrap();
        assert_eq!(syntax, Syntax::Yaml);
        assert_eq!(v, json!({"a": [1, "x"]}));
    }

    #[test]
    fn yaml_scalars_and_keys() {
        let (v, _) = run(
            "a.yaml",
            "1: one\ntrue: yes\nf: 1.5\ninf: .inf\nneg: -3\nt: !custom {x: 1}\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"1": "one", "true": "yes", "f": 1.5, "inf": ".inf", "neg": -3, "t": {"x": 1}})
        );
    }

    #[test]
    fn complex_keys_are_rejected() {
        let err = run("a.yaml", "m:\n  ? [1, 2]\n  : x\n").unwrap_err();
        assert_eq!(err.kind(), SpecErrorKind::WrongType);
        assert_eq!(err.key_path().to_string(), "m");
        assert_eq!(err.line(), Some(1));
    }

    #[test]
    fn merge_keys_follow_pyyaml() {
        let text = "\
a: &a {x: 1, y: 1}
b: &b {y: 2, z: 2}
one: {<<: *a, x: 9}
two: {<<: [*a, *b], w: 0}
nested: &n {<<: *a, k: 1}
deep: {<<: *n}
";
        let (v, _) = run("a.yaml", text).unwrap();
        assert_eq!(v["one"], json!({"x": 9, "y": 1}));
        assert_eq!(v["two"], json!({"y": 1, "z": 2, "x": 1, "w": 0}));
        let keys: Vec<&String> = v["two"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["y", "z", "x", "w"]);
        assert_eq!(v["deep"], json!({"x": 1, "y": 1, "k": 1}));
    }

    #[test]
    fn bad_merge_values_are_located() {
        let err = run("a.yaml", "m:\n  <<: 3\n").unwrap_err();
        assert_eq!(err.key_path().to_string(), "m.<<");
        assert_eq!(err.kind(), SpecErrorKind::WrongType);
        let err = run("a.yaml", "a: &a [1]\nm:\n  <<: [*a]\n").unwrap_err();
        assert_eq!(err.key_path().to_string(), "m.<<[0]");
    }

    #[test]
    fn yaml_syntax_errors_have_line_and_column() {
        let err = run("init.yaml", "domains:\n  vm0: [1,\n  x: 2\n").unwrap_err();
        assert_eq!(err.kind(), SpecErrorKind::Syntax);
        assert!(err.line().is_some());
        let shown = err.to_string();
        assert!(
            shown.starts_with("init.yaml:4:1: YAML syntax error: did not find expected ',' or ']'"),
            "{shown}"
        );
    }

    #[test]
    fn json_files_report_json_errors() {
        let err = run("init.json", "{\"a\": 1,\n \"b\": [}").unwrap_err();
        assert_eq!(err.kind(), SpecErrorKind::Syntax);
        assert_eq!(err.line(), Some(2));
        assert!(err.problem().starts_with("JSON syntax error"), "{err}");
        assert!(!err.problem().contains(" at line "), "{err}");
    }
}
