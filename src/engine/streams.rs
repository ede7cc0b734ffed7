//! Reading a model's records page by page, over id ranges, on one or several streams at once.
//! Every listing the engine makes goes through here (full pass, the window's listing, reconcile,
//! computed refresh, verify): one keyset pager, with batches adapted to what Odoo can serve.
//!
//! Each stream is a thread with a client of its own (`Remote::fork`). It takes the next id range
//! from a shared queue and pages through it by keyset (`id > last` and `id <= end`, in id order),
//! so that nothing is skipped or read twice while Odoo changes: a record created meanwhile gets a
//! higher id and falls in the last range, which has no end. It asks for the next page as soon as
//! an answer's ids are known (one quick pass over it, `RawPage`), and hands the answer to a second
//! thread of the stream, which parses its records while Odoo serves the next page: fetching,
//! parsing and writing go on at once, at every `parallel`, 1 included, and Odoo's serving time
//! sets the pace. Pages reach the backend's thread through channels that hold one page each: a
//! stream with a page ready waits for the writer, so at most `3 × streams + 2` pages are in
//! memory and a writer slower than Odoo never falls behind further. Only the backend's thread
//! writes: no Postgres call is made off it.
//!
//! A page Odoo cannot serve (see `BatchSizer`) is asked again for half as many records, as long
//! as Odoo still answers a small request (else it is down, and the run fails); what one record
//! alone cannot pass is reported to the backend's thread, which sets it aside, and the stream
//! goes on after it. A page that fails on one record's data (an exception in Odoo, a NaN) is
//! asked again in halves from the same place (`CulpritSearch`) until that record is alone; it is
//! set aside the same way once the model's other records are seen to read well
//! (`others_read_well`), else the failure is the model's and the run fails. Any other failure
//! stops every stream, and the function returns once every
//! thread has ended: no thread outlives the run, except on shutdown, where the process is about
//! to exit and must not wait for Odoo.
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use scrap_sga_core::batch::{BatchSizer, CulpritSearch};
use scrap_sga_core::ids::{IdRange, OdooId};
use scrap_sga_core::mapping::ModelPlan;
use scrap_sga_core::odoo::page::RawPage;
use scrap_sga_core::odoo::time::OdooTime;
use scrap_sga_core::odoo::{Client, OdooError};
use serde_json::Value;

use super::prepare::{prepare, MissingId, PreparedPage};
use super::remote::{answers_small_requests, block_signals, odoo_time, others_read_well, Page, Remote};
use crate::errors::SyncError;
use crate::interrupt::{self, Stop};

/// A batch sizer the streams of a listing share. A stream that panicked while holding it left
/// it as it was between two of its own calls, which are each complete: it is used as it is.
#[derive(Clone)]
pub struct SharedSizer(Arc<Mutex<BatchSizer>>);

impl SharedSizer {
    pub fn new(max: usize, target_bytes: u64, remembered: Option<(usize, u64)>) -> SharedSizer {
        SharedSizer(Arc::new(Mutex::new(BatchSizer::new(max, target_bytes, remembered))))
    }

    /// For listings of ids and write dates: `max` pairs at most (tiny records), fresh for each.
    pub fn pairs(max: usize) -> SharedSizer {
        SharedSizer::new(max, u64::MAX, None)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut BatchSizer) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Ranges handed out per stream: a stream that drew a dense part of the id space does not hold
/// the others up for long, since the rest is shared out as streams come free.
const RANGES_PER_STREAM: i64 = 4;

/// What to read: `search_read` of `fields` (plus `id`) under `domain` and the id range.
#[derive(Clone)]
pub struct Listing {
    pub model: String,
    pub fields: Vec<String>,
    /// Conditions besides the id range (the window's `write_date >= since`).
    pub domain: Vec<Value>,
    /// Names the step in an error message.
    pub what: &'static str,
    /// Records too heavy to fetch even alone are set aside (pages of whole records); a listing of
    /// ids and write dates has no such records, and fails instead.
    pub sets_aside: bool,
    /// Records set aside by earlier runs, which `others_read_well` passes over (`Mirror::parked`).
    pub parked: Vec<OdooId>,
    /// Pages of whole records to write: converted to this plan's columns off the backend's
    /// thread (`prepare`), handed over as `RangePage::prepared`.
    pub prepare: Option<Arc<ModelPlan>>,
}

impl Listing {
    fn domain_for(&self, range: IdRange) -> Value {
        range.domain_with(&self.domain)
    }
}

/// One page, and the ids it speaks for: Odoo had no other record in `span` when it answered.
pub struct RangePage {
    pub span: IdRange,
    /// The range it is a page of, as it was handed out (its last page's span ends where the
    /// range ends).
    pub range: IdRange,
    /// The page converted for writing, when the listing asks it (`Listing::prepare`); the
    /// records are then left empty.
    pub prepared: Option<PreparedPage>,
    pub records: Page,
    /// Odoo's clock when it answered.
    pub answered_at: Option<OdooTime>,
}

/// What a stream hands to the backend's thread.
pub enum Event {
    Page(RangePage),
    /// A record Odoo could not serve even alone.
    SetAside { id: OdooId, error: OdooError },
}

enum Message {
    Event(Event),
    /// The error, and the id the stream's page started after.
    Failed(OdooError, i32),
}

/// What a stream's fetching thread hands to its parsing thread: a page still as Odoo sent it,
/// or a message that goes on as it is.
enum Fetched {
    Page { span: IdRange, range: IdRange, raw: RawPage, answered_at: Option<OdooTime> },
    Pass(Message),
}

/// A stream's second thread: each page's records parsed while the first asks Odoo for the
/// next page, then handed to the backend's thread in the order they came.
fn parse_pages(url: &str, plan: Option<&ModelPlan>, from: Receiver<Fetched>, to: &SyncSender<Message>) {
    for fetched in from {
        let message = match fetched {
            Fetched::Page { span, range, raw, answered_at } => match (raw.parse(url), plan) {
                (Ok(records), None) => Message::Event(Event::Page(RangePage { span, range, records, prepared: None, answered_at })),
                (Ok(records), Some(plan)) => match prepare(plan, records) {
                    Ok(page) => Message::Event(Event::Page(RangePage { span, range, records: Vec::new(), prepared: Some(page), answered_at })),
                    Err(MissingId) => Message::Failed(OdooError::Malformed { url: url.to_owned(), what: MissingId.to_string() }, span.lo),
                },
                (Err(e), _) => Message::Failed(e, span.lo),
            },
            Fetched::Pass(m) => m,
        };
        if to.send(message).is_err() {
            return;
        }
    }
}

/// Cut `range` for `streams` streams: pieces of equal id width between the lowest and the
/// highest id Odoo has in it (two small requests), the last one open-ended. One stream: the
/// range as it is, and no request.
pub fn split(remote: &mut Remote, listing: &Listing, range: IdRange, streams: usize) -> Result<Vec<IdRange>, SyncError> {
    if streams <= 1 {
        return Ok(vec![range]);
    }
    let bounds = remote
        .id_bounds(&listing.model, listing.domain_for(range))
        .map_err(|e| SyncError::from_odoo(&e).context(format!("{}: finding the id range to share out", listing.model)))?;
    let Some((lowest, highest)) = bounds else { return Ok(vec![range]) };
    Ok(cut(range, lowest.get(), highest.get(), i64::try_from(streams).unwrap_or(1) * RANGES_PER_STREAM))
}

/// `pieces` ranges covering `range`, cut at equal steps from `lowest - 1` to `highest`; the
/// first starts where `range` does and the last ends where it does.
fn cut(range: IdRange, lowest: i32, highest: i32, pieces: i64) -> Vec<IdRange> {
    let from = (i64::from(lowest) - 1).max(i64::from(range.lo));
    let step = ((i64::from(highest) - from) / pieces.max(1)).max(1);
    let mut out = Vec::new();
    let mut lo = range.lo;
    for k in 1..pieces {
        // Below `highest`, an i32: every cut fits.
        let Ok(hi) = i32::try_from(from + k * step) else { break };
        if hi >= highest {
            break;
        }
        out.push(IdRange { lo, hi: Some(hi) });
        lo = hi;
    }
    out.push(IdRange { lo, hi: range.hi });
    out
}

/// Read every record of `ranges` on up to `streams` streams, and hand each page (or record set
/// aside) to `each` on the backend's thread, in whatever order they come. `each` may use
/// `remote` (the streams have clients of their own). Time spent waiting for a page is Odoo's.
pub fn fetch(
    remote: &mut Remote,
    listing: &Listing,
    ranges: Vec<IdRange>,
    streams: usize,
    sizer: &SharedSizer,
    mut each: impl FnMut(&mut Remote, Event) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let streams = streams.clamp(1, ranges.len().max(1));
    let stop = remote.stream_stop();
    let clients = remote.fork(streams, &stop).map_err(|e| SyncError::from_odoo(&e).context(format!("{}: {}", listing.model, listing.what)))?;
    let queue = Arc::new(Mutex::new(VecDeque::from(ranges)));
    let (tx, rx) = sync_channel::<Message>(1);
    let threads: Vec<_> = clients
        .into_iter()
        .flat_map(|client| {
            let (tx, queue, stop, sizer, listing) = (tx.clone(), queue.clone(), stop.clone(), sizer.clone(), listing.clone());
            let (to_parse, parsing) = sync_channel::<Fetched>(1);
            let (url, plan) = (client.shown_url().to_owned(), listing.prepare.clone());
            let parser = std::thread::spawn(move || {
                block_signals();
                parse_pages(&url, plan.as_deref(), parsing, &tx);
            });
            let fetcher = std::thread::spawn(move || {
                block_signals();
                read_ranges(&client, &listing, &queue, &sizer, &stop, &to_parse);
            });
            [fetcher, parser]
        })
        .collect();
    drop(tx);
    let mut pages = 0;
    let result = loop {
        let t0 = Instant::now();
        let message = loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(m) => break Some(m),
                Err(RecvTimeoutError::Timeout) if remote.stop_requested() => break None,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break None,
            }
        };
        remote.add_waited(t0.elapsed());
        match message {
            // Every stream ended, or the backend is told to stop.
            None => break interrupt::check().map_err(SyncError::from),
            Some(Message::Failed(e, after_id)) => {
                break Err(SyncError::from_odoo(&e).context(format!("{}: {}, page {} (ids after {after_id})", listing.model, listing.what, pages + 1)))
            }
            Some(Message::Event(event)) => {
                pages += matches!(event, Event::Page(_)) as usize;
                if let Err(e) = interrupt::check().map_err(SyncError::from).and_then(|_| each(remote, event)) {
                    break Err(e);
                }
            }
        }
    };
    stop.raise();
    if result.is_err() && interrupt::pending() {
        return result;
    }
    // A stream waiting to hand over a page gives up once nobody receives.
    drop(rx);
    for t in threads {
        if t.join().is_err() && result.is_ok() {
            return Err(SyncError::from_odoo(&OdooError::Internal("the thread of a stream panicked (see the server log)".into())));
        }
    }
    result
}

/// One stream: ranges from `queue` until none is left, each paged by keyset.
fn read_ranges(client: &Client, listing: &Listing, queue: &Mutex<VecDeque<IdRange>>, sizer: &SharedSizer, stop: &Stop, tx: &SyncSender<Fetched>) {
    let send = |m: Message| tx.send(Fetched::Pass(m)).is_ok();
    // Records set aside by this stream, and the last that read well: see `others_read_well`.
    let (mut set_aside, mut good): (Vec<OdooId>, Option<OdooId>) = (Vec::new(), None);
    loop {
        // Its own statement: the queue's lock must not live on through the range's pages.
        let Some(range) = queue.lock().unwrap_or_else(PoisonError::into_inner).pop_front() else { return };
        let mut last = range.lo;
        let mut search = CulpritSearch::default();
        loop {
            if stop.is_raised() {
                return;
            }
            let limit = search.limit(sizer.with(|s| s.next()));
            let domain = listing.domain_for(IdRange { lo: last, hi: range.hi });
            let raw = match client.search_read_raw(&listing.model, &domain, &listing.fields, "id asc", limit) {
                Ok(r) => r,
                Err(e) => {
                    // An error of one record's data: it is found in halves, from the same place.
                    // One of size: the batch is halved, as long as Odoo answers a small request.
                    let its_own = listing.sets_aside && e.may_be_one_records();
                    if its_own && !search.failed(limit) {
                        continue;
                    }
                    if !its_own {
                        if !(e.is_too_heavy() && answers_small_requests(client, &listing.model)) {
                            send(Message::Failed(e, last));
                            return;
                        }
                        if limit > 1 {
                            sizer.with(|s| s.refused(limit, &e));
                            continue;
                        }
                        // A listing of ids and write dates has no record too heavy alone.
                        if !listing.sets_aside {
                            send(Message::Failed(e, last));
                            return;
                        }
                    }
                    match set_alone_aside(client, listing, &domain, e, its_own, (good, &mut set_aside), &send, last) {
                        Next::After(id) => {
                            last = id.get();
                            continue;
                        }
                        Next::RangeDone => break,
                        Next::Stop => return,
                    }
                }
            };
            sizer.with(|s| s.passed(limit, raw.len(), client.last_answer_bytes()));
            search.passed(limit, raw.len());
            let full = raw.len() >= limit;
            let newest = raw.max_id();
            let page_last = newest.map_or(last, OdooId::get);
            good = newest.or(good);
            let span = IdRange { lo: last, hi: if full { Some(page_last) } else { range.hi } };
            if tx.send(Fetched::Page { span, range, raw, answered_at: odoo_time(client) }).is_err() {
                return;
            }
            if !full {
                break;
            }
            last = page_last;
        }
    }
}

/// Where a stream goes on after [`set_alone_aside`].
enum Next {
    /// After this record.
    After(OdooId),
    /// The range has no record left (the one that failed went meanwhile).
    RangeDone,
    /// The stream ends: the run failed, or nobody receives any more.
    Stop,
}

/// The record a failed request (`error`) starts with, now asked for alone and failed alone: its
/// id (Odoo's search answers it; an id alone is never too heavy) goes to the backend's thread to
/// be set aside. When the error may be the record's own data (`its_own`), only once the model's
/// other records read well ([`others_read_well`]); else the error is the model's, and the run
/// fails with it. `(good, set_aside)`: the stream's last record that read well, and what it set
/// aside so far (those parked by earlier runs are `listing.parked`).
#[allow(clippy::too_many_arguments)]
fn set_alone_aside(
    client: &Client,
    listing: &Listing,
    domain: &Value,
    error: OdooError,
    its_own: bool,
    (good, set_aside): (Option<OdooId>, &mut Vec<OdooId>),
    send: &impl Fn(Message) -> bool,
    last: i32,
) -> Next {
    let id = match client.search_ids(&listing.model, domain, "id asc", Some(1)) {
        Ok(ids) => match ids.first() {
            Some(&id) => id,
            None => return Next::RangeDone,
        },
        Err(e) => {
            send(Message::Failed(e, last));
            return Next::Stop;
        }
    };
    set_aside.push(id);
    if its_own {
        match others_read_well(client, &listing.model, &listing.fields, good, set_aside, &listing.parked) {
            Ok(true) => {}
            Ok(false) => {
                send(Message::Failed(error, last));
                return Next::Stop;
            }
            Err(probe) => {
                send(Message::Failed(probe, last));
                return Next::Stop;
            }
        }
    }
    if !send(Message::Event(Event::SetAside { id, error })) {
        return Next::Stop;
    }
    Next::After(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(v: &[IdRange]) -> Vec<(i32, Option<i32>)> {
        v.iter().map(|r| (r.lo, r.hi)).collect()
    }

    #[test]
    fn pieces_cover_the_range_without_gap_or_overlap() {
        assert_eq!(ends(&cut(IdRange::ALL, 1, 100, 4)), vec![(0, Some(25)), (25, Some(50)), (50, Some(75)), (75, None)]);
        assert_eq!(ends(&cut(IdRange::ALL, 501, 900, 4)), vec![(0, Some(600)), (600, Some(700)), (700, Some(800)), (800, None)]);
        // Fewer ids than pieces: no empty piece.
        assert_eq!(ends(&cut(IdRange::ALL, 7, 8, 8)), vec![(0, Some(7)), (7, None)]);
        assert_eq!(ends(&cut(IdRange::ALL, 7, 7, 8)), vec![(0, None)]);
        // Inside a bounded range, the last piece ends with it.
        assert_eq!(ends(&cut(IdRange { lo: 10, hi: Some(50) }, 11, 50, 2)), vec![(10, Some(30)), (30, Some(50))]);
    }
}
