//! Odoo's HTTP workers: at most N requests are served at once, the others wait for a worker, as
//! with `odoo --workers N`.
use std::sync::{Condvar, Mutex};

pub struct Workers {
    limit: usize,
    busy: Mutex<usize>,
    freed: Condvar,
}

pub struct Busy<'a> {
    workers: &'a Workers,
    /// Requests in service when this one started, itself included.
    pub at_once: usize,
}

impl Workers {
    /// `limit` 0: no limit.
    pub fn new(limit: usize) -> Workers {
        Workers { limit, busy: Mutex::new(0), freed: Condvar::new() }
    }

    pub fn acquire(&self) -> Busy<'_> {
        let mut busy = self.busy.lock().unwrap();
        while self.limit > 0 && *busy >= self.limit {
            busy = self.freed.wait(busy).unwrap();
        }
        *busy += 1;
        Busy { workers: self, at_once: *busy }
    }

    #[cfg(test)]
    pub fn busy(&self) -> usize {
        *self.busy.lock().unwrap()
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *self.workers.busy.lock().unwrap() -= 1;
        self.workers.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn no_more_than_the_limit_at_once_and_every_request_is_served() {
        let workers = Arc::new(Workers::new(3));
        let (now, most, served) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let (workers, now, most, served) = (workers.clone(), now.clone(), most.clone(), served.clone());
                std::thread::spawn(move || {
                    let _w = workers.acquire();
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                    served.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(served.load(Ordering::SeqCst), 12);
        assert!(most.load(Ordering::SeqCst) <= 3, "at most 3 at once, saw {}", most.load(Ordering::SeqCst));
        assert!(most.load(Ordering::SeqCst) >= 2, "requests do run side by side");
        assert_eq!(workers.busy(), 0);
    }

    #[test]
    fn no_limit_when_zero() {
        let workers = Workers::new(0);
        let held: Vec<_> = (0..50).map(|_| workers.acquire()).collect();
        assert_eq!(workers.busy(), 50);
        drop(held);
        assert_eq!(workers.busy(), 0);
    }
}
