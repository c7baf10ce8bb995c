//! The canonical JSON form: what `manifest.json` and `events.json` are
//! written in and what their hashes and the signature cover.
//!
//! Object keys sorted by their UTF-8 bytes, no whitespace, strings escaped
//! as `serde_json` writes them (only `"`, `\` and control characters;
//! non-ASCII as is), numbers as `serde_json` writes them. For the values
//! screenrec puts in a manifest (strings, integers, booleans, null) this is
//! the JSON Canonicalization Scheme (RFC 8785), so an auditor can re-derive
//! the bytes with any JCS library.

use serde_json::Value;

/// The canonical bytes of `v`.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

/// The canonical bytes of any serialisable value (through [`Value`]).
pub fn of<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(to_vec(&serde_json::to_value(v)?))
}

fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                if let Some(value) = map.get(k) {
                    write(value, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Serialising a scalar Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_level_and_nothing_is_spaced() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": true}], "c": "é\"\n"}});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap_or_default(),
            r#"{"a":{"c":"é\"\n","z":[3,{"x":true,"y":null}]},"b":1}"#
        );
    }

    #[test]
    fn the_form_is_a_fixed_point() {
        let v = json!({"k2": [1, 2, {"b": "x", "a": -7}], "k1": "v"});
        let once = to_vec(&v);
        let again: Value = serde_json::from_slice(&once).unwrap_or(Value::Null);
        assert_eq!(to_vec(&again), once);
        // Whitespace and key order in the input do not change the output.
        let spaced = serde_json::to_vec_pretty(&v).unwrap_or_default();
        let parsed: Value = serde_json::from_slice(&spaced).unwrap_or(Value::Null);
        assert_eq!(to_vec(&parsed), once);
    }

    #[test]
    fn keys_sort_by_bytes_not_by_locale() {
        let v = json!({"a": 1, "B": 2, "é": 3, "_": 4});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap_or_default(),
            r#"{"B":2,"_":4,"a":1,"é":3}"#
        );
    }
}
