//! The connection to Odoo of one invocation: opened when the first model needs it (protocol
//! chosen, logged in), then shared by the invocation's models; a failure to open it is the
//! failure of every model's run.
use scrap_sga_core::odoo::Settings;

use super::odoo_error;
use super::remote::Remote;
use crate::errors::SyncError;

pub struct Session {
    settings: Result<Settings, SyncError>,
    pub remote: Option<Remote>,
    pub version: Option<String>,
    pub protocol: Option<&'static str>,
    failure: Option<SyncError>,
}

impl Session {
    /// Nothing is sent until a model needs Odoo: a failed connection load is reported then, once
    /// per model, in each model's run.
    pub fn new(settings: Result<Settings, SyncError>) -> Session {
        Session { settings, remote: None, version: None, protocol: None, failure: None }
    }

    pub fn ensure(&mut self) -> Result<(), SyncError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if self.remote.is_none() {
            let made = (|| -> Result<Remote, SyncError> {
                let mut remote = Remote::connect(self.settings.clone()?)?;
                let (opened, _) = remote.call(|c| c.open());
                // Known even when the login then fails: the run log says what was spoken.
                self.version = remote.server_version();
                self.protocol = remote.protocol();
                opened.map_err(|e| odoo_error(&e).context("connecting"))?;
                Ok(remote)
            })();
            match made {
                Ok(r) => self.remote = Some(r),
                Err(e) => {
                    self.failure = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    pub fn requests(&self) -> u64 {
        self.remote.as_ref().map(|r| r.requests_sent()).unwrap_or(0)
    }
}
