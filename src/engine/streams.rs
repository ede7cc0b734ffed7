//! Reading a model's records over id ranges on several streams at once. An Odoo with several
//! HTTP workers serves one request per worker at a time, so a full pass or a reconcile listing
//! of a large model can use as many of them as the model's `parallel` setting allows.
//!
//! Each stream is a thread with a client of its own (`Remote::fork`). It takes the next id range
//! from a shared queue and pages through it by keyset (`id > last` and `id <= end`, in id order),
//! so that nothing is skipped or read twice while Odoo changes: a record created meanwhile gets a
//! higher id and falls in the last range, which has no end. Pages reach the backend's thread
//! through a channel that holds one page: a stream with a page ready waits for the writer, so at
//! most `streams + 2` pages are in memory (one per stream, one waiting, one being written) and a
//! writer slower than Odoo never falls further behind. Only that thread writes: no Postgres call
//! is made off it. With one stream this is the overlap of fetching the next page while the
//! current one is written.
//!
//! A failed page stops every stream (their clients stop between chunks of an answer and take no
//! new page), and the function returns once every thread has ended: no thread outlives the run.
//! The exception is shutdown, where the process is about to exit and must not wait for Odoo.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scrap_sga_core::odoo::{Client, OdooError};
use serde_json::Value;

use super::reconcile::IdRange;
use super::remote::{block_signals, odoo_time, Page, Remote};
use super::{check_interrupts, odoo_error, page_error, Outcome};
use crate::errors::SyncError;

/// Ranges handed out per stream: a stream that drew a dense part of the id space does not hold
/// the others up for long, since the rest is shared out as streams come free.
const RANGES_PER_STREAM: i64 = 4;

/// What to read: `search_read` of `fields` (plus `id`), `page_size` records per request.
pub struct Listing<'a> {
    pub model: &'a str,
    pub fields: Vec<String>,
    pub page_size: usize,
    /// Names the step in an error message.
    pub what: &'a str,
}

/// One page, and the ids it speaks for: Odoo had no other record in `span` when it answered.
pub struct RangePage {
    pub span: IdRange,
    pub records: Page,
}

enum Message {
    Page(RangePage, Option<String>),
    Failed(OdooError, i64),
}

/// Cut `range` for `streams` streams: pieces of equal id width between the lowest and the
/// highest id Odoo has in it (two small requests), the last one open-ended. One stream: the
/// range as it is, and no request.
pub fn split(remote: &mut Remote, model: &str, range: IdRange, streams: usize, out: &mut Outcome) -> Result<Vec<IdRange>, SyncError> {
    if streams <= 1 {
        return Ok(vec![range]);
    }
    let (bounds, took) = remote.id_bounds(model, range.domain());
    out.odoo_secs += took.as_secs_f64();
    let Some((lowest, highest)) = bounds.map_err(|e| odoo_error(&e).context(format!("{model}: finding the id range to share out")))? else {
        return Ok(vec![range]);
    };
    Ok(cut(range, lowest, highest, streams as i64 * RANGES_PER_STREAM))
}

/// `pieces` ranges covering `range`, cut at equal steps from `lowest - 1` to `highest`; the
/// first starts where `range` does and the last ends where it does.
fn cut(range: IdRange, lowest: i64, highest: i64, pieces: i64) -> Vec<IdRange> {
    let from = (lowest - 1).max(range.lo);
    let step = ((highest - from) / pieces.max(1)).max(1);
    let mut out = Vec::new();
    let mut lo = range.lo;
    for k in 1..pieces {
        let hi = from + k * step;
        if hi >= highest {
            break;
        }
        out.push(IdRange { lo, hi: Some(hi) });
        lo = hi;
    }
    out.push(IdRange { lo, hi: range.hi });
    out
}

/// Read every record of `ranges` on up to `streams` streams, and hand each page to `each` on the
/// backend's thread, in whatever order pages arrive. `each` may use `remote` (the streams have
/// clients of their own). Time spent waiting for a page counts as Odoo's in `out`.
pub fn fetch(
    remote: &mut Remote,
    listing: &Listing,
    ranges: Vec<IdRange>,
    streams: usize,
    out: &mut Outcome,
    mut each: impl FnMut(&mut Remote, RangePage, &mut Outcome) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let model = listing.model;
    let streams = streams.clamp(1, ranges.len().max(1));
    let abandon = Arc::new(AtomicBool::new(false));
    let clients = remote.fork(streams, abandon.clone()).map_err(|e| odoo_error(&e).context(format!("{model}: {}", listing.what)))?;
    let queue = Arc::new(Mutex::new(VecDeque::from(ranges)));
    let (tx, rx) = sync_channel::<Message>(1);
    let threads: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let (tx, queue, abandon) = (tx.clone(), queue.clone(), abandon.clone());
            let (model, fields, limit) = (model.to_owned(), listing.fields.clone(), listing.page_size);
            std::thread::spawn(move || {
                block_signals();
                read_ranges(&client, &model, &fields, limit, &queue, &abandon, &tx);
                client.requests_sent()
            })
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
        out.odoo_secs += t0.elapsed().as_secs_f64();
        match message {
            // Every stream ended, or the backend is told to stop.
            None => break check_interrupts(),
            Some(Message::Failed(e, after_id)) => break Err(page_error(&e, model, listing.what, pages + 1, after_id)),
            Some(Message::Page(page, answered_at)) => {
                pages += 1;
                // Odoo's clock at the earliest answer: the next window is anchored on it.
                if let Some(t) = answered_at {
                    if out.read_started.as_ref().is_none_or(|s| t < *s) {
                        out.read_started = Some(t);
                    }
                }
                if let Err(e) = check_interrupts().and_then(|_| each(remote, page, out)) {
                    break Err(e);
                }
            }
        }
    };
    abandon.store(true, Ordering::Relaxed);
    if result.is_err() && super::shutdown_requested() {
        return result;
    }
    // A stream waiting to hand over a page gives up once nobody receives.
    drop(rx);
    for t in threads {
        match t.join() {
            Ok(sent) => remote.add_stream_requests(sent),
            Err(_) if result.is_ok() => {
                return Err(odoo_error(&OdooError::Internal("the thread of a stream panicked (see the server log)".into())));
            }
            Err(_) => {}
        }
    }
    result
}

/// One stream: ranges from `queue` until none is left, each paged by keyset.
fn read_ranges(client: &Client, model: &str, fields: &[String], limit: usize, queue: &Mutex<VecDeque<IdRange>>, abandon: &AtomicBool, tx: &SyncSender<Message>) {
    loop {
        let Some(range) = queue.lock().unwrap().pop_front() else { return };
        let mut last = range.lo;
        loop {
            if abandon.load(Ordering::Relaxed) {
                return;
            }
            let domain = IdRange { lo: last, hi: range.hi }.domain();
            let records = match client.search_read(model, &domain, fields, "id asc", limit) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Message::Failed(e, last));
                    return;
                }
            };
            let full = records.len() >= limit;
            let page_last = records.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).max().unwrap_or(last);
            let span = IdRange { lo: last, hi: if full { Some(page_last) } else { range.hi } };
            if tx.send(Message::Page(RangePage { span, records }, odoo_time(client))).is_err() {
                return;
            }
            if !full {
                break;
            }
            last = page_last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(v: &[IdRange]) -> Vec<(i64, Option<i64>)> {
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
