//! The request budget: at most `max_requests_per_second` requests to Odoo from every process
//! that syncs this database, the scheduler's, each `sync()` call's worker and every stream of
//! theirs together (hosted Odoo answers 429 to more: Odoo Online tolerates about one a second).
//!
//! The processes share no memory (a `sync()` call's worker may run in a cluster that does not
//! preload the library), so the budget lives in a small file of the data directory: the time
//! from which the next request may go, read and pushed forward under an exclusive `flock`. A
//! request takes the next free slot and waits for it; the lock is held for microseconds, never
//! across a wait or a request.
use scrap_sga_core::odoo::Pace;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The budget of this database's syncs. Called on the backend's thread (it reads globals); the
/// [`Pace`] it returns may be called from any thread.
pub fn pace(per_second: f64) -> Pace {
    // SAFETY: DataDir and MyDatabaseId are set once at process start and never change while the
    // process lives; they are read here on the backend's thread.
    let (data_dir, database) = unsafe { (std::ffi::CStr::from_ptr(pgrx::pg_sys::DataDir).to_string_lossy().into_owned(), u32::from(pgrx::pg_sys::MyDatabaseId)) };
    let path = PathBuf::from(data_dir).join("pg_stat_tmp").join(format!("scrap_sga_budget.{database}"));
    // A few percent apart more than asked: a proxy counting requests in a sliding second must
    // never see two where one was meant, whatever the network's jitter.
    let gap = Duration::from_secs_f64(1.05 / per_second.max(0.001));
    Arc::new(move || take_slot(&path, gap).unwrap_or(gap))
}

/// The machine's monotonic clock, which every process on it shares and which no change of the
/// wall clock moves: slots reserved before a clock step back would otherwise hold every request
/// back for as long as the step.
fn micros_now() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the current time into a timespec this frame owns; the clock
    // id is a constant Linux always has.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) } != 0 {
        return 0;
    }
    t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000
}

/// How far ahead a slot can be reserved: one per process and stream waiting, far fewer than
/// MAX_QUEUED, and never less than MIN_AHEAD at a high rate. A slot further ahead was written
/// before the monotonic clock started again (the machine rebooted, the data directory moved to
/// another machine): it is forgotten.
const MAX_QUEUED: u64 = 256;
const MIN_AHEAD_US: u64 = 10_000_000;

/// Reserve the next free slot; how long to wait for it.
fn take_slot(path: &std::path::Path, gap: Duration) -> std::io::Result<Duration> {
    let mut f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    // SAFETY: flock on a file descriptor this function owns for as long as the call; the lock
    // goes with the descriptor when `f` is dropped.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buf = [0u8; 8];
    let next_free = match f.read(&mut buf)? {
        8 => u64::from_le_bytes(buf),
        _ => 0,
    };
    let now = micros_now();
    let gap_us = u64::try_from(gap.as_micros()).unwrap_or(u64::MAX);
    let ahead = gap_us.saturating_mul(MAX_QUEUED).max(MIN_AHEAD_US);
    let next_free = if next_free > now.saturating_add(ahead) { now } else { next_free };
    let start = next_free.max(now);
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&(start + gap_us).to_le_bytes())?;
    Ok(Duration::from_micros(start - now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_a_gap_apart_whoever_takes_them() {
        let path = std::env::temp_dir().join(format!("scrap_sga_budget_test.{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let gap = Duration::from_millis(200);
        let waits: Vec<Duration> = (0..4).map(|_| take_slot(&path, gap).unwrap()).collect();
        assert!(waits[0] < Duration::from_millis(5), "the first goes at once: {waits:?}");
        for (k, w) in waits.iter().enumerate().skip(1) {
            let want = gap.mul_f64(k as f64);
            assert!(*w <= want && *w + Duration::from_millis(50) >= want, "slot {k}: {w:?}, want about {want:?}");
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_slot_reserved_far_ahead_holds_nothing_back() {
        let path = std::env::temp_dir().join(format!("scrap_sga_budget_far.{}", std::process::id()));
        let gap = Duration::from_millis(200);
        // As left before a reboot, whose monotonic clock starts again from zero.
        std::fs::write(&path, (micros_now() + 3_600_000_000).to_le_bytes()).unwrap();
        assert!(take_slot(&path, gap).unwrap() < Duration::from_millis(5));
        let next = take_slot(&path, gap).unwrap();
        assert!(next <= gap && next + Duration::from_millis(50) >= gap, "then a gap apart again: {next:?}");
        // A queue of a few slots is kept; at a high rate, one of up to 10 s.
        std::fs::write(&path, (micros_now() + 1_000_000).to_le_bytes()).unwrap();
        assert!(take_slot(&path, gap).unwrap() > Duration::from_millis(900));
        std::fs::write(&path, (micros_now() + 5_000_000).to_le_bytes()).unwrap();
        assert!(take_slot(&path, Duration::from_millis(1)).unwrap() > Duration::from_millis(4900), "256 gaps of 1 ms are not 10 s");
        let _ = std::fs::remove_file(&path);
    }
}
