//! Replays an OpenBao capture (`../shared/reference/openbao-api-samples-2`)
//! against a server: the same method, path and body (with the root token
//! when the capture sent one), for comparing status and body.

use serde_json::Value;

use super::{http::Response, Server, ROOT};

/// A capture's expected status and raw body, and what the server answered.
pub struct Replayed {
    pub file: String,
    pub status: u16,
    pub body: String,
    pub got: Response,
}

impl Replayed {
    /// Asserts the same status and, for error answers, the same body.
    #[track_caller]
    pub fn assert_same_error(&self) {
        assert_eq!(
            self.got.status,
            self.status,
            "{}: {}",
            self.file,
            self.got.text()
        );
        let want: Value = serde_json::from_str(&self.body).expect("capture body");
        assert_eq!(self.got.json(), want, "{}", self.file);
    }
}

fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("=== {name} ===\n"))
        .map(|i| i + name.len() + 9)
        .unwrap_or_else(|| panic!("no {name} section"));
    let rest = &text[start..];
    match rest.find("\n=== ") {
        Some(end) => &rest[..end],
        None => rest,
    }
}

pub fn replay(s: &Server, file: &str) -> Replayed {
    let path = super::repo_root()
        .join("../shared/reference/openbao-api-samples-2")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let request = section(&text, "REQUEST");
    let mut lines = request.lines();
    let (method, target) = lines.next().unwrap().split_once(' ').unwrap();
    let mut token = None;
    let mut body = None;
    for l in lines {
        if l.starts_with("X-Vault-Token: <root") {
            token = Some(ROOT);
        } else if let Some(b) = l.strip_prefix("body: ") {
            body = Some(serde_json::from_str::<Value>(b).expect("capture request body"));
        }
    }
    let status: u16 = section(&text, "STATUS").trim().parse().unwrap();
    let raw = &text[text.find("=== BODY (raw) ===\n").unwrap() + 19..];
    let got = s.call(method, target, token, body.as_ref());
    Replayed {
        file: file.to_string(),
        status,
        body: raw.to_string(),
        got,
    }
}
