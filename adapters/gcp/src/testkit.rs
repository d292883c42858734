//! Test support (feature `testkit`): the shared replay server (from `costkit-rest`), standing in
//! for the metadata server and for Google APIs' error and retry paths.

pub use costkit_rest::testkit::{Replay, Seen};
