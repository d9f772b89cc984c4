//! The native fingerprint on real project trees: a Capacitor project written to disk, in a real
//! git repository and without one.

mod declared;
mod dependencies;
mod fingerprint;
mod fixtures;
mod lockfiles;
