//! What each reading thread of a chunk-table source keeps between reads: decoding buffers, and
//! the chunks it decoded last, so that a chunk that several consecutive tiles need (a chunk of
//! many frames read a few frames at a time, a frame read in pixel ranges) is decoded once.

use crate::decode::DecodeScratch;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

/// Decoded bytes a thread keeps at most (at least one chunk is always kept).
pub(crate) const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Decoded chunks a thread keeps at most.
const CACHE_ENTRIES: usize = 64;

/// One cached chunk: (array, chunk) and its decoded bytes.
#[derive(Debug)]
struct Entry {
    key: (usize, u64),
    data: Vec<u8>,
    used: u64,
}

/// A thread's state: scratch buffers and a small least-recently-used cache of decoded chunks.
#[derive(Debug, Default)]
pub(crate) struct Worker {
    pub scratch: DecodeScratch,
    /// The stored bytes of a chunk, when they are read with `pread`.
    pub stored: Vec<u8>,
    entries: Vec<Entry>,
    clock: u64,
}

impl Worker {
    /// The cached decoded bytes of `key`, if present.
    pub(crate) fn cached(&mut self, key: (usize, u64)) -> Option<&[u8]> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.iter_mut().find(|e| e.key == key)?;
        entry.used = clock;
        Some(&entry.data)
    }

    /// A buffer of `len` bytes to decode a chunk into (its contents are unspecified), after
    /// making room for it in the cache by dropping the least recently used chunks.
    pub(crate) fn make_room(&mut self, len: usize) -> Vec<u8> {
        let mut total: usize = self.entries.iter().map(|e| e.data.len()).sum();
        let mut reuse = None;
        while !self.entries.is_empty()
            && (self.entries.len() >= CACHE_ENTRIES || total + len > CACHE_BYTES)
        {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map_or(0, |(i, _)| i);
            let entry = self.entries.swap_remove(oldest);
            total -= entry.data.len();
            reuse = Some(entry.data);
        }
        let mut data = reuse.unwrap_or_default();
        data.resize(len, 0);
        data
    }

    /// Caches the decoded bytes of `key` (after [`Worker::make_room`]).
    pub(crate) fn insert(&mut self, key: (usize, u64), data: Vec<u8>) {
        self.clock += 1;
        self.entries.push(Entry {
            key,
            data,
            used: self.clock,
        });
    }
}

/// Worker states shared by the threads reading one source: a thread takes a free one, starting
/// from the one its id hashes to, so that a thread usually finds its own cache again.
#[derive(Debug)]
pub(crate) struct Workers {
    slots: Vec<Mutex<Worker>>,
    hasher: RandomState,
}

impl Workers {
    pub(crate) fn new() -> Self {
        let threads = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
        Workers {
            slots: (0..(2 * threads).max(4))
                .map(|_| Mutex::new(Worker::default()))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// A worker state for the calling thread.
    pub(crate) fn acquire(&self) -> MutexGuard<'_, Worker> {
        let n = self.slots.len();
        let home = (self.hasher.hash_one(std::thread::current().id()) as usize) % n;
        for i in 0..n {
            if let Ok(guard) = self.slots[(home + i) % n].try_lock() {
                return guard;
            }
        }
        // Every slot busy: wait for this thread's own. A slot poisoned by a panic elsewhere
        // holds nothing that could be wrong (its cache is dropped).
        self.slots[home].lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            guard.entries.clear();
            guard
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_chunks_go_first() {
        let mut w = Worker::default();
        let big = CACHE_BYTES / 2;
        for key in [1, 2] {
            let mut data = w.make_room(big);
            data[0] = key as u8;
            w.insert((0, key), data);
        }
        assert_eq!(w.cached((0, 1)).map(|d| d[0]), Some(1));
        // A third chunk evicts chunk 2, which was used longest ago.
        let data = w.make_room(big);
        w.insert((0, 3), data);
        assert!(w.cached((0, 2)).is_none());
        assert!(w.cached((0, 1)).is_some() && w.cached((0, 3)).is_some());
        // A chunk larger than the budget is still kept, alone.
        let data = w.make_room(2 * CACHE_BYTES);
        w.insert((1, 0), data);
        assert!(w.cached((1, 0)).is_some() && w.cached((0, 1)).is_none());
    }
}
