//! # support: what the tests that drive the real binaries share
//!
//! The integration tests and benches of `cli/` run `communecter` as a
//! citizen would: commands on a data directory, nodes and relays as
//! processes, several computers as network namespaces, the web map in a
//! browser. This crate holds the pieces they have in common, so that each
//! test file reads as its scenario alone.
//!
//! - [`process`]: [`Communecter`], the binary on one data directory (run a
//!   command, read its `--json` answer, expect it to fail, see whether an
//!   entity is listed, start a node or a relay on loopback), and
//!   [`Process`], a node, relay or driver that is killed when dropped,
//!   whose address file can be awaited and that can be stopped with
//!   SIGTERM.
//! - [`netns`]: a [`netns::Network`] of Linux network namespaces joined by
//!   virtual Ethernet pairs, removed when dropped, and the checks a test
//!   makes before building one (root, tools installed).
//! - [`http`]: a small HTTP client for a node's API on loopback that reads
//!   error answers as well as successes and may forge the `Host` header.
//! - [`browser`]: a headless Chromium driven through chromedriver, behind
//!   blocking calls (go, wait, click, type) that read like the steps of a
//!   citizen.
//! - [`openapi`]: JSON checked against an OpenAPI document (a value against
//!   a schema, an answer against its route, every example).
//! - [`eventually`] and [`within`]: waiting, bounded, for what other
//!   processes do.
//!
//! Cargo gives the path of the `communecter` binary only to the tests and
//! benches of its own package (`env!("CARGO_BIN_EXE_communecter")`), so it
//! is a parameter here:
//!
//! ```no_run
//! use support::Communecter;
//!
//! let temp = tempfile::tempdir().unwrap();
//! let anne = Communecter::new("target/debug/communecter", temp.path().join("anne"));
//! anne.ok(&["init", "--postal-code", "97400", "--name", "Anne"]);
//! let addr_file = temp.path().join("anne.json");
//! let mut node = anne.start_node(&addr_file, &[]);
//! let published = node.network_addresses(&addr_file);
//! assert!(published["listen"][0].as_str().unwrap().starts_with("/ip4/127.0.0.1/"));
//! let garage = anne.json(&["add", "organization", "--name", "Garage Payet"]);
//! assert!(anne.lists(garage["id"].as_str().unwrap(), &["--kind", "organization"]));
//! assert!(node.terminate().success());
//! ```
//!
//! Everything that waits is bounded: a test that would hang fails instead,
//! saying what it was waiting for.

#![deny(missing_docs)]

pub mod browser;
pub mod http;
pub mod netns;
pub mod openapi;
mod poll;
pub mod process;

pub use poll::{eventually, within};
pub use process::{Communecter, Process};
