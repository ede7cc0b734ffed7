//! What a model keeps beside its records so that a request costs what it answers, not what the
//! model holds (a benchmark whose simulator slows down as data grows measures the simulator):
//!
//! * the records by write_date, for the records of a write_date window;
//! * per block of [`BLOCK`] ids, the count, id sum and newest write_date of the records (all of
//!   them, and the active ones), summed up a segment tree: the fingerprint or count of any id
//!   range looks at the records of at most two partial blocks, and at the tree.
//!
//! Both are kept up to date by [`Index::changed`], which `Model` calls on every change of a
//! record's presence, write_date or `active` (the only things they depend on).
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::Rec;

/// Ids per block: an id range's partial blocks, at its two ends, are looked at record by record.
pub const BLOCK: i64 = 64;

/// What a set of records sums up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sums {
    pub count: u64,
    pub id_sum: i64,
    /// The newest write_date in microseconds; `i64::MIN` for no record.
    pub newest: i64,
}

impl Default for Sums {
    fn default() -> Sums {
        Sums { count: 0, id_sum: 0, newest: i64::MIN }
    }
}

impl Sums {
    pub fn add(&mut self, id: i64, write_us: i64) {
        self.count += 1;
        self.id_sum += id;
        self.newest = self.newest.max(write_us);
    }

    fn merge(self, other: Sums) -> Sums {
        Sums { count: self.count + other.count, id_sum: self.id_sum + other.id_sum, newest: self.newest.max(other.newest) }
    }
}

/// A block's (or a subtree's) sums: of all its records, and of its active ones.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Node {
    all: Sums,
    active: Sums,
}

impl Node {
    fn add(&mut self, id: i64, r: &Rec) {
        self.all.add(id, r.write_us);
        if r.active {
            self.active.add(id, r.write_us);
        }
    }

    fn merge(self, other: Node) -> Node {
        Node { all: self.all.merge(other.all), active: self.active.merge(other.active) }
    }

    fn of_block(records: &BTreeMap<i64, Rec>, block: i64) -> Node {
        let mut n = Node::default();
        for (id, r) in records.range(block * BLOCK..(block + 1) * BLOCK) {
            n.add(*id, r);
        }
        n
    }
}

/// What the indexes know of a record: its write_date and whether it is active.
pub type Entry = (i64, bool);

pub struct Index {
    /// `(write_us, id)` of every record.
    by_write: BTreeSet<(i64, i64)>,
    /// A segment tree over the blocks: leaf `cap + b` sums block b (ids `b * BLOCK ..`), node
    /// `i` sums nodes `2i` and `2i + 1`; node 0 is unused.
    tree: Vec<Node>,
    cap: usize,
}

impl Index {
    pub fn build(records: &BTreeMap<i64, Rec>) -> Index {
        let mut index = Index { by_write: records.iter().map(|(id, r)| (r.write_us, *id)).collect(), tree: Vec::new(), cap: 0 };
        let blocks = records.keys().next_back().map_or(1, |top| (top / BLOCK + 1) as usize);
        let mut leaves = vec![Node::default(); blocks];
        for (id, r) in records {
            leaves[(id / BLOCK) as usize].add(*id, r);
        }
        index.plant(leaves);
        index
    }

    /// A tree over `leaves`, with room for as many blocks again.
    fn plant(&mut self, leaves: Vec<Node>) {
        self.cap = leaves.len().next_power_of_two().max(1);
        self.tree = vec![Node::default(); 2 * self.cap];
        self.tree[self.cap..self.cap + leaves.len()].copy_from_slice(&leaves);
        for i in (1..self.cap).rev() {
            self.tree[i] = self.tree[2 * i].merge(self.tree[2 * i + 1]);
        }
    }

    /// Record `id` was `before` and is now `after` (None: absent); `records` already hold it as
    /// it is now.
    pub fn changed(&mut self, records: &BTreeMap<i64, Rec>, id: i64, before: Option<Entry>, after: Option<Entry>) {
        if before == after {
            return;
        }
        if let Some((w, _)) = before {
            self.by_write.remove(&(w, id));
        }
        if let Some((w, _)) = after {
            self.by_write.insert((w, id));
        }
        let block = (id / BLOCK) as usize;
        if block >= self.cap {
            let mut leaves = self.tree[self.cap..].to_vec();
            leaves.resize(block + 1, Node::default());
            self.plant(leaves);
        }
        let leaf = &mut self.tree[self.cap + block];
        let mut stale = false;
        for (sums, counts) in [(&mut leaf.all, (|_: bool| true) as fn(bool) -> bool), (&mut leaf.active, |active| active)] {
            let gone = before.filter(|(_, a)| counts(*a));
            let came = after.filter(|(_, a)| counts(*a));
            if let Some((w, _)) = gone {
                sums.count -= 1;
                sums.id_sum -= id;
                // The newest write_date may have left with it.
                stale |= w == sums.newest && came.is_none_or(|(w2, _)| w2 < w);
            }
            if let Some((w, _)) = came {
                sums.add(id, w);
            }
        }
        if stale {
            *leaf = Node::of_block(records, block as i64);
        }
        let mut i = (self.cap + block) / 2;
        while i >= 1 {
            self.tree[i] = self.tree[2 * i].merge(self.tree[2 * i + 1]);
            i /= 2;
        }
    }

    /// The sums of the records whose id is in `[lo, hi]` (only the active ones if `active_only`);
    /// `visit` is called for each record looked at (those of the partial blocks at both ends).
    pub fn sums(&self, records: &BTreeMap<i64, Rec>, (lo, hi): (i64, i64), active_only: bool, mut visit: impl FnMut()) -> Sums {
        let mut out = Sums::default();
        let top = (self.cap as i64) * BLOCK - 1;
        let (lo, hi) = (lo.max(0), hi.min(top));
        if lo > hi {
            return out;
        }
        let mut by_record = |from: i64, to: i64| {
            for (id, r) in records.range(from..=to) {
                visit();
                if r.active || !active_only {
                    out.add(*id, r.write_us);
                }
            }
        };
        let (mut first, mut last) = (lo / BLOCK, hi / BLOCK);
        if first == last {
            by_record(lo, hi);
            return out;
        }
        if lo % BLOCK != 0 {
            by_record(lo, (first + 1) * BLOCK - 1);
            first += 1;
        }
        if hi % BLOCK != BLOCK - 1 {
            by_record(last * BLOCK, hi);
            last -= 1;
        }
        // Bottom-up over the whole blocks [first, last].
        let pick = |n: &Node| if active_only { n.active } else { n.all };
        let (mut l, mut r) = (self.cap + first as usize, self.cap + last as usize + 1);
        while l < r {
            if l % 2 == 1 {
                out = out.merge(pick(&self.tree[l]));
                l += 1;
            }
            if r % 2 == 1 {
                r -= 1;
                out = out.merge(pick(&self.tree[r]));
            }
            l /= 2;
            r /= 2;
        }
        out
    }

    /// The `(write_us, id)` of the records written in `[from, to)`, oldest first.
    pub fn written(&self, (from, to): (i64, i64)) -> impl Iterator<Item = (i64, i64)> + '_ {
        let range = (from < to).then(|| self.by_write.range((Bound::Included((from, i64::MIN)), Bound::Excluded((to, i64::MIN)))));
        range.into_iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(write_us: i64, active: bool) -> Rec {
        Rec { write_us, create_us: 0, version: 0, active, overrides: None, pending: None }
    }

    /// The sums of `[lo, hi]`, counted record by record.
    fn scanned(records: &BTreeMap<i64, Rec>, lo: i64, hi: i64, active_only: bool) -> Sums {
        let mut s = Sums::default();
        for (id, r) in records.iter().filter(|(id, r)| lo <= **id && **id <= hi && (r.active || !active_only)) {
            s.add(*id, r.write_us);
        }
        s
    }

    #[test]
    fn range_sums_agree_with_a_scan_through_changes() {
        let mut records: BTreeMap<i64, Rec> = (1..=1000).map(|id| (id, rec(id * 10, id % 7 != 0))).collect();
        let mut index = Index::build(&records);
        fn change(records: &mut BTreeMap<i64, Rec>, index: &mut Index, id: i64, now: Option<Rec>) {
            let before = records.get(&id).map(|r| (r.write_us, r.active));
            match &now {
                Some(r) => records.insert(id, r.clone()),
                None => records.remove(&id),
            };
            index.changed(records, id, before, now.map(|r| (r.write_us, r.active)));
        }
        // The newest of a block moves back, a record leaves, one is archived, ids past the tree.
        change(&mut records, &mut index, 640, Some(rec(5, true)));
        change(&mut records, &mut index, 639, None);
        change(&mut records, &mut index, 12, Some(rec(120, false)));
        change(&mut records, &mut index, 5000, Some(rec(1, true)));
        change(&mut records, &mut index, 20_000, Some(rec(99_999, true)));
        for (lo, hi) in [(0, 20_000), (1, 1), (12, 12), (5, 700), (63, 64), (64, 127), (100, 99), (600, 5000), (-5, i64::MAX)] {
            for active_only in [false, true] {
                let mut visited = 0;
                assert_eq!(index.sums(&records, (lo, hi), active_only, || visited += 1), scanned(&records, lo, hi, active_only), "[{lo}, {hi}] {active_only}");
                assert!(visited <= 2 * BLOCK, "[{lo}, {hi}]: {visited} records looked at");
            }
        }
        let window: Vec<(i64, i64)> = index.written((5, 21)).collect();
        assert_eq!(window, vec![(5, 640), (10, 1), (20, 2)], "oldest first, the moved record at its new write_date");
        assert_eq!(index.written((21, 5)).count(), 0);
    }
}
