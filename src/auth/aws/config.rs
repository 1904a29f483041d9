//! `config/client`: the STS endpoint logins are sent to, the
//! `X-Vault-AWS-IAM-Server-ID` value they must carry, and the settings Vault
//! clients send along (stored and shown, some unused: Strongroom calls no
//! AWS API that needs credentials of its own).

use serde_json::{json, Map, Value};

use super::endpoint::parse_endpoint;
use super::storage::{load_config, update_entry, ClientConfig, CONFIG_KEY, DEFAULT_MAX_RETRIES};
use super::AwsAuth;
use crate::logical::framework::{no_content, Ctx, DefaultValue, Field, FieldData};
use crate::logical::{LogicalError, LogicalResult, Response};

pub(super) const CONFIG_FIELDS: &[Field] = &[
    Field::string(
        "access_key",
        "AWS Access Key ID for the account used to make AWS API requests.",
    )
    .default(DefaultValue::Str("")),
    Field::string(
        "secret_key",
        "AWS Secret Access Key for the account used to make AWS API requests.",
    )
    .default(DefaultValue::Str("")),
    Field::string(
        "endpoint",
        "URL to override the default generated endpoint for making AWS EC2 API calls.",
    )
    .default(DefaultValue::Str("")),
    Field::string(
        "iam_endpoint",
        "URL to override the default generated endpoint for making AWS IAM API calls.",
    )
    .default(DefaultValue::Str("")),
    Field::string(
        "sts_endpoint",
        "URL to override the default generated endpoint for making AWS STS API calls.",
    )
    .default(DefaultValue::Str("")),
    Field::string("sts_region", "The region ID for the sts_endpoint, if set.")
        .default(DefaultValue::Str("")),
    Field::bool(
        "use_sts_region_from_client",
        "Uses the STS region from client requests for making AWS STS API calls.",
    )
    .default(DefaultValue::Bool(false)),
    Field::string(
        "iam_server_id_header_value",
        "Value to require in the X-Vault-AWS-IAM-Server-ID request header",
    )
    .default(DefaultValue::Str("")),
    Field::comma_strings(
        "allowed_sts_header_values",
        "List of additional headers that are allowed to be in AWS STS request headers",
    ),
    Field::int(
        "max_retries",
        "Maximum number of retries for recoverable exceptions of AWS APIs",
    )
    .default(DefaultValue::Int(DEFAULT_MAX_RETRIES)),
];

impl ClientConfig {
    /// Applies the fields a request set; the others keep their value.
    fn update_from_fields(&mut self, d: &FieldData) -> Result<(), LogicalError> {
        let strings: [(&str, &mut String); 7] = [
            ("access_key", &mut self.access_key),
            ("secret_key", &mut self.secret_key),
            ("endpoint", &mut self.endpoint),
            ("iam_endpoint", &mut self.iam_endpoint),
            ("sts_endpoint", &mut self.sts_endpoint),
            ("sts_region", &mut self.sts_region),
            (
                "iam_server_id_header_value",
                &mut self.iam_server_id_header_value,
            ),
        ];
        for (key, slot) in strings {
            if let Some(s) = d.get_ok::<String>(key) {
                *slot = s.trim().to_string();
            }
        }
        if let Some(b) = d.get_ok::<bool>("use_sts_region_from_client") {
            self.use_sts_region_from_client = b;
        }
        if let Some(n) = d.get_ok::<i64>("max_retries") {
            self.max_retries = n;
        }
        if let Some(list) = d.get_ok::<Vec<String>>("allowed_sts_header_values") {
            for h in &list {
                if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(LogicalError::bad(format!(
                        "allowed_sts_header_values: invalid header name {h:?}"
                    )));
                }
            }
            self.allowed_sts_header_values = list;
        }
        for (key, url) in [
            ("sts_endpoint", &self.sts_endpoint),
            ("endpoint", &self.endpoint),
            ("iam_endpoint", &self.iam_endpoint),
        ] {
            if !url.is_empty() {
                parse_endpoint(url).map_err(|e| LogicalError::bad(format!("{key}: {e}")))?;
            }
        }
        if self.iam_server_id_header_value.len() > 1024
            || http::HeaderValue::from_str(&self.iam_server_id_header_value).is_err()
        {
            return Err(LogicalError::bad(
                "iam_server_id_header_value must be a valid HTTP header value",
            ));
        }
        Ok(())
    }

    /// The read response: everything but `secret_key`.
    fn to_json(&self) -> Map<String, Value> {
        let v = json!({
            "access_key": self.access_key,
            "endpoint": self.endpoint,
            "iam_endpoint": self.iam_endpoint,
            "sts_endpoint": self.sts_endpoint,
            "sts_region": self.sts_region,
            "iam_server_id_header_value": self.iam_server_id_header_value,
            "use_sts_region_from_client": self.use_sts_region_from_client,
            "max_retries": self.max_retries,
            "allowed_sts_header_values": self.allowed_sts_header_values,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

impl AwsAuth {
    pub(super) async fn config_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        Ok(c.view.get(CONFIG_KEY).await?.is_some())
    }

    pub(super) async fn read_config(&self, c: &Ctx<'_>) -> LogicalResult {
        match load_config(c.view).await? {
            Some(cfg) => Ok(Response::data(cfg.to_json())),
            None => Err(LogicalError::NotFound),
        }
    }

    pub(super) async fn write_config(&self, c: &Ctx<'_>) -> LogicalResult {
        // Validate before touching storage.
        ClientConfig::default().update_from_fields(&c.fields)?;
        update_entry(c.view, CONFIG_KEY, |current: Option<ClientConfig>| {
            let mut cfg = current.unwrap_or_default();
            cfg.update_from_fields(&c.fields)?;
            Ok(cfg)
        })
        .await?;
        no_content()
    }

    pub(super) async fn delete_config(&self, c: &Ctx<'_>) -> LogicalResult {
        c.view.delete(CONFIG_KEY).await?;
        no_content()
    }
}
