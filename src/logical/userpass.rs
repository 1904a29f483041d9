//! userpass
