//! `random(/<source>)(/<bytes>)`, `hash(/<algorithm>)`, `cache-config`:
//! no key involved.

use serde_json::json;

use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response};

use super::crypto::{b64, b64_decode, HashAlg};
use super::Transit;

const MAX_RANDOM_BYTES: i64 = 128 * 1024;

fn encode(bytes: &[u8], format: &str) -> Result<String, LogicalError> {
    match format {
        "hex" => Ok(hex::encode(bytes)),
        "base64" => Ok(b64(bytes)),
        other => Err(LogicalError::bad(format!(
            "unsupported encoding format {other}; must be \"hex\" or \"base64\""
        ))),
    }
}

impl Transit {
    pub(crate) async fn random(&self, c: &Ctx<'_>) -> LogicalResult {
        // `random/<x>` is a source when it names one, else a byte count.
        let (mut source, mut url_bytes) = (c.path("source").to_string(), c.path("urlbytes"));
        if url_bytes.is_empty() && !matches!(source.as_str(), "" | "platform" | "seal" | "all") {
            url_bytes = c.path("source");
            source.clear();
        }
        if !matches!(source.as_str(), "" | "platform" | "seal" | "all") {
            return Err(LogicalError::bad(format!(
                "unsupported entropy source {source:?}"
            )));
        }
        let bytes = if url_bytes.is_empty() {
            c.fields.get::<i64>("bytes").unwrap_or(32)
        } else {
            url_bytes
                .parse::<i64>()
                .map_err(|e| LogicalError::bad(format!("error parsing url-set byte count: {e}")))?
        };
        if bytes < 1 {
            return Err(LogicalError::bad("number of bytes must be positive"));
        }
        if bytes > MAX_RANDOM_BYTES {
            return Err(LogicalError::bad(format!(
                "number of bytes requested exceeds maximum of {MAX_RANDOM_BYTES}"
            )));
        }
        let format = c
            .fields
            .get::<String>("format")
            .unwrap_or_else(|| "base64".into());
        let out = encode(&super::keygen::random_bytes(bytes as usize), &format)?;
        Ok(Response::json(json!({ "random_bytes": out })))
    }

    pub(crate) async fn hash(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = match c.path("urlalgorithm") {
            "" => c
                .fields
                .get::<String>("algorithm")
                .unwrap_or_else(|| "sha2-256".into()),
            s => s.to_string(),
        };
        let alg = HashAlg::parse(&name)
            .filter(|a| *a != HashAlg::None)
            .ok_or_else(|| LogicalError::bad(format!("unsupported algorithm {name}")))?;
        let format = c
            .fields
            .get::<String>("format")
            .unwrap_or_else(|| "hex".into());
        if !matches!(format.as_str(), "hex" | "base64") {
            return Err(LogicalError::bad(format!(
                "unsupported encoding format {format}; must be \"hex\" or \"base64\""
            )));
        }
        let input = b64_decode(&c.fields.str("input"))
            .map_err(|e| LogicalError::bad(format!("unable to decode input as base64: {e}")))?;
        let sum = encode(&alg.digest(&input), &format)?;
        Ok(Response::json(json!({ "sum": sum })))
    }

    pub(crate) async fn read_cache_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let size = match c.view.get("cache-config").await? {
            Some(b) => serde_json::from_slice::<i64>(&b).unwrap_or(0),
            None => 0,
        };
        Ok(Response::json(json!({ "size": size })))
    }

    pub(crate) async fn write_cache_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let size = c.fields.get::<i64>("size").unwrap_or(0);
        if size != 0 && size < 10 {
            return Err(LogicalError::bad(
                "size must be 0 or a value greater or equal to 10",
            ));
        }
        c.view
            .put("cache-config", size.to_string().as_bytes())
            .await?;
        let mut resp = Response::json(json!({ "size": size }));
        resp.warnings
            .push("cache configurations will be applied when this backend is restarted".into());
        Ok(resp)
    }
}
