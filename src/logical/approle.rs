//! approle
