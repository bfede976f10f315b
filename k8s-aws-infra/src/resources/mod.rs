//! One module per AWS resource kind, each with the same shape: `find` (by the state's ID, else by
//! tags), a check of immutable fields, `ensure` (create with tags at creation, or fix mutable
//! attributes) and `delete`. Dependencies are typed parameters, so the order is visible.

pub(crate) mod dhcp_options;
pub(crate) mod image;
pub(crate) mod instance;
pub(crate) mod internet_gateway;
pub(crate) mod key_pair;
pub(crate) mod listener;
pub(crate) mod load_balancer;
pub(crate) mod route;
pub(crate) mod route_table;
pub(crate) mod security_group;
pub(crate) mod subnet;
pub(crate) mod target_group;
pub(crate) mod vpc;
