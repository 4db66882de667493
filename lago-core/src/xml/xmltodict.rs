//! JSON-like values to XML, the way Python's `xmltodict.unparse` does it.
//!
//! Lago documents `cpu_custom` as "a mapping that `xmltodict.unparse` turns
//! into the `<cpu>` element", so users' init files are written in that
//! dialect. The rules, applied to a value rendered as element `name`:
//!
//! - an object: keys starting with `@` are attributes (`"@mode": "custom"`),
//!   the key `#text` is the element's text, every other key is a child
//!   element rendered from its value, in the object's iteration order;
//!   as in xmltodict the text comes after the children;
//! - an array: the element is repeated once per item (nested arrays are
//!   flattened);
//! - a string, number or boolean: an element with that text (`true` /
//!   `false` for booleans, as xmltodict writes them);
//! - null: an empty element.
//!
//! Attribute values are written from strings, numbers and booleans the same
//! way. What xmltodict would turn into broken XML or an exception is skipped
//! with a warning instead: keys that are not XML names, attribute values that
//! are objects or arrays, and null attribute values.

use serde_json::{Map, Value};

use super::writer::{XmlOut, is_xml_name};

/// Writes `value` as one or more elements named `name`.
pub(crate) fn unparse(out: &mut XmlOut, name: &str, value: &Value) {
    unparse_with(out, name, value, None);
}

/// Like [`unparse`]; for an object (or null) value, `extra` writes further
/// child elements after the object's own children. It must write at least
/// one element.
pub(crate) fn unparse_with(
    out: &mut XmlOut,
    name: &str,
    value: &Value,
    extra: Option<&dyn Fn(&mut XmlOut)>,
) {
    if !is_xml_name(name) {
        tracing::warn!(
            key = name,
            "cpu_custom: key is not an XML element name; skipped"
        );
        return;
    }
    match value {
        Value::Array(items) => {
            for item in items {
                unparse_with(out, name, item, extra);
            }
        }
        Value::Null => object(out, name, &Map::new(), extra),
        Value::Object(map) => object(out, name, map, extra),
        scalar => {
            let text = scalar_text(scalar).unwrap_or_default();
            out.leaf(name, &[], &text);
        }
    }
}

/// Whether [`unparse`] writes at least one element for `name` and `value`.
fn writes_something(name: &str, value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| writes_something(name, item)),
        _ => is_xml_name(name),
    }
}

/// The text of a string, number or boolean; `None` for anything else.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(true) => Some("true".to_owned()),
        Value::Bool(false) => Some("false".to_owned()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn object(
    out: &mut XmlOut,
    name: &str,
    map: &Map<String, Value>,
    extra: Option<&dyn Fn(&mut XmlOut)>,
) {
    let mut attrs: Vec<(&str, String)> = Vec::new();
    let mut text: Option<String> = None;
    let mut children: Vec<(&str, &Value)> = Vec::new();
    for (key, value) in map {
        if let Some(attr) = key.strip_prefix('@') {
            if !is_xml_name(attr) {
                tracing::warn!(
                    key = key.as_str(),
                    "cpu_custom: not an XML attribute name; skipped"
                );
                continue;
            }
            match scalar_text(value) {
                Some(text) => attrs.push((attr, text)),
                None => tracing::warn!(
                    key = key.as_str(),
                    "cpu_custom: attribute value is not a string, number or boolean; skipped"
                ),
            }
        } else if key == "#text" {
            text = scalar_text(value);
        } else {
            children.push((key, value));
        }
    }
    let attr_refs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let has_children = extra.is_some()
        || children
            .iter()
            .any(|(key, value)| writes_something(key, value));

    match (has_children, &text) {
        (false, None) => out.empty(name, &attr_refs),
        (false, Some(text)) => out.leaf(name, &attr_refs, text),
        (true, _) => {
            out.start(name, &attr_refs);
            // Mixed content: no line breaks, they would become part of the text.
            let mixed = text.is_some();
            if mixed {
                out.begin_compact();
            }
            for (key, value) in &children {
                unparse(out, key, value);
            }
            if let Some(extra) = extra {
                extra(out);
            }
            if let Some(text) = &text {
                out.text(text);
                out.end_compact();
            }
            out.end(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(value: &Value) -> String {
        let mut out = XmlOut::new();
        unparse(&mut out, "cpu", value);
        out.finish()
    }

    #[test]
    fn attributes_text_children_and_lists() {
        let value = json!({
            "@match": "exact",
            "@mode": "custom",
            "feature": [
                {"@name": "vmx", "@policy": "require"},
                {"@name": "svm", "@policy": "disable"}
            ],
            "model": {"#text": "Westmere", "@fallback": "allow"},
            "numa": {"cell": [{"@cpus": "0", "@id": 0, "@memory": 1024, "@unit": "MiB"}]},
            "topology": {"@cores": 1, "@sockets": 2, "@threads": 1}
        });
        // Keys are in sorted order, so the output is the same whether
        // serde_json's map iterates sorted or (`preserve_order`) as inserted.
        let expected = "<cpu match=\"exact\" mode=\"custom\">\n\
             \x20 <feature name=\"vmx\" policy=\"require\"/>\n\
             \x20 <feature name=\"svm\" policy=\"disable\"/>\n\
             \x20 <model fallback=\"allow\">Westmere</model>\n\
             \x20 <numa>\n\
             \x20   <cell cpus=\"0\" id=\"0\" memory=\"1024\" unit=\"MiB\"/>\n\
             \x20 </numa>\n\
             \x20 <topology cores=\"1\" sockets=\"2\" threads=\"1\"/>\n\
             </cpu>\n";
        assert_eq!(render(&value), expected);
    }

    #[test]
    fn scalars_null_and_booleans() {
        assert_eq!(render(&json!(null)), "<cpu/>\n");
        assert_eq!(render(&json!("x&y")), "<cpu>x&amp;y</cpu>\n");
        assert_eq!(render(&json!(2.5)), "<cpu>2.5</cpu>\n");
        assert_eq!(
            render(&json!({"@check": true, "a": false, "b": null, "c": {}})),
            "<cpu check=\"true\">\n  <a>false</a>\n  <b/>\n  <c/>\n</cpu>\n"
        );
        assert_eq!(render(&json!({"#text": ""})), "<cpu></cpu>\n");
    }

    #[test]
    fn nested_lists_flatten() {
        assert_eq!(
            render(&json!({"f": [["a", "b"], "c"]})),
            "<cpu>\n  <f>a</f>\n  <f>b</f>\n  <f>c</f>\n</cpu>\n"
        );
    }

    #[test]
    fn mixed_content_has_no_added_whitespace() {
        assert_eq!(
            render(&json!({"#text": "T", "a": {"b": "x"}, "e": []})),
            "<cpu><a><b>x</b></a>T</cpu>\n"
        );
    }

    #[test]
    fn bad_names_and_values_are_skipped() {
        assert_eq!(
            render(&json!({
                "@ok": "1", "@": "x", "@a b": "x", "@obj": {"x": 1}, "@list": [1], "@nul": null,
                "1bad": "x", "#comment": "x", "a<b": "x", "good": "y"
            })),
            "<cpu ok=\"1\">\n  <good>y</good>\n</cpu>\n"
        );
        let mut out = XmlOut::new();
        unparse(&mut out, "not a name", &json!({}));
        assert_eq!(out.finish(), "\n");
    }

    #[test]
    fn extra_children_come_after_the_objects_own() {
        let mut out = XmlOut::new();
        let topology = |out: &mut XmlOut| out.empty("topology", &[("sockets", "1")]);
        unparse_with(
            &mut out,
            "cpu",
            &json!({"@mode": "custom", "model": "m"}),
            Some(&topology),
        );
        assert_eq!(
            out.finish(),
            "<cpu mode=\"custom\">\n  <model>m</model>\n  <topology sockets=\"1\"/>\n</cpu>\n"
        );
        let mut out = XmlOut::new();
        let t = |out: &mut XmlOut| out.empty("t", &[]);
        unparse_with(&mut out, "cpu", &json!(null), Some(&t));
        assert_eq!(out.finish(), "<cpu>\n  <t/>\n</cpu>\n");
    }
}
