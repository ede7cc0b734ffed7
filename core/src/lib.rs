//! The parts of scrap_sga that know nothing of Postgres internals.
//!
//! * [`odoo`]: a read-only client for Odoo, over JSON-2 or JSON-RPC (protocols, login, the
//!   method allowlist).
//! * [`batch`]: how many records to ask for at once, adapted to what Odoo's answers weigh.
//! * [`ident`]: which names coming from a remote server may become SQL identifiers.
//! * [`ids`]: record ids and id ranges.
//! * [`mapping`]: how each Odoo field becomes one or more typed columns, and how a record's
//!   values are converted for them. Pure functions, unit-tested type by type.
pub mod batch;
pub mod ident;
pub mod ids;
pub mod mapping;
pub mod odoo;
