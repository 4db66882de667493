//! JSON-shaped data crossing the boundary as Python objects: lago-core's
//! views and results (`serde_json::Value`, or anything `Serialize`) become
//! dicts, lists, str, int, float, bool and None; Python data handed to the
//! core (specs, inventory rows, build options) becomes a `Value`.
//!
//! Hand-written rather than a crate such as `pythonize`: only JSON values
//! cross here, the code is short, and it keeps key order (dicts keep
//! insertion order, `serde_json`'s map keeps it with `preserve_order`).

use lago_core::ErrorKind;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::errors::msg;

/// The Python object of `value`.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// The Python object of a serializable view.
pub fn view_to_py<'py, T: Serialize>(py: Python<'py>, view: &T) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(view).map_err(|e| {
        msg(
            ErrorKind::Internal,
            format!("a view did not serialize: {e}"),
        )
    })?;
    to_py(py, &value)
}

/// The JSON value of the Python object `obj` (`what` names it in errors):
/// dicts with string keys, lists and tuples, str, int, float, bool, None.
pub fn from_py(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(msg(
            ErrorKind::InvalidInput,
            format!("{what}: integer {obj} is out of range"),
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                msg(
                    ErrorKind::InvalidInput,
                    format!("{what}: {obj} is not a finite number"),
                )
            });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.extract::<String>()?));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            // A key that is not a string is written as its text, as
            // `json.dumps` writes a number key.
            let key = match k.cast::<PyString>() {
                Ok(s) => s.extract::<String>()?,
                Err(_) => k.str()?.extract::<String>()?,
            };
            map.insert(key, from_py(what, &v)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l
            .iter()
            .map(|v| from_py(what, &v))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t
            .iter()
            .map(|v| from_py(what, &v))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    // Anything else (paths, enums...): its text, as `json.dumps(default=str)`.
    Ok(Value::String(obj.str()?.extract::<String>()?))
}

/// The JSON object of the Python dict `obj` (`what` names it in errors).
pub fn object_from_py(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Map<String, Value>> {
    match from_py(what, obj)? {
        Value::Object(map) => Ok(map),
        _ => Err(msg(
            ErrorKind::InvalidInput,
            format!("{what} must be a dict"),
        )),
    }
}
