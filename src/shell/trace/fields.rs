//! Reading a trace's JSON: each accessor names the path of what it could not find.

use serde_json::Value;

/// Why a trace value could not be decoded: the JSON path and what was expected there.
pub(crate) type Res<T> = Result<T, String>;

pub(crate) fn field<'a>(v: &'a Value, path: &str, key: &str) -> Res<&'a Value> {
    v.get(key).ok_or_else(|| format!("{path}: missing `{key}`"))
}

pub(crate) fn u64_at(v: &Value, path: &str, key: &str) -> Res<u64> {
    field(v, path, key)?
        .as_u64()
        .ok_or_else(|| format!("{path}.{key}: expected an unsigned integer"))
}

pub(crate) fn bool_at(v: &Value, path: &str, key: &str) -> Res<bool> {
    field(v, path, key)?
        .as_bool()
        .ok_or_else(|| format!("{path}.{key}: expected true or false"))
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &str, key: &str) -> Res<&'a str> {
    field(v, path, key)?
        .as_str()
        .ok_or_else(|| format!("{path}.{key}: expected a string"))
}

pub(crate) fn opt_str_at(v: &Value, path: &str, key: &str) -> Res<Option<String>> {
    match field(v, path, key)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(format!("{path}.{key}: expected a string or null")),
    }
}

pub(crate) fn usize_at(v: &Value, path: &str, key: &str) -> Res<usize> {
    usize::try_from(u64_at(v, path, key)?).map_err(|_| format!("{path}.{key}: too large"))
}

/// The single member of a `{"variant": body}` object, or a bare `"variant"` string.
pub(crate) fn variant<'a>(v: &'a Value, path: &str) -> Res<(&'a str, &'a Value)> {
    match v {
        Value::String(s) => Ok((s.as_str(), &Value::Null)),
        Value::Object(m) if m.len() == 1 => {
            let (k, body) = m.iter().next().ok_or_else(|| format!("{path}: empty"))?;
            Ok((k.as_str(), body))
        }
        _ => Err(format!(
            "{path}: expected a string or an object with one member"
        )),
    }
}

pub(crate) fn unknown<T>(path: &str, what: &str) -> Res<T> {
    Err(format!("{path}: unknown variant `{what}`"))
}
