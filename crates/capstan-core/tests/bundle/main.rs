//! Bundle packing and inspection against real tools: `unzip`, `sha256sum`, `zip`, and Java's
//! `ZipInputStream` (how Android's plugin extracts).

mod fixtures;
mod inspect;
mod pack;
mod regression;
