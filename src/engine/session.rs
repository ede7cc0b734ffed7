//! The connection to Odoo of one invocation: opened when the first model needs it, then shared by
//! the invocation's models; a failure to open it is the failure of every model's run.
//!
//! What a server is (its protocol, version, JSON-RPC user id) is found out once and kept with
//! the connection (`scrap_sga.connection.detected_*`): a run opens with it and sends nothing to
//! find its way, so a quiet run against Odoo 16 to 18 asks no route that answers 404. It is
//! found out again every `schema_refresh`, after `set_connection`, and when a call fails in a way
//! that says the server may have changed (see [`Session::may_have_changed`]).
use scrap_sga_core::odoo::OdooError;

use super::remote::Remote;
use crate::catalog::connection::{self, Connection};
use crate::errors::SyncError;
use crate::txn;

pub struct Session {
    conn: Result<Connection, SyncError>,
    remote: Option<Remote>,
    failure: Option<SyncError>,
    /// The remote was opened with what a previous run found out, without asking.
    from_cache: bool,
    /// Keep what is found out in the catalog (not from verify(), inside the caller's transaction).
    remember: bool,
    /// The protocol and the server's version, once known (even if the login then failed).
    pub protocol: Option<&'static str>,
    pub version: Option<String>,
}

impl Session {
    /// Nothing is sent until a model needs Odoo: a failed connection load is reported then, once
    /// per model, in each model's run.
    pub fn new(conn: Result<Connection, SyncError>, remember: bool) -> Session {
        Session { conn, remote: None, failure: None, from_cache: false, remember, protocol: None, version: None }
    }

    /// The open remote.
    pub fn ensure(&mut self) -> Result<&mut Remote, SyncError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if self.remote.is_none() {
            match self.open() {
                Ok(r) => self.remote = Some(r),
                Err(e) => {
                    self.failure = Some(e.clone());
                    return Err(e);
                }
            }
        }
        self.remote.as_mut().ok_or_else(|| SyncError::new(crate::errors::state::INTERNAL, "the connection to Odoo was not kept"))
    }

    fn open(&mut self) -> Result<Remote, SyncError> {
        let conn = self.conn.as_ref().map_err(Clone::clone)?;
        let mut remote = Remote::connect(conn.settings.clone()).map_err(|e| SyncError::from_odoo(&e))?;
        let known = conn.detected.clone();
        self.from_cache = known.is_some();
        let found = remote.open(known.clone()).map_err(|e| SyncError::from_odoo(&e).context("connecting"));
        (self.protocol, self.version) = (remote.protocol(), remote.server_version());
        // Kept as soon as known, even if the login then failed: the run log says what was spoken.
        if let (true, Ok(d)) = (self.remember, &found) {
            if *d != known {
                txn::in_transaction(|| connection::remember(d.as_ref()))?;
            }
        }
        found?;
        Ok(remote)
    }

    /// A model's run failed: when Odoo gave no answer at all (down, after the client's retries),
    /// the invocation's other models fail at once with the same error instead of each trying.
    pub fn note_failure(&mut self, e: &SyncError) {
        if e.odoo.as_ref().is_some_and(|o| o.is_silence()) {
            self.failure = Some(e.clone());
        }
    }

    /// A failure that may come from a server that changed since it was found out (upgraded,
    /// moved, its user's password changed): worth a second try after finding it out again.
    pub fn may_have_changed(&self, e: &SyncError) -> bool {
        let Some(o) = &e.odoo else { return false };
        self.from_cache
            && (o.is_auth_failure() || matches!(o, OdooError::DatabaseNotFound { .. } | OdooError::Http { status: 404, .. } | OdooError::NoProtocol { .. }))
    }

    /// Find the server out again at the next [`Session::ensure`], and forget what was kept.
    pub fn rediscover(&mut self) -> Result<(), SyncError> {
        self.remote = None;
        self.failure = None;
        if let Ok(conn) = &mut self.conn {
            conn.detected = None;
        }
        if self.remember {
            txn::in_transaction(|| connection::remember(None))?;
        }
        Ok(())
    }

    /// The remote, if it was opened.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// Keep how the server answered fingerprints in this invocation, if that is news.
    pub fn remember_findings(&mut self) -> Result<(), SyncError> {
        let (Some(remote), true) = (&self.remote, self.remember) else { return Ok(()) };
        let Some(found) = remote.fingerprint_support() else { return Ok(()) };
        let known = self.conn.as_ref().ok().and_then(|c| c.detected.as_ref()).map(|d| d.fingerprints);
        if known != Some(found) && found != scrap_sga_core::odoo::fingerprint::Support::Unknown {
            txn::in_transaction(|| connection::remember_fingerprints(found))?;
            if let Ok(Connection { detected: Some(d), .. }) = &mut self.conn {
                d.fingerprints = found;
            }
        }
        Ok(())
    }
}
