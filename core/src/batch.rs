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
        // A float to a count: `as` saturates, and the result is clamped below.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
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
        // A weight of at least 0 bytes: `as` saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let weight = self.bytes_per_record.round() as u64;
        (self.worked.unwrap_or(self.current), weight)
    }
}

/// The search for the record a request failed on, when the error may be one record's (see
/// [`OdooError::may_be_one_records`]): the records are asked for again in halves, from the same
/// place, until the one that fails is alone. After it, requests grow back by doubling, from
/// one record: the next records may fail the same way (a compute broken for a range of
/// records), and each of those then costs a request or two, not a halving from a full page.
/// The batch sizer is left as it is: the size was not the cause.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CulpritSearch {
    state: Search,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Search {
    #[default]
    Idle,
    /// A request failed: at most `cap` records per request until the culprit is alone. `owed`:
    /// the records of the last request that failed still to pass; once they all passed, the
    /// culprit is gone (fixed in Odoo meanwhile).
    Halving { cap: usize, owed: usize },
    /// The culprit was found (or is gone): requests of at most `cap` records, doubling.
    Growing { cap: usize },
}

impl CulpritSearch {
    /// Beyond it the requests are the caller's size again.
    const GROWN: usize = 1 << 16;

    /// Records to ask for next, of the `wanted` the caller would ask for.
    pub fn limit(&self, wanted: usize) -> usize {
        match self.state {
            Search::Idle => wanted,
            Search::Halving { cap, .. } | Search::Growing { cap } => cap.min(wanted),
        }
        .max(1)
    }

    /// A request for `asked` records failed as one record may make it fail. True when it asked
    /// for one record: that record is the culprit.
    pub fn failed(&mut self, asked: usize) -> bool {
        if asked <= 1 {
            self.state = Search::Growing { cap: 1 };
            return true;
        }
        self.state = Search::Halving { cap: asked / 2, owed: asked };
        false
    }

    /// A request for `asked` records answered `got`: none of them is the culprit.
    pub fn passed(&mut self, asked: usize, got: usize) {
        self.state = match self.state {
            Search::Halving { cap, owed } if owed > got => Search::Halving { cap, owed: owed - got },
            Search::Halving { cap, .. } => Search::Growing { cap },
            Search::Growing { cap } if asked >= cap && cap * 2 < Self::GROWN => Search::Growing { cap: cap * 2 },
            // A request under the cap: the cap no longer holds the caller back.
            Search::Growing { .. } => Search::Idle,
            Search::Idle => Search::Idle,
        };
    }

    #[cfg(test)]
    fn searching(&self) -> bool {
        self.state != Search::Idle
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

    /// Requests until `culprits` (positions from where the first request fails) are all found,
    /// for `total` records read `wanted` at a time; and the culprits in the order found.
    fn search(total: usize, wanted: usize, culprits: &[usize]) -> (usize, Vec<usize>) {
        let mut search = CulpritSearch::default();
        let (mut at, mut requests, mut found) = (0usize, 0, vec![]);
        while at < total {
            let n = search.limit(wanted).min(total - at);
            requests += 1;
            if culprits.iter().any(|c| (at..at + n).contains(c)) {
                if search.failed(n) {
                    found.push(at);
                    at += 1;
                }
            } else {
                search.passed(n, n);
                at += n;
            }
            assert!(requests < 10 * total, "the search ends");
        }
        (requests, found)
    }

    #[test]
    fn a_culprit_is_found_in_halves_and_the_size_comes_back() {
        let (requests, found) = search(16, 16, &[10]);
        assert_eq!(found, vec![10]);
        // 16, 8 (passes), 8, 4, 2 (passes), 2, 1 (the culprit), then 1, 2, 2 (the last five).
        assert_eq!(requests, 10);
        let mut s = CulpritSearch::default();
        assert!(!s.failed(16));
        assert!(s.failed(1));
        for n in [1, 2, 4, 8] {
            assert_eq!(s.limit(2000), n, "grows back by doubling");
            s.passed(n, n);
        }
        while s.searching() {
            let n = s.limit(2000);
            s.passed(n, n);
        }
        assert_eq!(s.limit(2000), 2000, "then the caller's size again");
    }

    #[test]
    fn a_run_of_culprits_costs_a_request_or_two_each() {
        // 2,000 records, 300 in a row failing (a compute broken for a range of records).
        let culprits: Vec<usize> = (1000..1300).collect();
        let (requests, found) = search(2000, 500, &culprits);
        assert_eq!(found, culprits);
        assert!(requests < 2 * 300 + 40, "{requests} requests");
        // Scattered: a few dozen each, found in halves and grown back.
        let (requests, found) = search(20_000, 2000, &[5, 7000, 15_000]);
        assert_eq!(found, vec![5, 7000, 15_000]);
        assert!(requests < 3 * 40 + 20, "{requests} requests");
    }

    #[test]
    fn a_culprit_gone_meanwhile_ends_the_search() {
        let mut search = CulpritSearch::default();
        assert!(!search.failed(100));
        assert_eq!(search.limit(2000), 50);
        search.passed(50, 50);
        assert!(search.searching(), "the culprit may be in the other 50");
        assert_eq!(search.limit(2000), 50);
        search.passed(50, 50);
        assert_eq!(search.limit(2000), 50, "all 100 passed: it was fixed in Odoo");
        search.passed(50, 50);
        assert_eq!(search.limit(2000), 100, "the size grows back");
        assert!(search.failed(1), "one record alone is the culprit");
        assert_eq!(search.limit(0), 1);
    }
}
