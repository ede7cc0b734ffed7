//! How many records to ask Odoo for at once, adapted to what its answers weigh and to what it
//! refused.
//!
//! A real Odoo refuses pages a simulator never would: 400 records that each carry a scanned PDF
//! are more than `max_response_mb`, a page slower to serve than `limit_time_real` is cut when
//! Odoo kills its worker, a proxy gives up with a 502 or 504. Each such refusal halves the batch
//! (down to one record: what one record alone cannot pass is set aside by the caller, the rest of
//! the model goes on). Each full page that passes lets the batch grow back by a quarter, never
//! past `max` (the model's `page_size`), nor past what keeps an answer under `target_bytes` at
//! the bytes a record weighed lately. The caller keeps the size that worked for the next run.
use crate::odoo::OdooError;

#[derive(Debug, Clone, PartialEq)]
pub struct BatchSizer {
    max: usize,
    current: usize,
    target_bytes: u64,
    /// What a record weighed lately (a moving average of the answers' bytes per record); 0 when
    /// nothing is known yet.
    bytes_per_record: f64,
    /// Batches halved after a refusal.
    pub splits: u64,
    /// The size of the last full page that passed.
    worked: Option<usize>,
}

impl BatchSizer {
    /// `max` records per request at most; `remembered`, the size and weight of a previous run.
    pub fn new(max: usize, target_bytes: u64, remembered: Option<(usize, u64)>) -> BatchSizer {
        let max = max.max(1);
        let (current, bytes_per_record) = remembered.map(|(n, b)| (n.clamp(1, max), b as f64)).unwrap_or((max, 0.0));
        BatchSizer { max, current, target_bytes: target_bytes.max(1), bytes_per_record, splits: 0, worked: None }
    }

    /// Records to ask for in the next request.
    pub fn next(&self) -> usize {
        let by_weight = if self.bytes_per_record > 0.0 { (self.target_bytes as f64 / self.bytes_per_record) as usize } else { self.max };
        self.current.min(by_weight).clamp(1, self.max)
    }

    /// A request for `asked` records answered `got` records in `bytes`.
    pub fn passed(&mut self, asked: usize, got: usize, bytes: u64) {
        // A request for fewer records than the size (the last ids of a read, a culprit searched
        // for) says nothing of the size: remembered, it would start the next run there.
        let at_size = asked >= self.next();
        if got > 0 {
            let weight = bytes as f64 / got as f64;
            self.bytes_per_record = if self.bytes_per_record > 0.0 { 0.7 * self.bytes_per_record + 0.3 * weight } else { weight };
        }
        // Only a full page says that the size itself passes.
        if got >= asked && at_size {
            self.worked = Some(asked);
            if asked >= self.current {
                self.current = (self.current + self.current / 4 + 1).min(self.max);
            }
        }
    }

    /// A request for `asked` records failed the way a smaller one may pass (see
    /// [`OdooError::is_too_heavy`]). An answer over the size limit also says what a record
    /// weighs at least.
    pub fn refused(&mut self, asked: usize, e: &OdooError) {
        self.current = (asked / 2).max(1);
        if let OdooError::TooLarge { limit } = e {
            self.bytes_per_record = self.bytes_per_record.max(*limit as f64 / asked.max(1) as f64);
        }
        self.splits += 1;
    }

    /// What to remember for the next run: the size of the last full page that passed (else the
    /// size reached), and a record's weight. The size grown to after it was never tried.
    pub fn remembered(&self) -> (usize, u64) {
        (self.worked.unwrap_or(self.current), self.bytes_per_record.round() as u64)
    }
}

/// The search for the record a request failed on, when the error may be one record's (see
/// [`OdooError::may_be_one_records`]): the records are asked for again in halves, from the same
/// place, until the one that fails is alone. The batch sizer is left as it is: the size was not
/// the cause, and the pages after the culprit are asked for at full size again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CulpritSearch {
    /// At most this many records per request while searching.
    cap: Option<usize>,
    /// Records still to pass before the culprit is known to be gone: those of the last request
    /// that failed. A culprit fixed in Odoo meanwhile ends the search once they all passed.
    owed: usize,
}

impl CulpritSearch {
    /// Records to ask for next, of the `wanted` the caller would ask for.
    pub fn limit(&self, wanted: usize) -> usize {
        self.cap.map_or(wanted, |c| c.min(wanted)).max(1)
    }

    /// A request for `asked` records failed as one record may make it fail. True when it asked
    /// for one record: that record is the culprit, and the search is over.
    pub fn failed(&mut self, asked: usize) -> bool {
        if asked <= 1 {
            *self = CulpritSearch::default();
            return true;
        }
        self.cap = Some(asked / 2);
        self.owed = asked;
        false
    }

    /// A request answered `got` records: they are not the culprit.
    pub fn passed(&mut self, got: usize) {
        if self.cap.is_some() {
            self.owed = self.owed.saturating_sub(got);
            if self.owed == 0 {
                *self = CulpritSearch::default();
            }
        }
    }

    pub fn searching(&self) -> bool {
        self.cap.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_large(limit: u64) -> OdooError {
        OdooError::TooLarge { limit }
    }

    #[test]
    fn refusals_halve_down_to_one_record() {
        let mut b = BatchSizer::new(2000, 32 << 20, None);
        assert_eq!(b.next(), 2000);
        let cut = OdooError::Cut { url: "u".into(), detail: "reset".into() };
        let mut sizes = vec![];
        while b.next() > 1 {
            let n = b.next();
            b.refused(n, &cut);
            sizes.push(b.next());
        }
        assert_eq!(sizes.first(), Some(&1000));
        assert_eq!(sizes.last(), Some(&1));
        assert_eq!(b.splits, sizes.len() as u64);
        b.refused(1, &cut);
        assert_eq!(b.next(), 1, "never zero");
    }

    #[test]
    fn full_pages_grow_back_gradually_up_to_the_page_size() {
        let mut b = BatchSizer::new(2000, u64::MAX, Some((10, 0)));
        let mut steps = 0;
        while b.next() < 2000 {
            let n = b.next();
            b.passed(n, n, 100 * n as u64);
            steps += 1;
            assert!(steps < 40, "grows back");
        }
        assert!(steps > 10, "a quarter at a time, not at once: {steps} pages");
        let n = b.next();
        b.passed(n, 5, 500);
        assert_eq!(b.next(), 2000, "a short page (the end of the records) says nothing of the size");
    }

    #[test]
    fn heavy_records_make_small_pages() {
        // 0.7 MB a record, answers aimed at 32 MB: about 45 records.
        let mut b = BatchSizer::new(2000, 32 << 20, None);
        b.passed(2000, 10, 7_340_032);
        assert_eq!(b.next(), 45);
        // An answer over a 256 MB limit for 2000 records: at least 134 kB a record.
        let mut b = BatchSizer::new(2000, 32 << 20, None);
        b.refused(2000, &too_large(256 << 20));
        assert_eq!(b.next(), 250);
        assert_eq!(b.remembered(), (1000, 134_218));
    }

    #[test]
    fn what_is_remembered_is_a_size_that_passed() {
        let cut = OdooError::Cut { url: "u".into(), detail: "killed".into() };
        let mut b = BatchSizer::new(2000, u64::MAX, None);
        b.refused(2000, &cut);
        b.refused(1000, &cut);
        b.passed(500, 500, 1);
        assert_eq!(b.next(), 626, "grows past what passed");
        assert_eq!(b.remembered().0, 500, "but remembers what passed");
        b.refused(626, &cut);
        assert_eq!(b.remembered().0, 500);
    }

    #[test]
    fn a_request_for_fewer_records_than_the_size_says_nothing_of_it() {
        let mut b = BatchSizer::new(2000, u64::MAX, None);
        b.passed(2000, 2000, 1);
        b.passed(3, 3, 1);
        assert_eq!(b.remembered().0, 2000, "the last 3 ids of a read");
        let mut b = BatchSizer::new(2000, u64::MAX, None);
        b.passed(3, 3, 1);
        assert_eq!(b.remembered().0, 2000, "a run that read 3 records");
    }

    #[test]
    fn a_run_starts_where_the_last_one_ended() {
        let b = BatchSizer::new(2000, 32 << 20, Some((40, 700_000)));
        assert_eq!(b.next(), 40);
        assert_eq!(BatchSizer::new(500, 32 << 20, Some((4000, 10))).next(), 500, "never past the page size");
    }

    #[test]
    fn a_culprit_is_found_in_halves_and_the_size_comes_back() {
        // 16 records from where the request failed; the 11th (index 10) fails whatever the size.
        let mut search = CulpritSearch::default();
        let (mut at, culprit, mut requests) = (0usize, 10usize, 0);
        let found = loop {
            let n = search.limit(16);
            requests += 1;
            if (at..at + n).contains(&culprit) {
                if search.failed(n) {
                    break at;
                }
            } else {
                search.passed(n);
                at += n;
            }
        };
        assert_eq!(found, culprit);
        assert_eq!(requests, 7, "16, 8 (passes), 8, 4, 2 (passes), 2, 1: two requests a halving at most");
        assert!(!search.searching());
        assert_eq!(search.limit(2000), 2000, "the pages after it are of full size");
    }

    #[test]
    fn a_culprit_gone_meanwhile_ends_the_search() {
        let mut search = CulpritSearch::default();
        assert!(!search.failed(100));
        assert_eq!(search.limit(2000), 50);
        search.passed(50);
        assert!(search.searching(), "the culprit may be in the other 50");
        assert_eq!(search.limit(2000), 50);
        search.passed(50);
        assert!(!search.searching(), "all 100 passed: it was fixed in Odoo");
        assert_eq!(search.limit(2000), 2000);
        assert!(search.failed(1), "one record alone is the culprit");
        assert_eq!(search.limit(0), 1);
    }
}
