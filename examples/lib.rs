//! Runnable examples of the k8s-hard libraries, one program each: see the `.rs` files beside
//! this one, `cargo run -p k8s-hard-examples --example <name>`. This library is empty; it only
//! gives the examples a package, and its tests build and run every example.
