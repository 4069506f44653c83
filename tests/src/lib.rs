//! Workspace-level integration tests: multi-process runs of the real
//! binaries, network namespaces and the browser. They arrive with the node;
//! the command-line tests of `communecter` itself live in `cli/tests/`.
