//! Signed and encrypted bundles, checked against independent openers: Java's `javax.crypto` as
//! Android's plugin uses it, Node's `crypto` as the hosted CLI uses it, and OpenSSL-made keys.

mod bundle;
mod fixtures;
mod java;
mod keys;
mod manifest;
mod node;
