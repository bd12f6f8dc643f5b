//! The REST contract both faces speak: the request and response bodies and the route table.
//!
//! Layer: faces, shared. The server ([`crate::server`]) reads requests into these types and
//! answers with them; the CLI ([`crate::cli`]) builds its requests from the same types and
//! paths from the same table, so the two cannot disagree about the wire.
//!
//! May import: the base (`model`, `crypto`, `clock`, `error`) and the services (`rbac`,
//! `customer_data`). Never `server` or `cli`: they import this.
//!
//! Invariants: each body has one definition here, and it serializes and deserializes to
//! exactly the JSON Key Vault uses (field names, omitted empty fields), which the Azure
//! SDKs depend on; each call is one row of [`routes::ROUTES`], which names its path, its
//! operation, its data action and its access-log name.

pub mod admin;
pub mod certificates;
pub mod keys;
pub mod management;
pub mod roles;
pub mod routes;
pub mod secrets;
pub mod unimplemented;
pub mod versions;

pub use admin::*;
pub use certificates::*;
pub use keys::*;
pub use management::*;
pub use roles::*;
pub use routes::{encode_segment, object_name, Access, Lookup, Op, Params, Route, ROUTES};
pub use secrets::*;
