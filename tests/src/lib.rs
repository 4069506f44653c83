//! A place for workspace-level tests. The tests that run the real
//! binaries (several processes, network namespaces, the browser) live in
//! `cli/tests/`: Cargo gives the path of the `communecter` binary only to
//! the tests of its own package.
