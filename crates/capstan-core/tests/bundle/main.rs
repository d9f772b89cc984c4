//! Bundle packing and inspection against real tools: `unzip`, `sha256sum`, `zip`, Java's
//! `ZipInputStream` (how Android's plugin extracts), and `brotli` (the reference decoder) for
//! delta-update artifacts.

mod artifacts;
mod fixtures;
mod inspect;
mod pack;
mod regression;
