//! Audit devices (Vault's `sys/audit`): every request and response is
//! recorded, with every secret-bearing string HMAC'd, before the request
//! runs and before its answer leaves the node. Fail closed: a request no
//! device could record is refused.

pub(crate) mod sink;
