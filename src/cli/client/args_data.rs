//! `key=value` arguments as `vault write`/`kv put` read them (Vault's
//! `kv-builder`): `k=@file` reads a file, `k=-` reads stdin, a bare `-`
//! or `@file.json` merges a JSON object, and a repeated key becomes a list.

use std::io::Read;

use serde_json::{Map, Value};

/// Why the arguments could not be turned into a request body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataError {
    #[error("invalid key/value pair {0:?}: format must be key=value")]
    Format(String),
    #[error("stdin already consumed")]
    StdinConsumed,
    #[error("error reading file: {0}")]
    File(std::io::Error),
    #[error("error reading stdin: {0}")]
    Stdin(std::io::Error),
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("expected a JSON object")]
    NotObject,
}

/// Collects arguments into one JSON object; stdin can be used once.
pub(crate) struct ArgsData<'a> {
    stdin: &'a mut dyn Read,
    stdin_used: bool,
    result: Map<String, Value>,
}

/// Parses all arguments; see the module docs for the syntax.
pub(crate) fn parse_args_data(
    args: &[String],
    stdin: &mut dyn Read,
) -> Result<Map<String, Value>, DataError> {
    let mut builder = ArgsData {
        stdin,
        stdin_used: false,
        result: Map::new(),
    };
    for arg in args {
        builder.add(arg)?;
    }
    Ok(builder.result)
}

impl ArgsData<'_> {
    fn add(&mut self, raw: &str) -> Result<(), DataError> {
        if raw.is_empty() {
            return Ok(());
        }
        let Some((key, value)) = raw.split_once('=') else {
            if raw == "-" {
                let text = self.read_stdin()?;
                return self.merge_json(text.as_bytes());
            }
            if let Some(file) = raw.strip_prefix('@') {
                let bytes = std::fs::read(file).map_err(DataError::File)?;
                return self.merge_json(&bytes);
            }
            return Err(DataError::Format(raw.to_string()));
        };
        let value = if let Some(file) = value.strip_prefix('@') {
            let bytes = std::fs::read(file).map_err(DataError::File)?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else if let Some(escaped) = value.strip_prefix("\\@") {
            format!("@{escaped}")
        } else if value == "-" {
            self.read_stdin()?
        } else {
            value.to_string()
        };
        self.insert(key, Value::String(value));
        Ok(())
    }

    /// A repeated key turns into a list of all its values, in order.
    fn insert(&mut self, key: &str, value: Value) {
        match self.result.get_mut(key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                self.result.insert(key.to_string(), value);
            }
        }
    }

    fn read_stdin(&mut self) -> Result<String, DataError> {
        if self.stdin_used {
            return Err(DataError::StdinConsumed);
        }
        self.stdin_used = true;
        let mut text = String::new();
        self.stdin
            .read_to_string(&mut text)
            .map_err(DataError::Stdin)?;
        Ok(text)
    }

    /// Top-level keys of the JSON object replace earlier ones.
    fn merge_json(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        match serde_json::from_slice::<Value>(bytes).map_err(DataError::Json)? {
            Value::Object(m) => {
                self.result.extend(m);
                Ok(())
            }
            _ => Err(DataError::NotObject),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(args: &[&str], stdin: &str) -> Result<Value, DataError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut input = stdin.as_bytes();
        parse_args_data(&args, &mut input).map(Value::Object)
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse(&["a=b", "c=d=e", "empty="], "").unwrap(),
            json!({"a": "b", "c": "d=e", "empty": ""})
        );
        assert_eq!(
            parse(&["k=1", "k=2", "k=3"], "").unwrap(),
            json!({"k": ["1", "2", "3"]})
        );
        assert_eq!(
            parse(&["k=\\@literal"], "").unwrap(),
            json!({"k": "@literal"})
        );
        assert_eq!(
            parse(&["novalue"], "").unwrap_err().to_string(),
            "invalid key/value pair \"novalue\": format must be key=value"
        );
    }

    #[test]
    fn files() {
        let dir = std::env::temp_dir().join(format!("sr-argsdata-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let value_file = dir.join("v.txt");
        std::fs::write(&value_file, "s3cret\n").unwrap();
        let json_file = dir.join("d.json");
        std::fs::write(&json_file, r#"{"x": 1, "y": {"z": true}}"#).unwrap();
        let got = parse(
            &[
                &format!("pw=@{}", value_file.display()),
                &format!("@{}", json_file.display()),
            ],
            "",
        )
        .unwrap();
        assert_eq!(got, json!({"pw": "s3cret\n", "x": 1, "y": {"z": true}}));
        assert!(matches!(
            parse(&["k=@/nonexistent/file"], ""),
            Err(DataError::File(_))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn stdin() {
        assert_eq!(
            parse(&["-", "extra=1"], r#"{"a": "b", "n": 2}"#).unwrap(),
            json!({"a": "b", "n": 2, "extra": "1"})
        );
        assert_eq!(
            parse(&["k=-"], "from stdin").unwrap(),
            json!({"k": "from stdin"})
        );
        assert!(matches!(
            parse(&["k=-", "-"], "{}"),
            Err(DataError::StdinConsumed)
        ));
        assert!(matches!(parse(&["-"], "[1]"), Err(DataError::NotObject)));
        assert!(matches!(parse(&["-"], "{bad"), Err(DataError::Json(_))));
    }
}
