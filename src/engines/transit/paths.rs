//! Every transit path, declared once (first match wins).

use crate::logical::framework::{DefaultValue, Field, PathSpec, Paths};
use crate::{existence, handler};

use super::Transit;

const HELP: &str = "The transit backend encrypts, decrypts, signs and verifies data with named keys it never reveals.";

const NAME: Field = Field::string("name", "Name of the key");

const KEY_FIELDS: &[Field] = &[
    NAME,
    Field::string("type", "The type of key to create").default(DefaultValue::Str("aes256-gcm96")),
    Field::bool("derived", "Enables key derivation mode"),
    Field::bool(
        "convergent_encryption",
        "Whether to support convergent encryption (requires derived)",
    ),
    Field::bool("exportable", "Enables keys to be exportable"),
    Field::bool(
        "allow_plaintext_backup",
        "Enables taking a backup of the named key in plaintext format",
    ),
    Field::duration(
        "auto_rotate_period",
        "Amount of time the key should live before being automatically rotated",
    ),
    Field::int(
        "key_size",
        "The key size in bytes for algorithms that allow variable key sizes",
    ),
    Field::string(
        "context",
        "Base64 encoded context for key derivation (public key of a derived key)",
    ),
    Field::string(
        "managed_key_name",
        "The name of the managed key to use for this transit key",
    ),
    Field::string(
        "managed_key_id",
        "The UUID of the managed key to use for this transit key",
    ),
];

const CONFIG_FIELDS: &[Field] = &[
    NAME,
    Field::int("min_decryption_version", "If set, the minimum version of the key allowed to be decrypted"),
    Field::int("min_encryption_version", "If set, the minimum version of the key allowed to be used for encryption"),
    Field::bool("deletion_allowed", "Whether to allow deletion of the key"),
    Field::bool("exportable", "Enables export of the key. Once set, this cannot be disabled."),
    Field::bool("allow_plaintext_backup", "Enables taking a backup of the named key in plaintext format. Once set, this cannot be disabled."),
    Field::duration("auto_rotate_period", "Amount of time the key should live before being automatically rotated"),
];

const ENCRYPT_FIELDS: &[Field] = &[
    NAME,
    Field::string(
        "plaintext",
        "Base64 encoded plaintext value to be encrypted",
    ),
    Field::string("context", "Base64 encoded context for key derivation"),
    Field::string(
        "nonce",
        "Base64 encoded nonce value (convergent version 1 only)",
    ),
    Field::int(
        "key_version",
        "The version of the key to use for encryption",
    ),
    Field::string(
        "associated_data",
        "Base64 encoded associated data for AEAD ciphers",
    ),
    Field::string(
        "type",
        "The type of key to create if the key does not exist",
    )
    .default(DefaultValue::Str("aes256-gcm96")),
    Field::bool(
        "convergent_encryption",
        "Whether a key created by this request supports convergent encryption",
    ),
    Field::raw(
        "batch_input",
        "A list of items to be encrypted in a single batch",
    ),
    Field::string("reference", "A reference echoed in the batch results"),
    Field::string(
        "partial_failure_response_code",
        "Status code for a batch with some failed items",
    ),
];

const DECRYPT_FIELDS: &[Field] = &[
    NAME,
    Field::string("ciphertext", "The ciphertext to decrypt"),
    Field::string("context", "Base64 encoded context for key derivation"),
    Field::string("nonce", "Base64 encoded nonce value"),
    Field::int("key_version", "The version of the key to rewrap to"),
    Field::string(
        "associated_data",
        "Base64 encoded associated data for AEAD ciphers",
    ),
    Field::raw(
        "batch_input",
        "A list of items to be processed in a single batch",
    ),
    Field::string("reference", "A reference echoed in the batch results"),
    Field::string(
        "partial_failure_response_code",
        "Status code for a batch with some failed items",
    ),
];

const DATAKEY_FIELDS: &[Field] = &[
    NAME,
    Field::string(
        "plaintext",
        "\"plaintext\" also returns the key; \"wrapped\" only its ciphertext",
    ),
    Field::string("context", "Base64 encoded context for key derivation"),
    Field::string("nonce", "Base64 encoded nonce value"),
    Field::int("bits", "Number of bits for the key; 128, 256 or 512")
        .default(DefaultValue::Int(256)),
    Field::int("key_version", "The version of the key to use"),
];

const SIGN_FIELDS: &[Field] = &[
    NAME,
    Field::string("urlalgorithm", "Hash algorithm to use (POST URL parameter)"),
    Field::string("input", "The base64-encoded input data"),
    Field::string("context", "Base64 encoded context for key derivation"),
    Field::int("key_version", "The version of the key to use"),
    Field::string("hash_algorithm", "Hash algorithm to use").default(DefaultValue::Str("sha2-256")),
    Field::string("algorithm", "Deprecated: use hash_algorithm"),
    Field::bool("prehashed", "Set if the input is already hashed"),
    Field::string(
        "signature_algorithm",
        "The RSA signature algorithm: pss (default) or pkcs1v15",
    ),
    Field::string("marshaling_algorithm", "asn1 (default) or jws")
        .default(DefaultValue::Str("asn1")),
    Field::string("salt_length", "The PSS salt length: auto or hash")
        .default(DefaultValue::Str("auto")),
    Field::raw(
        "batch_input",
        "A list of items to be processed in a single batch",
    ),
    Field::string("reference", "A reference echoed in the batch results"),
];

const VERIFY_FIELDS: &[Field] = &[
    NAME,
    Field::string("urlalgorithm", "Hash algorithm to use (POST URL parameter)"),
    Field::string("input", "The base64-encoded input data"),
    Field::string("signature", "The signature to verify"),
    Field::string("hmac", "The HMAC to verify"),
    Field::string("context", "Base64 encoded context for key derivation"),
    Field::string("hash_algorithm", "Hash algorithm to use").default(DefaultValue::Str("sha2-256")),
    Field::string("algorithm", "Deprecated: use hash_algorithm"),
    Field::bool("prehashed", "Set if the input is already hashed"),
    Field::string(
        "signature_algorithm",
        "The RSA signature algorithm: pss (default) or pkcs1v15",
    ),
    Field::string("marshaling_algorithm", "asn1 (default) or jws")
        .default(DefaultValue::Str("asn1")),
    Field::string("salt_length", "The PSS salt length: auto or hash")
        .default(DefaultValue::Str("auto")),
    Field::raw(
        "batch_input",
        "A list of items to be processed in a single batch",
    ),
    Field::string("reference", "A reference echoed in the batch results"),
];

const HMAC_FIELDS: &[Field] = &[
    NAME,
    Field::string("urlalgorithm", "Algorithm to use (POST URL parameter)"),
    Field::string("input", "The base64-encoded input data"),
    Field::string("algorithm", "Algorithm to use (POST body parameter)")
        .default(DefaultValue::Str("sha2-256")),
    Field::int("key_version", "The version of the key to use"),
    Field::raw(
        "batch_input",
        "A list of items to be processed in a single batch",
    ),
    Field::string("reference", "A reference echoed in the batch results"),
];

const HASH_FIELDS: &[Field] = &[
    Field::string("urlalgorithm", "Algorithm to use (POST URL parameter)"),
    Field::string("input", "The base64-encoded input data"),
    Field::string("algorithm", "Algorithm to use (POST body parameter)")
        .default(DefaultValue::Str("sha2-256")),
    Field::string("format", "Encoding format: hex (default) or base64")
        .default(DefaultValue::Str("hex")),
];

const RANDOM_FIELDS: &[Field] = &[
    Field::string("source", "Entropy source: platform, seal or all"),
    Field::string(
        "urlbytes",
        "The number of bytes to generate (POST URL parameter)",
    ),
    Field::int("bytes", "The number of bytes to generate").default(DefaultValue::Int(32)),
    Field::string("format", "Encoding format: base64 (default) or hex")
        .default(DefaultValue::Str("base64")),
];

const EXPORT_FIELDS: &[Field] = &[
    Field::string(
        "type",
        "Type of key to export (encryption-key, signing-key, hmac-key, public-key)",
    ),
    NAME,
    Field::string("version", "Version of the key"),
];

const RESTORE_FIELDS: &[Field] = &[
    NAME,
    Field::string("backup", "Backed up key data to be restored"),
    Field::bool("force", "Overwrite an existing key of the same name"),
];

pub(crate) fn paths() -> Paths<Transit> {
    Paths::new(
        HELP,
        vec![
            PathSpec::new("keys")
                .list(handler!(Transit::list_keys))
                .help("Managed named encryption keys", "List the named keys."),
            PathSpec::new("keys/{name}/config")
                .fields(CONFIG_FIELDS)
                .write(handler!(Transit::config_key))
                .help(
                    "Configure a named encryption key",
                    "Change a key's settings.",
                ),
            PathSpec::new("keys/{name}/rotate")
                .fields(&[
                    NAME,
                    Field::string("managed_key_name", ""),
                    Field::string("managed_key_id", ""),
                ])
                .write(handler!(Transit::rotate_key))
                .help(
                    "Rotate named encryption key",
                    "Add a new latest version to the key.",
                ),
            PathSpec::new("keys/{name}/trim")
                .fields(&[
                    NAME,
                    Field::int(
                        "min_available_version",
                        "The minimum available version for the key ring",
                    ),
                ])
                .write(handler!(Transit::trim_key))
                .help(
                    "Trim key versions of a named key",
                    "Delete versions below min_available_version.",
                ),
            PathSpec::new("keys/{name}")
                .fields(KEY_FIELDS)
                .write(handler!(Transit::create_key))
                .read(handler!(Transit::read_key))
                .delete(handler!(Transit::delete_key))
                .help(
                    "Managed named encryption keys",
                    "Create, read or delete a named key.",
                ),
            PathSpec::new("export/{type}/{name}/{version}")
                .fields(EXPORT_FIELDS)
                .read(handler!(Transit::export))
                .help(
                    "Export named encryption or signing key",
                    "Export one version of a key.",
                ),
            PathSpec::new("export/{type}/{name}")
                .fields(EXPORT_FIELDS)
                .read(handler!(Transit::export))
                .help(
                    "Export named encryption or signing key",
                    "Export every version of a key.",
                ),
            PathSpec::new("backup/{name}")
                .fields(&[NAME])
                .read(handler!(Transit::backup))
                .help(
                    "Backup the named key",
                    "A plaintext backup of the key and its versions.",
                ),
            PathSpec::new("restore/{name}")
                .fields(RESTORE_FIELDS)
                .write(handler!(Transit::restore))
                .help("Restore the named key", "Restore a backup under this name."),
            PathSpec::new("restore")
                .fields(RESTORE_FIELDS)
                .write(handler!(Transit::restore))
                .help(
                    "Restore the named key",
                    "Restore a backup under its own name.",
                ),
            PathSpec::new("encrypt/{name}")
                .fields(ENCRYPT_FIELDS)
                .write(handler!(Transit::encrypt))
                .exists(existence!(Transit::key_exists))
                .help(
                    "Encrypt a plaintext value or a batch of plaintext blocks using a named key",
                    "Encrypt with the key (creating it when missing).",
                ),
            PathSpec::new("decrypt/{name}")
                .fields(DECRYPT_FIELDS)
                .write(handler!(Transit::decrypt))
                .help(
                    "Decrypt a ciphertext value using a named key",
                    "Decrypt with the key.",
                ),
            PathSpec::new("rewrap/{name}")
                .fields(DECRYPT_FIELDS)
                .write(handler!(Transit::rewrap))
                .help(
                    "Rewrap ciphertext",
                    "Re-encrypt a ciphertext with the latest (or given) version.",
                ),
            PathSpec::new("datakey/{plaintext}/{name}")
                .fields(DATAKEY_FIELDS)
                .write(handler!(Transit::datakey))
                .help(
                    "Generate a data key",
                    "A random key, encrypted with the named key.",
                ),
            PathSpec::new("hmac/{name}/{urlalgorithm}")
                .fields(HMAC_FIELDS)
                .write(handler!(Transit::hmac))
                .help("Generate an HMAC for input data using the named key", ""),
            PathSpec::new("hmac/{name}")
                .fields(HMAC_FIELDS)
                .write(handler!(Transit::hmac))
                .help("Generate an HMAC for input data using the named key", ""),
            PathSpec::new("sign/{name}/{urlalgorithm}")
                .fields(SIGN_FIELDS)
                .write(handler!(Transit::sign))
                .help(
                    "Generate a signature for input data using the named key",
                    "",
                ),
            PathSpec::new("sign/{name}")
                .fields(SIGN_FIELDS)
                .write(handler!(Transit::sign))
                .help(
                    "Generate a signature for input data using the named key",
                    "",
                ),
            PathSpec::new("verify/{name}/{urlalgorithm}")
                .fields(VERIFY_FIELDS)
                .write(handler!(Transit::verify))
                .help(
                    "Verify a signature or HMAC for input data created using the named key",
                    "",
                ),
            PathSpec::new("verify/{name}")
                .fields(VERIFY_FIELDS)
                .write(handler!(Transit::verify))
                .help(
                    "Verify a signature or HMAC for input data created using the named key",
                    "",
                ),
            PathSpec::new("hash/{urlalgorithm}")
                .fields(HASH_FIELDS)
                .write(handler!(Transit::hash))
                .help("Generate a hash sum for input data", ""),
            PathSpec::new("hash")
                .fields(HASH_FIELDS)
                .write(handler!(Transit::hash))
                .help("Generate a hash sum for input data", ""),
            PathSpec::new("random/{source}/{urlbytes}")
                .fields(RANDOM_FIELDS)
                .write(handler!(Transit::random))
                .help("Generate random bytes", ""),
            PathSpec::new("random/{source}")
                .fields(RANDOM_FIELDS)
                .write(handler!(Transit::random))
                .help("Generate random bytes", ""),
            PathSpec::new("random")
                .fields(RANDOM_FIELDS)
                .write(handler!(Transit::random))
                .help("Generate random bytes", ""),
            PathSpec::new("cache-config")
                .fields(&[Field::int("size", "Size of the cache")])
                .read(handler!(Transit::read_cache_config))
                .write(handler!(Transit::write_cache_config))
                .help("Configure caching strategy", ""),
        ],
    )
}
