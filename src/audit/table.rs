//! The audit device table, stored through the barrier at
//! [`AUDIT_TABLE_PATH`] like the mount table: the enabled devices (with
//! their HMAC keys) and the request headers configured for auditing. One
//! record, so every change is one atomic write that also bumps the cluster
//! generation, and every standby reloads it before its next request.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

pub(crate) const AUDIT_TABLE_PATH: &str = "core/audit";

/// A device's HMAC key: 32 random bytes, base64 in storage (behind the
/// barrier), zeroized when dropped, never printed.
#[derive(Clone, PartialEq)]
pub(crate) struct HmacKey(pub(crate) Zeroizing<Vec<u8>>);

impl HmacKey {
    pub(crate) fn generate() -> Self {
        use rand::RngCore;
        let mut k = Zeroizing::new(vec![0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

impl Serialize for HmacKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*self.0));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for HmacKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        Ok(Self(Zeroizing::new(bytes)))
    }
}

/// One enabled device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeviceEntry {
    /// Always ends with `/`, e.g. `file/`.
    pub(crate) path: String,
    #[serde(rename = "type")]
    pub(crate) device_type: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) options: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) local: bool,
    /// Declared in the server configuration rather than through the API.
    #[serde(default)]
    pub(crate) declarative: bool,
    pub(crate) hmac_key: HmacKey,
}

impl DeviceEntry {
    /// Vault's listing shape for one device.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "description": self.description,
            "local": self.local,
            "options": self.options,
            "path": self.path,
            "type": self.device_type,
        })
    }
}

/// `sys/config/auditing/request-headers/:name` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HeaderSetting {
    pub(crate) hmac: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeviceTable {
    #[serde(default)]
    pub(crate) devices: Vec<DeviceEntry>,
    /// Lower-cased header name → setting.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, HeaderSetting>,
}

impl DeviceTable {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("audit table is corrupt: {e}"))
    }

    /// The stored form; zeroized when dropped since it holds the keys.
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|e| e.to_string())
    }

    pub(crate) fn find(&self, path: &str) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.path == path)
    }
}

/// `file` → `file/`: the form paths are stored and compared in.
pub(crate) fn canonical_path(path: &str) -> String {
    let p = path.trim_matches('/');
    format!("{p}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trips_and_hides_keys() {
        let mut t = DeviceTable::default();
        t.devices.push(DeviceEntry {
            path: "file/".into(),
            device_type: "file".into(),
            description: "d".into(),
            options: [("file_path".to_string(), "/tmp/x".to_string())].into(),
            local: false,
            declarative: false,
            hmac_key: HmacKey::generate(),
        });
        t.headers
            .insert("x-request-source".into(), HeaderSetting { hmac: true });
        let bytes = t.encode().unwrap();
        let back = DeviceTable::decode(&bytes).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.devices[0].hmac_key.0.len(), 32);
        assert!(!format!("{:?}", back).contains(&format!("{:?}", &*back.devices[0].hmac_key.0)));
        assert!(DeviceTable::decode(b"{").is_err());
        // Old records without headers still decode.
        assert!(DeviceTable::decode(b"{}").unwrap().devices.is_empty());
    }

    #[test]
    fn listing_shape() {
        let e = DeviceEntry {
            path: "file/".into(),
            device_type: "file".into(),
            description: String::new(),
            options: BTreeMap::new(),
            local: false,
            declarative: false,
            hmac_key: HmacKey::generate(),
        };
        let v = e.to_json();
        assert_eq!(v["path"], "file/");
        assert!(v.get("hmac_key").is_none());
        assert_eq!(canonical_path("/a/b/"), "a/b/");
    }
}
