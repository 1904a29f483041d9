//! Translates between HTTP and the transport-neutral logical request and
//! response. The Lambda adapter reuses [`handle`] unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value};

pub(crate) use super::message::{standard_headers, HttpRequest, HttpResponse};
use crate::core::Core;
use crate::logical::{LogicalError, Operation, Request, Response};

/// Vault's default `max_request_size`: 32 MiB.
pub(crate) const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Extracts the caller's token: `X-Vault-Token`, else `Authorization: Bearer`.
fn client_token(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = header_str(headers, "x-vault-token").filter(|t| !t.is_empty()) {
        return Some(t.to_string());
    }
    header_str(headers, "authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn parse_query(query: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(q) = query {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            out.insert(k.into_owned(), Value::from(v.into_owned()));
        }
    }
    out
}

/// Maps method + query to an operation, as Vault does.
fn operation(method: &Method, query: &Map<String, Value>) -> Result<Operation, LogicalError> {
    let list_flag = matches!(
        query.get("list").and_then(Value::as_str),
        Some("true" | "1" | "t" | "True" | "TRUE")
    );
    let help_flag = matches!(
        query.get("help").and_then(Value::as_str),
        Some("true" | "1" | "t" | "True" | "TRUE")
    );
    match method.as_str() {
        "GET" if help_flag => Ok(Operation::Help),
        "GET" | "HEAD" if list_flag => Ok(Operation::List),
        "GET" | "HEAD" => Ok(Operation::Read),
        "LIST" => Ok(Operation::List),
        "PUT" | "POST" => Ok(Operation::Update),
        "PATCH" => Ok(Operation::Patch),
        "DELETE" => Ok(Operation::Delete),
        _ => Err(LogicalError::UnsupportedOperation),
    }
}

/// Parses a JSON request body into an object. An empty body is `{}`.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, LogicalError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(LogicalError::bad(
            "failed to decode JSON input: the body must be a JSON object",
        )),
        Err(e) if e.is_eof() => Err(LogicalError::bad(
            "failed to decode JSON input: unexpected EOF",
        )),
        Err(e) => Err(LogicalError::bad(format!(
            "failed to decode JSON input: {e}"
        ))),
    }
}

fn is_ocsp_request(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/ocsp-request"))
}

/// Builds a logical request from HTTP parts.
pub(crate) fn to_logical(http: &HttpRequest<'_>) -> Result<Request, LogicalError> {
    let (method, raw_path, query, headers, body) =
        (http.method, http.path, http.query, http.headers, http.body);
    let Some(rest) = raw_path.strip_prefix("/v1/") else {
        return Err(LogicalError::NoRoute(
            "no handler for route; Vault API paths start with /v1/".into(),
        ));
    };
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| LogicalError::bad("request path is not valid UTF-8"))?;
    let query_map = parse_query(query);
    let op = operation(method, &query_map)?;
    let data = match op {
        Operation::Read | Operation::List => query_map,
        Operation::Help => Map::new(),
        Operation::Delete => {
            let mut d = query_map;
            d.extend(parse_body(body)?);
            d
        }
        // An OCSP request is DER, not JSON: handed to the engine as it is.
        _ if is_ocsp_request(headers) => Map::new(),
        _ => parse_body(body)?,
    };
    let mut req = Request::new(op, decoded.into_owned()).with_data(data);
    req.client_token = client_token(headers);
    req.remote_addr = http.remote_addr;
    if is_ocsp_request(headers) {
        req.raw_body = Some(body.to_vec());
    }
    req.client_cert_chain = http.client_cert_chain.clone();
    req.remote_port = http.remote_port;
    let mut kept = HashMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        let keep = n == "content-type"
            || n == super::forward::FORWARDED_HEADER
            || (n.starts_with("x-vault-") && n != "x-vault-token");
        if keep {
            if let Ok(v) = value.to_str() {
                kept.insert(n.to_string(), v.to_string());
            }
        }
    }
    req.headers = kept;
    Ok(req)
}

/// Renders a logical response the way Vault does.
pub(crate) fn render(req_id: &str, resp: Response) -> HttpResponse {
    if let Some((content_type, text)) = resp.text {
        return HttpResponse {
            status: StatusCode::from_u16(resp.status.unwrap_or(200)).unwrap_or(StatusCode::OK),
            body: Bytes::from(text),
            content_type: Some(content_type),
            headers: Vec::new(),
        };
    }
    if let Some((content_type, bytes)) = resp.binary {
        return HttpResponse {
            status: StatusCode::from_u16(resp.status.unwrap_or(200)).unwrap_or(StatusCode::OK),
            body: Bytes::from(bytes),
            content_type: Some(content_type),
            headers: Vec::new(),
        };
    }
    if let Some(raw) = resp.raw {
        return HttpResponse::json(resp.status.unwrap_or(200), &raw);
    }
    let empty = resp.data.is_none()
        && resp.auth.is_none()
        && resp.warnings.is_empty()
        && resp.wrap_info.is_none();
    if empty {
        return HttpResponse::no_content(resp.status.unwrap_or(204));
    }
    let auth = resp.auth.as_ref().map(|a| a.to_json());
    let envelope = Envelope {
        auth: auth.as_ref(),
        data: resp.data.as_ref(),
        lease_duration: resp.lease_duration,
        lease_id: &resp.lease_id,
        renewable: resp.renewable,
        request_id: req_id,
        warnings: (!resp.warnings.is_empty()).then_some(&resp.warnings),
        wrap_info: resp.wrap_info.as_ref(),
    };
    let status = StatusCode::from_u16(resp.status.unwrap_or(200))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse {
        status,
        // Serializing maps, strings and numbers cannot fail.
        body: Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default()),
        content_type: None,
        headers: Vec::new(),
    }
}

/// Vault's response envelope, serialized straight from the response's
/// parts (no intermediate `Value` tree: bench/PROFILE.md). The fields are
/// declared in alphabetical order, the order a `serde_json::Map` (a
/// BTreeMap here) would give them, so the bytes are the same as before;
/// `None` serializes as `null`.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    auth: Option<&'a Value>,
    data: Option<&'a Map<String, Value>>,
    lease_duration: u64,
    lease_id: &'a str,
    renewable: bool,
    request_id: &'a str,
    warnings: Option<&'a Vec<String>>,
    wrap_info: Option<&'a Value>,
}

/// Runs one HTTP request through core.
pub(crate) async fn handle(core: &Arc<Core>, http: HttpRequest<'_>) -> HttpResponse {
    use super::forward::{self, Forwarded};
    let forwarded_to_us = http.headers.contains_key(forward::FORWARDED_HEADER);
    let forward_id = http
        .headers
        .get(forward::FORWARD_ID_HEADER)
        .filter(|_| forwarded_to_us)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut budget = forward::Budget::default();
    loop {
        let mut req = match to_logical(&http) {
            Ok(r) => r,
            Err(e) => return HttpResponse::error(&e),
        };
        crate::core::audit::copy_audited_headers(core, http.headers, &mut req);
        let id = req.id.clone();
        let wrote = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let result = crate::ha::fence::run_request(
            core.options.ha.as_deref(),
            wrote.clone(),
            forward_id.clone(),
            // Boxed: the request's future is many KB (every handler's state
            // inline), and run_request moves it several times: 6 memcpys of
            // it were a third of a KV read's instructions (bench/PROFILE.md).
            Box::pin(core.handle(req)),
        )
        .await
        .unwrap_or_else(|| Err(LogicalError::Standby("this node lost the HA lease".into())));
        let wrote = wrote.load(std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(resp) => return render(&id, resp),
            Err(LogicalError::Standby(_)) if wrote => return forward::partially_applied(),
            Err(LogicalError::Standby(why)) => {
                match forward::forward(core, &http, &why, &mut budget).await {
                    Forwarded::Answer(answer) => return answer,
                    Forwarded::RunHere => continue,
                }
            }
            // A sealed node runs nothing: the standby may try the new holder.
            Err(e @ LogicalError::Sealed) if forwarded_to_us => return forward::not_applied(&e),
            Err(e) => return HttpResponse::error(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn token_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(client_token(&h).as_deref(), Some("abc"));
        h.insert("x-vault-token", HeaderValue::from_static("xyz"));
        assert_eq!(client_token(&h).as_deref(), Some("xyz"));
    }

    #[test]
    fn list_via_query_or_method() {
        let q = parse_query(Some("list=true"));
        assert_eq!(operation(&Method::GET, &q).unwrap(), Operation::List);
        let list = Method::from_bytes(b"LIST").unwrap();
        assert_eq!(operation(&list, &Map::new()).unwrap(), Operation::List);
        assert!(operation(&Method::OPTIONS, &Map::new()).is_err());
    }

    #[test]
    fn bad_json_is_a_clear_400() {
        let e = parse_body(b"{\"data\":").unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.messages(),
            vec!["failed to decode JSON input: unexpected EOF"]
        );
        assert_eq!(parse_body(b"[1]").unwrap_err().status(), 400);
        assert!(parse_body(b"").unwrap().is_empty());
    }

    #[test]
    fn envelope_bytes_match_a_json_value() {
        // The envelope must render exactly as the `serde_json::Value` it
        // replaced (keys sorted, absent parts as null).
        let mut data = Map::new();
        data.insert("zeta".into(), Value::from("é\"\n<"));
        data.insert(
            "alpha".into(),
            serde_json::json!({"n": 1, "f": 1.5, "l": [true, null]}),
        );
        for (warnings, wrap, lease) in [
            (vec![], None, ""),
            (
                vec!["careful".to_string()],
                Some(serde_json::json!({"token": "t"})),
                "secret/x/abc",
            ),
        ] {
            let resp = Response {
                data: Some(data.clone()),
                warnings: warnings.clone(),
                wrap_info: wrap.clone(),
                lease_id: lease.to_string(),
                renewable: !lease.is_empty(),
                lease_duration: 2_764_800,
                ..Default::default()
            };
            let expected = serde_json::json!({
                "request_id": "req-1",
                "lease_id": lease,
                "renewable": !lease.is_empty(),
                "lease_duration": 2_764_800u64,
                "data": Value::Object(data.clone()),
                "wrap_info": wrap.unwrap_or(Value::Null),
                "warnings": if warnings.is_empty() { Value::Null } else { Value::from(warnings) },
                "auth": Value::Null,
            });
            let got = render("req-1", resp);
            assert_eq!(got.status, StatusCode::OK);
            assert_eq!(got.body, serde_json::to_vec(&expected).unwrap());
        }
    }

    #[test]
    fn paths_are_decoded() {
        let h = HeaderMap::new();
        let get = |path| HttpRequest {
            method: &Method::GET,
            path,
            query: None,
            headers: &h,
            body: b"",
            remote_addr: None,
            client_cert_chain: Vec::new(),
            remote_port: None,
        };
        let r = to_logical(&get("/v1/secret/data/a%2Fb")).unwrap();
        assert_eq!(r.path, "secret/data/a/b");
        assert!(to_logical(&get("/v2/x")).is_err());
    }
}
