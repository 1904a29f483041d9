//! The TokenReview client: asks the configured API server whether a
//! service-account JWT is (still) valid, with `authentication.k8s.io/v1`:
//! `POST {host}/apis/authentication.k8s.io/v1/tokenreviews`, bearer = the
//! reviewer JWT (or the login's own JWT when none is configured), body
//! `{"apiVersion","kind":"TokenReview","spec":{"token","audiences"}}`; the
//! answer's `status` says `authenticated` and names the user as
//! `system:serviceaccount:<namespace>:<name>` with its `uid`.

use serde_json::{json, Value};

use crate::auth::jwt::fetch::Clients;

/// Who the API server says the token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reviewed {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) uid: String,
}

/// The TokenReview request body.
pub(crate) fn request_body(jwt: &str, audiences: &[String]) -> Value {
    let mut spec = json!({ "token": jwt });
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": spec,
    })
}

/// Interprets a TokenReview answer (Vault's texts).
pub(crate) fn parse_answer(status: u16, body: &[u8]) -> Result<Reviewed, String> {
    if status == 401 {
        return Err(
            "lookup failed: service account unauthorized; this could mean it has been deleted or recreated with a new token"
                .into(),
        );
    }
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| format!("lookup failed: invalid TokenReview answer (status {status}): {e}"))?;
    if !(200..300).contains(&status) {
        let msg = doc
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unexpected answer");
        return Err(format!("lookup failed: {msg} (status {status})"));
    }
    if doc.get("kind").and_then(Value::as_str) == Some("Status")
        && doc.get("status").and_then(Value::as_str) != Some("Success")
    {
        let msg = doc
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(format!("lookup failed: {msg}"));
    }
    let st = doc.get("status").cloned().unwrap_or(Value::Null);
    if let Some(e) = st
        .get("error")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        return Err(format!("lookup failed: {e}"));
    }
    if st.get("authenticated").and_then(Value::as_bool) != Some(true) {
        return Err("lookup failed: service account jwt not valid".into());
    }
    let user = st.get("user").cloned().unwrap_or(Value::Null);
    let username = user
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let parts: Vec<&str> = username.split(':').collect();
    if parts.len() != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
        return Err("lookup failed: unexpected username format".into());
    }
    Ok(Reviewed {
        namespace: parts[2].to_string(),
        name: parts[3].to_string(),
        uid: user
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// Sends the review.
pub(crate) async fn review(
    http: &Clients,
    host: &str,
    ca_pem: &str,
    bearer: &str,
    jwt: &str,
    audiences: &[String],
) -> Result<Reviewed, String> {
    let url = format!(
        "{}/apis/authentication.k8s.io/v1/tokenreviews",
        host.trim_end_matches('/')
    );
    let body = serde_json::to_vec(&request_body(jwt, audiences)).map_err(|e| e.to_string())?;
    let answer = http
        .send(
            ca_pem,
            http::Method::POST,
            &url,
            &[
                ("authorization", format!("Bearer {bearer}")),
                ("content-type", "application/json".into()),
                ("accept", "application/json".into()),
            ],
            Some(body),
        )
        .await
        .map_err(|e| e.to_string())?;
    parse_answer(answer.status, &answer.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_the_v1_shape() {
        let b = request_body("tok", &["aud".into()]);
        assert_eq!(b["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(b["kind"], "TokenReview");
        assert_eq!(b["spec"]["token"], "tok");
        assert_eq!(b["spec"]["audiences"], json!(["aud"]));
        assert!(request_body("t", &[])["spec"].get("audiences").is_none());
    }

    #[test]
    fn answers_are_interpreted() {
        let ok = br#"{"kind":"TokenReview","status":{"authenticated":true,"user":{"username":"system:serviceaccount:apps:app-sa","uid":"u-1"}}}"#;
        assert_eq!(
            parse_answer(201, ok).unwrap(),
            Reviewed {
                name: "app-sa".into(),
                namespace: "apps".into(),
                uid: "u-1".into()
            }
        );
        let no = br#"{"status":{"authenticated":false}}"#;
        assert_eq!(
            parse_answer(201, no).unwrap_err(),
            "lookup failed: service account jwt not valid"
        );
        let err = br#"{"status":{"error":"token expired"}}"#;
        assert_eq!(
            parse_answer(201, err).unwrap_err(),
            "lookup failed: token expired"
        );
        assert!(parse_answer(401, b"").unwrap_err().contains("unauthorized"));
        let bad_user = br#"{"status":{"authenticated":true,"user":{"username":"alice"}}}"#;
        assert_eq!(
            parse_answer(201, bad_user).unwrap_err(),
            "lookup failed: unexpected username format"
        );
        let forbidden =
            br#"{"kind":"Status","status":"Failure","message":"tokenreviews is forbidden"}"#;
        assert!(parse_answer(403, forbidden)
            .unwrap_err()
            .contains("forbidden"));
    }
}
