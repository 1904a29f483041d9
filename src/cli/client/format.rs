//! Output rendering that reproduces the `vault` CLI byte for byte where it
//! matters: `columnize` tables, Go's `%v` value printing, the `=== Title ===`
//! banners of `kv get`, the JSON of `-format=json`, and the text wrapping of
//! advice paragraphs.

use std::io::{IsTerminal, Write};

use serde_json::{Map, Value};

use super::api::Secret;

/// Vault's `maxLineLength` for wrapped advice text.
const MAX_LINE_LENGTH: usize = 78;

/// The `-format` values this client can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
}

impl Format {
    /// Parses a `-format`/`VAULT_FORMAT` value; the error is Vault's text.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "" | "table" => Ok(Self::Table),
            "json" => Ok(Self::Json),
            _ => Err(format!("Invalid output format: {s}")),
        }
    }
}

/// Writes a line to stdout; a closed pipe (`| head`) is not worth a panic.
pub(crate) fn out(s: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{s}");
}

/// Writes a line to stderr.
pub(crate) fn err(s: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{s}");
}

/// Vault's `PrintRaw`: a bare value for `$(...)`, so no trailing newline
/// unless a human is watching.
pub(crate) fn out_raw(s: &str) {
    let mut stdout = std::io::stdout().lock();
    if std::io::stdout().is_terminal() {
        let _ = writeln!(stdout, "{s}");
    } else {
        let _ = write!(stdout, "{s}");
        let _ = stdout.flush();
    }
}

/// Go's `fmt.Sprintf("%v", v)` for decoded JSON: `<nil>`, `[a b]`,
/// `map[k:v]` with sorted keys. Tables print values this way.
pub(crate) fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_value(&m[k.as_str()])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted_list(v: Option<&Value>) -> String {
    let items = v.and_then(Value::as_array).cloned().unwrap_or_default();
    let parts: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_string(&Value::String(go_value(i))).unwrap_or_default())
        .collect();
    format!("[{}]", parts.join(" "))
}

/// `columnize.Format` with Vault's settings: fields trimmed, empty ones
/// shown as `n/a`, columns padded to the widest cell and glued with four
/// spaces; the last cell of a row is never padded.
pub(crate) fn columnize(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| match c.trim() {
                    "" => "n/a".to_string(),
                    t => t.to_string(),
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(slot) => *slot = (*slot).max(w),
                None => widths.push(w),
            }
        }
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                    line.push_str("    ");
                }
            }
            line
        })
        .collect();
    lines.join("\n")
}

/// Vault's `tableOutput`: the first row is the header, underlined with
/// dashes.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all = Vec::with_capacity(rows.len() + 2);
    all.push(header.iter().map(|h| h.to_string()).collect());
    all.push(header.iter().map(|h| "-".repeat(h.trim().len())).collect());
    all.extend(rows);
    columnize(&all)
}

/// Keys whose integer values Vault prints as durations (`768h`).
fn looks_like_duration(k: &str) -> bool {
    k == "period"
        || k.ends_with("_period")
        || k == "ttl"
        || k.ends_with("_ttl")
        || k == "duration"
        || k.ends_with("_duration")
        || k == "lease_max"
        || k == "ttl_max"
}

/// Vault's `humanDuration` for whole seconds: Go's `Duration.String()`
/// without the trailing zero units (`1h0m0s` → `1h`).
pub(crate) fn human_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut text = if h > 0 {
        format!("{sign}{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{sign}{m}m{sec}s")
    } else {
        format!("{sign}{sec}s")
    };
    if text.ends_with("m0s") {
        text.truncate(text.len() - 2);
    }
    if let Some(idx) = text.find("h0m") {
        text.replace_range(idx + 1..idx + 3, "");
    }
    text
}

/// A value as a table cell, durations humanized for duration-like keys.
fn cell(key: &str, v: &Value) -> String {
    if looks_like_duration(key) {
        if let Some(i) = v.as_i64() {
            return human_duration(i);
        }
    }
    go_value(v)
}

/// Vault's `OutputMap`: a sorted Key/Value table; empty maps print nothing.
pub(crate) fn map_table(m: &Map<String, Value>) -> Option<String> {
    if m.is_empty() {
        return None;
    }
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let rows = keys
        .into_iter()
        .map(|k| vec![k.clone(), cell(k, &m[k.as_str()])])
        .collect();
    Some(table(&["Key", "Value"], rows))
}

/// Vault's `TableFormatter.OutputSecret`: lease, auth and wrapping rows
/// first, then the sorted data. `None` when there is nothing to show.
pub(crate) fn secret_table(secret: &Secret) -> Option<String> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let row = |k: &str, v: String| vec![k.to_string(), v];
    let lease = secret.int_field("lease_duration");
    if lease > 0 {
        if !secret.str_field("lease_id").is_empty() {
            rows.push(row("lease_id", secret.str_field("lease_id").into()));
            rows.push(row("lease_duration", human_duration(lease)));
            rows.push(row(
                "lease_renewable",
                go_value(secret.0.get("renewable").unwrap_or(&Value::Bool(false))),
            ));
        } else {
            rows.push(row("refresh_interval", human_duration(lease)));
        }
    }
    if let Some(auth) = secret.object("auth") {
        let s = |k: &str| auth.get(k).map(go_value).unwrap_or_default();
        rows.push(row("token", s("client_token")));
        rows.push(row("token_accessor", s("accessor")));
        let duration = auth
            .get("lease_duration")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        rows.push(row(
            "token_duration",
            if duration == 0 {
                "∞".into()
            } else {
                human_duration(duration)
            },
        ));
        rows.push(row(
            "token_renewable",
            auth.get("renewable")
                .map(go_value)
                .unwrap_or_else(|| "false".into()),
        ));
        rows.push(row(
            "token_policies",
            go_quoted_list(auth.get("token_policies")),
        ));
        rows.push(row(
            "identity_policies",
            go_quoted_list(auth.get("identity_policies")),
        ));
        rows.push(row("policies", go_quoted_list(auth.get("policies"))));
        if let Some(meta) = auth.get("metadata").and_then(Value::as_object) {
            for (k, v) in meta {
                rows.push(row(&format!("token_meta_{k}"), go_value(v)));
            }
        }
    }
    if let Some(wrap) = secret.object("wrap_info") {
        let s = |k: &str| wrap.get(k).map(go_value).unwrap_or_default();
        rows.push(row("wrapping_token:", s("token")));
        rows.push(row("wrapping_accessor:", s("accessor")));
        let ttl = wrap.get("ttl").and_then(Value::as_i64).unwrap_or(0);
        rows.push(row("wrapping_token_ttl:", human_duration(ttl)));
        rows.push(row("wrapping_token_creation_time:", s("creation_time")));
        rows.push(row("wrapping_token_creation_path:", s("creation_path")));
        if !s("wrapped_accessor").is_empty() {
            rows.push(row("wrapped_accessor:", s("wrapped_accessor")));
        }
    }
    if let Some(data) = secret.data() {
        let mut keys: Vec<&String> = data.keys().collect();
        keys.sort();
        for k in keys {
            rows.push(row(k, cell(k, &data[k.as_str()])));
        }
    }
    if rows.is_empty() {
        return None;
    }
    Some(table(&["Key", "Value"], rows))
}

/// Vault's `printWarnings`, on stderr.
pub(crate) fn print_warnings(secret: &Secret) {
    let warnings = secret.warnings();
    if warnings.is_empty() {
        return;
    }
    err("WARNING! The following warnings were returned from Vault:\n");
    for w in warnings {
        err(&wrap_with_padding(&format!("* {w}"), 2));
        err("");
    }
}

/// Vault's `padEqualSigns`: `=== Title ===` sized to `total`.
pub(crate) fn pad_equal_signs(header: &str, total: usize) -> String {
    let mut equals = total as i64 - (header.len() as i64 + 2);
    if equals <= 0 {
        equals = 4;
    }
    if equals % 2 != 0 {
        equals += 1;
    }
    let side = "=".repeat((equals / 2) as usize);
    format!("{side} {header} {side}")
}

/// Vault's `getHeaderForMap`: a banner as wide as the table below it.
pub(crate) fn header_for_map(header: &str, m: &Map<String, Value>) -> String {
    let max_key = m.keys().map(String::len).max().unwrap_or(0);
    pad_equal_signs(header, max_key + 4 + 5)
}

/// Vault's `outputPath`: a banner, the path, a blank line.
pub(crate) fn output_path(path: &str, title: &str) {
    out(&pad_equal_signs(title, path.len()));
    out(path);
    out("");
}

/// JSON exactly as Go's `json.MarshalIndent(v, "", "  ")` prints it:
/// two-space indent, sorted object keys, HTML characters escaped.
pub(crate) fn json_pretty(v: &Value) -> String {
    go_escape(&serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into()))
}

/// A JSON object whose top-level fields keep the given order, as a Go
/// struct marshals; nested values print as in [`json_pretty`].
pub(crate) fn json_ordered(fields: &[(&str, Value)]) -> String {
    if fields.is_empty() {
        return "{}".into();
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let key = serde_json::to_string(k).unwrap_or_default();
            let value = serde_json::to_string_pretty(v)
                .unwrap_or_else(|_| "null".into())
                .replace('\n', "\n  ");
            format!("  {key}: {value}")
        })
        .collect();
    go_escape(&format!("{{\n{}\n}}", body.join(",\n")))
}

/// A JSON value whose objects keep a chosen key order, for printing Go
/// structs (whose fields marshal in declaration order) nested inside
/// other values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ordered {
    Plain(Value),
    Object(Vec<(String, Ordered)>),
}

impl Ordered {
    fn render(&self, indent: usize) -> String {
        match self {
            Self::Plain(v) => serde_json::to_string_pretty(v)
                .unwrap_or_else(|_| "null".into())
                .replace('\n', &format!("\n{}", " ".repeat(indent))),
            Self::Object(fields) if fields.is_empty() => "{}".into(),
            Self::Object(fields) => {
                let pad = " ".repeat(indent + 2);
                let body: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| {
                        let key = serde_json::to_string(k).unwrap_or_default();
                        format!("{pad}{key}: {}", v.render(indent + 2))
                    })
                    .collect();
                format!("{{\n{}\n{}}}", body.join(",\n"), " ".repeat(indent))
            }
        }
    }
}

/// Prints an [`Ordered`] value as Go's `json.MarshalIndent(v, "", "  ")`.
pub(crate) fn json_ordered_value(v: &Ordered) -> String {
    go_escape(&v.render(0))
}

/// One field of a Go struct: its JSON name, the zero value printed when
/// the server left it out, and whether `omitempty` drops it when empty.
pub(crate) type GoField = (&'static str, Value, bool);

fn is_go_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// A decoded object re-marshalled as the Go struct `fields` describes:
/// declared fields in order (zero values filled in, `omitempty` ones
/// dropped when empty); keys the struct lacks are dropped, as Go does.
pub(crate) fn go_struct(m: &Map<String, Value>, fields: &[GoField]) -> Vec<(String, Ordered)> {
    fields
        .iter()
        .filter_map(|(name, zero, omitempty)| {
            let v = m.get(*name).cloned().unwrap_or_else(|| zero.clone());
            if *omitempty && is_go_empty(&v) {
                None
            } else {
                Some((name.to_string(), Ordered::Plain(v)))
            }
        })
        .collect()
}

/// `api.SecretAuth`'s fields.
pub(crate) fn secret_auth_fields() -> Vec<GoField> {
    vec![
        ("client_token", Value::from(""), false),
        ("accessor", Value::from(""), false),
        ("policies", Value::Null, false),
        ("token_policies", Value::Null, false),
        ("identity_policies", Value::Null, false),
        ("metadata", Value::Null, false),
        ("orphan", Value::Bool(false), false),
        ("entity_id", Value::from(""), false),
        ("lease_duration", Value::from(0), false),
        ("renewable", Value::Bool(false), false),
        ("mfa_requirement", Value::Null, false),
    ]
}

/// Go's encoder escapes `<`, `>`, `&` and the JS line separators. They can
/// only occur inside strings, so replacing them everywhere is safe.
fn go_escape(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `api.Secret` as the Go CLI marshals it: its struct field order, with the
/// `omitempty` fields left out when empty.
pub(crate) fn secret_json(secret: &Secret) -> String {
    let m = &secret.0;
    let get = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    let mut fields = vec![
        ("request_id", Value::from(secret.str_field("request_id"))),
        ("lease_id", Value::from(secret.str_field("lease_id"))),
        (
            "lease_duration",
            Value::from(secret.int_field("lease_duration")),
        ),
        (
            "renewable",
            Value::Bool(m.get("renewable").and_then(Value::as_bool).unwrap_or(false)),
        ),
        ("data", get("data")),
        ("warnings", get("warnings")),
    ];
    if !get("wrap_info").is_null() {
        fields.push(("wrap_info", get("wrap_info")));
    }
    if !secret.str_field("mount_type").is_empty() {
        fields.push(("mount_type", get("mount_type")));
    }
    let mut ordered: Vec<(String, Ordered)> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), Ordered::Plain(v)))
        .collect();
    if let Some(auth) = secret.object("auth") {
        // `auth` is a Go struct: its fields print in declaration order.
        // After `warnings`, before `wrap_info` and `mount_type`.
        ordered.insert(
            6,
            (
                "auth".into(),
                Ordered::Object(go_struct(auth, &secret_auth_fields())),
            ),
        );
    }
    json_ordered_value(&Ordered::Object(ordered))
}

/// Vault's `OutputSecret`: the table or the JSON of a response.
pub(crate) fn output_secret(format: Format, secret: &Secret) {
    match format {
        Format::Json => out(&secret_json(secret)),
        Format::Table => {
            print_warnings(secret);
            if let Some(t) = secret_table(secret) {
                out(&t);
            }
        }
    }
}

/// Vault's `OutputData` for a map.
pub(crate) fn output_map(format: Format, m: &Map<String, Value>) {
    match format {
        Format::Json => out(&json_pretty(&Value::Object(m.clone()))),
        Format::Table => {
            if let Some(t) = map_table(m) {
                out(&t);
            }
        }
    }
}

/// Vault's `RawField`: the special top-level names, else a data key.
pub(crate) fn raw_field(secret: &Secret, field: &str) -> Option<Value> {
    let data_field = || secret.data().and_then(|d| d.get(field)).cloned();
    let value = if let Some(auth) = secret.object("auth") {
        let key = match field {
            "token" => Some("client_token"),
            "token_accessor" => Some("accessor"),
            "token_duration" => Some("lease_duration"),
            "token_renewable" => Some("renewable"),
            "token_policies" | "identity_policies" | "policies" => Some(field),
            _ => None,
        };
        match key {
            Some(k) => auth.get(k).cloned(),
            None => data_field(),
        }
    } else if let Some(wrap) = secret.object("wrap_info") {
        match field.strip_prefix("wrapping_") {
            Some("token") => wrap.get("token").cloned(),
            Some("accessor") => wrap.get("accessor").cloned(),
            Some("token_ttl") => wrap.get("ttl").cloned(),
            Some("token_creation_time") => wrap.get("creation_time").cloned(),
            Some("token_creation_path") => wrap.get("creation_path").cloned(),
            _ if field == "wrapped_accessor" => wrap.get("wrapped_accessor").cloned(),
            _ => data_field(),
        }
    } else {
        match field {
            "lease_duration" | "refresh_interval" => secret.0.get("lease_duration").cloned(),
            "lease_id" | "request_id" | "renewable" => secret.0.get(field).cloned(),
            "data" => secret
                .data()
                .and_then(|d| d.get("data"))
                .cloned()
                .or_else(|| secret.0.get("data").cloned()),
            _ => data_field(),
        }
    };
    value.filter(|v| !v.is_null())
}

/// Vault's `PrintRawField`: one value, bare. Returns the exit code.
pub(crate) fn print_field(format: Format, value: Option<Value>, field: &str) -> u8 {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        err(&format!("Field \"{field}\" not present in secret"));
        return 1;
    };
    match format {
        Format::Table => out_raw(&go_value(&value)),
        Format::Json => out_raw(&json_pretty(&value)),
    }
    0
}

/// The `kr/text` wrapping Vault uses: minimum raggedness, not greedy, so
/// paragraphs break where Vault's do.
pub(crate) fn wrap_at_length(s: &str) -> String {
    wrap_with_padding(s, 0)
}

/// [`wrap_at_length`] with a left margin.
pub(crate) fn wrap_with_padding(s: &str, pad: usize) -> String {
    let lim = MAX_LINE_LENGTH - pad;
    let text = s.trim().replace('\n', " ");
    let words: Vec<&str> = text.split(' ').collect();
    wrap_words(&words, lim)
        .into_iter()
        .map(|line| format!("{}{}", " ".repeat(pad), line.join(" ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text.WrapWords` with one space between words and kr/text's penalty
/// for overlong lines.
fn wrap_words<'a>(words: &[&'a str], lim: usize) -> Vec<Vec<&'a str>> {
    const PENALTY: i64 = 100_000;
    let n = words.len();
    if n == 0 {
        return Vec::new();
    }
    let lim = lim as i64;
    // length(i, j): width of words i..=j on one line.
    let mut prefix = vec![0i64; n + 1];
    for (i, w) in words.iter().enumerate() {
        prefix[i + 1] = prefix[i] + w.len() as i64;
    }
    let length = |i: usize, j: usize| prefix[j + 1] - prefix[i] + (j - i) as i64;
    let mut next_break = vec![n; n];
    let mut cost = vec![i64::MAX; n];
    for i in (0..n).rev() {
        if length(i, n - 1) <= lim || i == n - 1 {
            cost[i] = 0;
            next_break[i] = n;
            continue;
        }
        for j in i + 1..n {
            let d = lim - length(i, j - 1);
            let mut c = d * d + cost[j];
            if length(i, j - 1) > lim {
                c += PENALTY;
            }
            if c < cost[i] {
                cost[i] = c;
                next_break[i] = j;
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        lines.push(words[i..next_break[i]].to_vec());
        i = next_break[i];
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_values() {
        assert_eq!(go_value(&Value::Null), "<nil>");
        assert_eq!(go_value(&json!(["a", 1, true])), "[a 1 true]");
        assert_eq!(go_value(&json!({"b": "x", "a": null})), "map[a:<nil> b:x]");
        assert_eq!(
            go_quoted_list(Some(&json!(["default", "root"]))),
            r#"["default" "root"]"#
        );
        assert_eq!(go_quoted_list(None), "[]");
    }

    #[test]
    fn kv_metadata_table_matches_vault() {
        let m = json!({
            "created_time": "2026-04-09T19:39:18.855022475Z",
            "custom_metadata": null,
            "deletion_time": "",
            "destroyed": false,
            "version": 1
        });
        let m = m.as_object().unwrap();
        assert_eq!(header_for_map("Metadata", m), "======= Metadata =======");
        assert_eq!(
            map_table(m).unwrap(),
            "Key                Value\n\
             ---                -----\n\
             created_time       2026-04-09T19:39:18.855022475Z\n\
             custom_metadata    <nil>\n\
             deletion_time      n/a\n\
             destroyed          false\n\
             version            1"
        );
        assert!(map_table(&Map::new()).is_none());
    }

    #[test]
    fn secret_path_banner() {
        assert_eq!(
            pad_equal_signs(
                "Secret Path",
                "secret/data/devops-info-service/config".len()
            ),
            "============= Secret Path ============="
        );
        assert_eq!(pad_equal_signs("Data", 3), "== Data ==");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(3600), "1h");
        assert_eq!(human_duration(3660), "1h1m");
        assert_eq!(human_duration(2_764_800), "768h");
        assert_eq!(human_duration(3601), "1h1s");
    }

    #[test]
    fn secret_table_shows_lease_and_data() {
        let s = Secret(
            json!({"lease_id": "", "lease_duration": 2764800, "renewable": false,
                   "data": {"foo": "bar", "ttl": 60}})
            .as_object()
            .unwrap()
            .clone(),
        );
        assert_eq!(
            secret_table(&s).unwrap(),
            "Key                 Value\n\
             ---                 -----\n\
             refresh_interval    768h\n\
             foo                 bar\n\
             ttl                 1m"
        );
        assert!(secret_table(&Secret::default()).is_none());
    }

    #[test]
    fn json_output_is_go_like() {
        let s = Secret(
            json!({"request_id": "r", "lease_id": "", "lease_duration": 0, "renewable": false,
                   "data": {"b": 1, "a": "<x>"}, "warnings": null, "wrap_info": null, "auth": null})
            .as_object()
            .unwrap()
            .clone(),
        );
        assert_eq!(
            secret_json(&s),
            "{\n  \"request_id\": \"r\",\n  \"lease_id\": \"\",\n  \"lease_duration\": 0,\n  \"renewable\": false,\n  \"data\": {\n    \"a\": \"\\u003cx\\u003e\",\n    \"b\": 1\n  },\n  \"warnings\": null\n}"
        );
    }

    #[test]
    fn auth_prints_in_struct_order() {
        let s = Secret(
            json!({"request_id": "r", "data": null,
                   "auth": {"renewable": true, "client_token": "t", "policies": ["a"],
                            "extra": 1, "metadata": {"k": "v"}}})
            .as_object()
            .unwrap()
            .clone(),
        );
        let text = secret_json(&s);
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("    \""))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "client_token",
                "accessor",
                "policies",
                "token_policies",
                "identity_policies",
                "metadata",
                "orphan",
                "entity_id",
                "lease_duration",
                "renewable",
                "mfa_requirement"
            ]
        );
        assert!(
            text.contains("  \"auth\": {\n    \"client_token\": \"t\","),
            "{text}"
        );
        assert!(
            text.contains("\"metadata\": {\n      \"k\": \"v\"\n    },"),
            "{text}"
        );
        assert!(
            text.ends_with("    \"mfa_requirement\": null\n  }\n}"),
            "{text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["auth"]["policies"], json!(["a"]));
    }

    #[test]
    fn raw_fields() {
        let s = Secret(
            json!({"lease_duration": 5, "data": {"data": {"k": "v"}, "x": 1}})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(raw_field(&s, "x"), Some(json!(1)));
        assert_eq!(raw_field(&s, "lease_duration"), Some(json!(5)));
        assert_eq!(raw_field(&s, "data"), Some(json!({"k": "v"})));
        assert_eq!(raw_field(&s, "nope"), None);
    }

    #[test]
    fn wraps_like_vault() {
        let text = "Vault initialized with 5 key shares and a key threshold of 3. Please \
                    securely distribute the key shares printed above. When the Vault is \
                    re-sealed, restarted, or stopped, you must supply at least 3 of \
                    these keys to unseal it before it can start servicing requests.";
        assert_eq!(
            wrap_at_length(text),
            "Vault initialized with 5 key shares and a key threshold of 3. Please securely\n\
             distribute the key shares printed above. When the Vault is re-sealed,\n\
             restarted, or stopped, you must supply at least 3 of these keys to unseal it\n\
             before it can start servicing requests."
        );
    }

    #[test]
    fn formats() {
        assert_eq!(Format::parse("JSON"), Ok(Format::Json));
        assert_eq!(Format::parse("table"), Ok(Format::Table));
        assert_eq!(
            Format::parse("yaml"),
            Err("Invalid output format: yaml".to_string())
        );
    }
}
