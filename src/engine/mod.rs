//! The sync engine: for each model, plan (fields → columns), fetch pages from Odoo with no
//! transaction open, and apply each page in a short transaction of its own.
//!
//! Paging is a keyset on `id` (`id > last id seen`, `order id asc`) inside the window
//! `write_date >= cursor - lookback`: unlike offset paging it neither skips nor repeats a record
//! when Odoo changes under us. The cursor moves only when the whole run has committed, so a run
//! that dies half-way is simply done again, and upserts make that harmless.
pub mod apply;
mod fetch;
pub mod schema;

use pgrx::prelude::*;
use scrap_sga_core::mapping::{self, OdooField};
use scrap_sga_core::odoo::{Client, OdooError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::{self, ModelConf};
use crate::errors::{state, SyncError};
use crate::txn;

/// What started a run, as recorded in `sync_run.trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Worker,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Worker => "worker",
        }
    }
}

pub struct Invocation {
    pub id: i64,
    pub trigger: Trigger,
    /// One model, or every enabled model.
    pub model: Option<String>,
    /// Manual runs wait for a run of the same model already under way; the worker skips it.
    pub wait_for_lock: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub model: String,
    pub odoo_secs: f64,
    pub db_secs: f64,
    pub run_id: i64,
    pub skipped: bool,
    pub error: Option<SyncError>,
    pub fetched: i64,
    pub written: i64,
}

fn shutdown_requested() -> bool {
    unsafe { std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0 }
}

fn check_interrupts() -> Result<(), SyncError> {
    if shutdown_requested() {
        return Err(SyncError::new(state::ADMIN_SHUTDOWN, "stopped: the server is shutting down or the run was cancelled"));
    }
    Ok(())
}

/// The Odoo login, made once per invocation and shared by its models.
struct Session {
    client: Option<Client>,
    version: Option<String>,
    failure: Option<SyncError>,
}

impl Session {
    fn client(&mut self, settings: &Result<scrap_sga_core::odoo::Settings, SyncError>) -> Result<&Client, SyncError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if self.client.is_none() {
            let made = (|| -> Result<Client, SyncError> {
                let s = settings.clone()?;
                let interrupt: scrap_sga_core::odoo::Interrupt = Arc::new(shutdown_requested);
                let mut c = Client::new(s, Some(interrupt))?;
                self.version = c.version().ok();
                c.authenticate().map_err(|e| SyncError::from_odoo(&e).context("login"))?;
                Ok(c)
            })();
            match made {
                Ok(c) => self.client = Some(c),
                Err(e) => {
                    self.failure = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(self.client.as_ref().unwrap())
    }
}

/// Run every model of an invocation. Failures are recorded in the run log, never raised: the
/// caller (a worker) reads the outcome there.
pub fn run(inv: &Invocation) -> Vec<Outcome> {
    let models = match txn::run(|| catalog::models(inv.model.as_deref())) {
        Ok(m) => m,
        Err(e) => {
            let name = inv.model.clone().unwrap_or_else(|| "*".into());
            let _ = txn::run(|| {
                Spi::connect_mut(|c| {
                    let run_id = catalog::start_run(c, inv.id, &name, inv.trigger.as_str(), None)?;
                    finish_failed(c, run_id, &e, 0, &Outcome::default())
                })
            });
            return vec![Outcome { model: name, error: Some(e), ..Default::default() }];
        }
    };
    let mirrored: BTreeMap<String, String> = models.iter().map(|m| (m.model.clone(), m.table_name.clone())).collect();
    let settings = txn::run(catalog::load_connection);
    let mut session = Session { client: None, version: None, failure: None };
    models.iter().map(|conf| run_model(inv, conf, &settings, &mut session, &mirrored)).collect()
}

fn lock_key(model: &str) -> String {
    format!("hashtext('scrap_sga'), hashtext({})", scrap_sga_core::ident::literal(model))
}

fn run_model(
    inv: &Invocation,
    conf: &ModelConf,
    settings: &Result<scrap_sga_core::odoo::Settings, SyncError>,
    session: &mut Session,
    mirrored: &BTreeMap<String, String>,
) -> Outcome {
    let mut out = Outcome { model: conf.model.clone(), ..Default::default() };
    let key = lock_key(&conf.model);
    // A session-level advisory lock: it outlives the page transactions, and a manual sync()
    // and the worker can never work on the same model at once.
    let locked = txn::run(|| {
        let sql = if inv.wait_for_lock { format!("SELECT pg_advisory_lock({key}), true") } else { format!("SELECT null::void, pg_try_advisory_lock({key})") };
        Ok(Spi::get_two::<(), bool>(&sql)?.1.unwrap_or(false))
    });
    match locked {
        Ok(true) => {}
        Ok(false) => {
            out.skipped = true;
            return out;
        }
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    }
    let started = txn::run(|| Spi::connect_mut(|c| catalog::start_run(c, inv.id, &conf.model, inv.trigger.as_str(), conf.cursor.as_deref())));
    match started {
        Ok(run_id) => {
            out.run_id = run_id;
            let requests_before = session.client.as_ref().map(|c| c.requests_sent()).unwrap_or(0);
            let result = sync_model(conf, settings, session, mirrored, run_id, &mut out);
            let requests = session.client.as_ref().map(|c| c.requests_sent()).unwrap_or(0) - requests_before;
            let finished = match &result {
                Ok(done) => txn::run(|| finish_succeeded(conf, run_id, done, session.version.as_deref(), requests, &out)),
                Err(e) => txn::run(|| Spi::connect_mut(|c| finish_failed(c, run_id, e, requests, &out))),
            };
            match (result, finished) {
                (Err(e), _) | (Ok(_), Err(e)) => {
                    warning!("scrap_sga: sync of {} failed (run {run_id}): {}", conf.model, e.message);
                    out.error = Some(e);
                }
                (Ok(done), Ok(())) => {
                    if out.written > 0 || !done.schema_changes.is_empty() {
                        log!("scrap_sga: synced {} (run {run_id}): {} fetched, {} written", conf.model, out.fetched, out.written);
                    }
                }
            }
        }
        Err(e) => out.error = Some(e),
    }
    let _ = txn::run(|| Ok(Spi::run(&format!("SELECT pg_advisory_unlock({key})"))?));
    out
}

struct Done {
    cursor_after: Option<String>,
    schema_changes: Vec<String>,
}

fn finish_succeeded(conf: &ModelConf, run_id: i64, done: &Done, version: Option<&str>, requests: u64, out: &Outcome) -> Result<(), SyncError> {
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE scrap_sga.sync_run SET status = 'succeeded', finished_at = clock_timestamp(),
                    unchanged = fetched - inserted - updated - restored - failed,
                    cursor_after = $2::timestamp AT TIME ZONE 'UTC', odoo_version = $3, schema_changes = $4, requests = $5,
                    odoo_time = make_interval(secs => $6), db_time = make_interval(secs => $7)
             WHERE run_id = $1",
            None,
            &[run_id.into(), done.cursor_after.as_deref().into(), version.into(), done.schema_changes.clone().into(), (requests as i32).into(), out.odoo_secs.into(), out.db_secs.into()],
        )?;
        // The cursor only moves forward, and only once everything before it is committed.
        c.update(
            "UPDATE scrap_sga.model SET cursor = greatest(cursor, $2::timestamp AT TIME ZONE 'UTC') WHERE model = $1",
            None,
            &[conf.model.as_str().into(), done.cursor_after.as_deref().into()],
        )?;
        Ok(())
    })
}

fn finish_failed(c: &mut pgrx::spi::SpiClient<'_>, run_id: i64, e: &SyncError, requests: u64, out: &Outcome) -> Result<(), SyncError> {
    c.update(
        "UPDATE scrap_sga.sync_run SET status = 'failed', finished_at = clock_timestamp(),
                unchanged = fetched - inserted - updated - restored - failed, sqlstate = $2, error = $3, requests = $4,
                odoo_time = make_interval(secs => $5), db_time = make_interval(secs => $6)
         WHERE run_id = $1",
        None,
        &[run_id.into(), e.sqlstate.into(), e.message.as_str().into(), (requests as i32).into(), out.odoo_secs.into(), out.db_secs.into()],
    )?;
    Ok(())
}

/// Odoo datetime text minus some seconds (the lookback window).
fn minus_seconds(odoo_datetime: &str, secs: i64) -> String {
    match chrono::NaiveDateTime::parse_from_str(odoo_datetime, "%Y-%m-%d %H:%M:%S") {
        Ok(t) => (t - chrono::Duration::seconds(secs)).format("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => "1970-01-01 00:00:00".into(),
    }
}

fn sync_model(
    conf: &ModelConf,
    settings: &Result<scrap_sga_core::odoo::Settings, SyncError>,
    session: &mut Session,
    mirrored: &BTreeMap<String, String>,
    run_id: i64,
    out: &mut Outcome,
) -> Result<Done, SyncError> {
    let model = conf.model.as_str();
    let client = session.client(settings)?;

    // Plan: ask Odoo for the fields when due, otherwise reuse what it said last time.
    let mut schema_changes = Vec::new();
    let known = txn::run(|| catalog::known_fields(model))?;
    let fields: Vec<OdooField> = if conf.schema_due || known.is_empty() {
        let answer = client.fields_get(model).map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: fields_get")))?;
        answer.iter().map(|(name, attrs)| OdooField::from_fields_get(name, attrs)).collect()
    } else {
        known
    };
    let plan = mapping::plan_model(&fields).map_err(|e| SyncError::new(state::DATA_EXCEPTION, format!("{model}: {e}")))?;
    if conf.schema_due || txn::run(|| catalog::known_fields(model))?.is_empty() {
        schema_changes.extend(txn::run(|| catalog::save_fields(model, &fields, &plan))?);
    }
    schema_changes.extend(txn::run(|| schema::ensure_table(conf, &plan, mirrored))?);
    check_interrupts()?;

    let upsert = apply::Upsert::new(&conf.table_schema, &conf.table_name, &plan);
    let names = plan.field_names();
    let since = conf.cursor.as_deref().map(|c| minus_seconds(c, conf.lookback_secs));
    let domain_after = |last_id: i64| {
        let mut d = Vec::new();
        if let Some(s) = &since {
            d.push(json!(["write_date", ">=", s]));
        }
        d.push(json!(["id", ">", last_id]));
        Value::Array(d)
    };
    let mut last_id: i64 = 0;
    let mut max_write_date: Option<String> = conf.cursor.clone();
    let mut page_no = 0;
    // The client travels to the fetch thread and back with each page.
    let mut client = session.client.take();
    let mut inflight = Some(fetch::start(client.take().unwrap(), model.to_owned(), domain_after(0), names.clone(), conf.page_size));
    let result = (|| -> Result<(), SyncError> {
        while let Some(pending) = inflight.take() {
            page_no += 1;
            let (c, page, waited) = pending.wait().map_err(|e| SyncError::new(state::INTERNAL, e))?;
            client = Some(c);
            out.odoo_secs += waited.as_secs_f64();
            let page = page.map_err(|e| page_error(&e, model, page_no, last_id))?;
            check_interrupts()?;
            let n = page.len();
            if n == 0 {
                break;
            }
            let page_last = page.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).max().unwrap_or(last_id);
            if n >= conf.page_size {
                inflight = Some(fetch::start(client.take().unwrap(), model.to_owned(), domain_after(page_last), names.clone(), conf.page_size));
            }
            let mut rows: BTreeMap<i64, Map<String, Value>> = BTreeMap::new();
            for rec in &page {
                let id = rec.get("id").and_then(Value::as_i64).ok_or_else(|| {
                    SyncError::new(state::PROTOCOL_VIOLATION, format!("{model}: page {page_no}: a record without an integer id"))
                })?;
                if let Some(wd) = rec.get("write_date").and_then(Value::as_str) {
                    if max_write_date.as_deref().is_none_or(|m| wd > m) {
                        max_write_date = Some(wd.to_owned());
                    }
                }
                let converted = mapping::convert_record(&plan, rec)
                    .map_err(|e| SyncError::from_convert(&e).context(format!("{model}: record {id}")))?;
                rows.insert(id, converted);
            }
            drop(page);
            let doc = serde_json::to_string(&rows.into_values().collect::<Vec<_>>()).expect("JSON values serialize");
            let t0 = std::time::Instant::now();
            let counts = txn::run(|| {
                let counts = upsert.apply(&doc, run_id).map_err(|e| e.context(format!("{model}: writing page {page_no} (ids after {last_id})")))?;
                Spi::connect_mut(|c| {
                    c.update(
                        "UPDATE scrap_sga.sync_run SET fetched = fetched + $2, inserted = inserted + $3, updated = updated + $4,
                                restored = restored + $5, pages = pages + 1 WHERE run_id = $1",
                        None,
                        &[run_id.into(), (n as i64).into(), counts.inserted.into(), counts.updated.into(), counts.restored.into()],
                    )
                    .map(|_| ())
                })?;
                Ok(counts)
            })?;
            out.db_secs += t0.elapsed().as_secs_f64();
            out.fetched += n as i64;
            out.written += counts.inserted + counts.updated + counts.restored;
            last_id = page_last;
        }
        Ok(())
    })();
    // On an error with a page still in flight, wait for it so the client (and its connection) come back.
    if let Some(pending) = inflight.take() {
        if let Ok((c, _, _)) = pending.wait() {
            client = Some(c);
        }
    }
    session.client = client;
    result?;
    Ok(Done { cursor_after: max_write_date, schema_changes })
}

fn page_error(e: &OdooError, model: &str, page: usize, after_id: i64) -> SyncError {
    SyncError::from_odoo(e).context(format!("{model}: search_read page {page} (ids after {after_id})"))
}
