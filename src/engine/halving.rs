//! Searching an id space by halves, for what differs between Odoo and the mirror: the deletion
//! check (`deletions`) and the window (`incremental`) both compare a range's fingerprint on both
//! sides, and cut the ranges that differ until they are small enough to go through pair by pair.
//! Ranges are cut by id value, not by count, so that every cut halves the range and the search
//! ends however the ids are spread.
use scrap_sga_core::ids::IdRange;

/// A range with at most this many records (on either side) is gone through pair by pair: one
/// or two requests of ids and write dates.
pub const LEAF_ROWS: i64 = 5_000;

/// How ranges are cut: `top` is the highest id known here, below which the open top range is
/// cut (Odoo's newer ids, if any, fall in its upper half).
pub struct Halving {
    pub top: i32,
}

impl Halving {
    /// The two halves of `range`, or None when it is a leaf: `rows` (the fewer records either side
    /// counts in it) is at most [`LEAF_ROWS`], or the range cannot be cut any more.
    pub fn halves(&self, range: IdRange, rows: i64) -> Option<(IdRange, IdRange)> {
        let mid = range.lo + (range.hi.unwrap_or(self.top).max(range.lo) - range.lo) / 2;
        if rows <= LEAF_ROWS || mid <= range.lo || range.hi.is_some_and(|h| mid >= h) {
            return None;
        }
        Some((IdRange { lo: range.lo, hi: Some(mid) }, IdRange { lo: mid, hi: range.hi }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_halved_by_id_value_down_to_leaves() {
        let h = Halving { top: 1000 };
        let (l, r) = h.halves(IdRange::ALL, LEAF_ROWS + 1).unwrap();
        assert_eq!((l, r), (IdRange { lo: 0, hi: Some(500) }, IdRange { lo: 500, hi: None }));
        assert_eq!(h.halves(l, LEAF_ROWS), None, "few enough records");
        // A range of one id cannot be cut, whatever it holds.
        assert_eq!(h.halves(IdRange { lo: 7, hi: Some(8) }, 1_000_000), None);
        // Above the highest id known here, the open range is not cut: it is gone through.
        assert_eq!(h.halves(IdRange { lo: 2000, hi: None }, 1_000_000), None);
    }
}
