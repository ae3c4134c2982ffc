//! The per-process upcall queue, kept in the process's own RAM.
//!
//! The queue occupies [`QUEUE_BYTES`] at a fixed place in the kernel-owned
//! top of the process's allocation; the kernel keeps only its length. Each entry is seven little-endian words:
//! `driver, subscribe, fn_ptr, appdata, arg0, arg1, arg2`. An entry with
//! `fn_ptr == 0` is a null upcall: it can satisfy a yield-wait-for but is
//! dropped by yield-wait and yield-no-wait.

/// Entries the queue holds (upstream Tock's depth; userspace relies on it).
pub const QUEUE_DEPTH: usize = 10;

const ENTRY_WORDS: usize = 7;
const ENTRY_BYTES: usize = ENTRY_WORDS * 4;

/// Bytes of process RAM the queue occupies.
pub const QUEUE_BYTES: usize = QUEUE_DEPTH * ENTRY_BYTES;

/// Names one upcall of one driver: `(driver number, subscribe number)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpcallId {
    /// Driver number.
    pub driver: u32,
    /// Subscribe number within the driver.
    pub subscribe: u32,
}

/// One queued upcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// Which upcall this is.
    pub id: UpcallId,
    /// Function to call; 0 for a null upcall.
    pub fn_ptr: u32,
    /// Application data given at subscribe.
    pub appdata: u32,
    /// The three arguments.
    pub args: [u32; 3],
}

impl Task {
    fn to_words(self) -> [u32; ENTRY_WORDS] {
        let [a, b, c] = self.args;
        [
            self.id.driver,
            self.id.subscribe,
            self.fn_ptr,
            self.appdata,
            a,
            b,
            c,
        ]
    }
}

/// The length of a queue whose entries live in `bytes` ([`QUEUE_BYTES`]
/// long), oldest first (at most ten entries, so removal simply shifts). All operations are bounds-checked and never
/// panic; a `bytes` slice of the wrong length behaves as a full, empty
/// queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskQueue {
    len: u8,
}

impl TaskQueue {
    /// An empty queue.
    pub const EMPTY: TaskQueue = TaskQueue { len: 0 };

    /// Number of queued tasks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Word `w` of the entry at `slot`, if `bytes` holds it.
    fn word(bytes: &[u8], slot: usize, w: usize) -> Option<u32> {
        let b = bytes
            .get(slot * ENTRY_BYTES + 4 * w..)?
            .first_chunk::<4>()?;
        Some(u32::from_le_bytes(*b))
    }

    fn read(bytes: &[u8], slot: usize) -> Option<Task> {
        // One bounds check for the whole entry, then word by word: no
        // intermediate array to clear and copy (this runs for every upcall
        // delivered).
        let e = bytes
            .get(slot * ENTRY_BYTES..)?
            .first_chunk::<ENTRY_BYTES>()?;
        let word =
            |i: usize| u32::from_le_bytes([e[4 * i], e[4 * i + 1], e[4 * i + 2], e[4 * i + 3]]);
        Some(Task {
            id: UpcallId {
                driver: word(0),
                subscribe: word(1),
            },
            fn_ptr: word(2),
            appdata: word(3),
            args: [word(4), word(5), word(6)],
        })
    }

    fn write(bytes: &mut [u8], slot: usize, task: Task) -> bool {
        let Some(entry) = bytes.get_mut(slot * ENTRY_BYTES..(slot + 1) * ENTRY_BYTES) else {
            return false;
        };
        for (chunk, word) in entry.chunks_exact_mut(4).zip(task.to_words()) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        true
    }

    /// Appends `task`; `false` (the task is lost) if the queue is full.
    pub fn push(&mut self, bytes: &mut [u8], task: Task) -> bool {
        if self.len() >= QUEUE_DEPTH || !Self::write(bytes, self.len(), task) {
            return false;
        }
        self.len += 1;
        true
    }

    /// The task at position `i` (0 = oldest).
    pub fn get(&self, bytes: &[u8], i: usize) -> Option<Task> {
        if i >= self.len() {
            return None;
        }
        Self::read(bytes, i)
    }

    /// Removes and returns the task at position `i`, keeping the order of
    /// the others.
    pub fn remove(&mut self, bytes: &mut [u8], i: usize) -> Option<Task> {
        let task = self.get(bytes, i)?;
        self.close_gap(bytes, i, 1);
        Some(task)
    }

    /// Drops the `n` tasks from position `i` on; the younger ones move up,
    /// in one move.
    fn close_gap(&mut self, bytes: &mut [u8], i: usize, n: usize) {
        let len = self.len();
        let n = n.min(len.saturating_sub(i));
        if i + n < len {
            if let Some(b) = bytes.get_mut(i * ENTRY_BYTES..len * ENTRY_BYTES) {
                b.copy_within(n * ENTRY_BYTES.., 0);
            }
        }
        self.len -= n as u8;
    }

    /// Removes and returns the oldest real upcall (a function pointer
    /// other than 0), with the null upcalls queued ahead of it: what a
    /// yield-wait takes. Nothing changes if there is none.
    pub fn take_real(&mut self, bytes: &mut [u8]) -> Option<Task> {
        let i = self.first_real(bytes)?;
        let task = Self::read(bytes, i)?;
        self.close_gap(bytes, 0, i + 1);
        Some(task)
    }

    /// Removes the oldest task of upcall `id` and returns its three
    /// arguments: what a yield-wait-for takes (it calls no function).
    pub fn take_args_of(&mut self, bytes: &mut [u8], id: UpcallId) -> Option<[u32; 3]> {
        let i = self.first_of(bytes, id)?;
        let args = [
            Self::word(bytes, i, 4)?,
            Self::word(bytes, i, 5)?,
            Self::word(bytes, i, 6)?,
        ];
        self.close_gap(bytes, i, 1);
        Some(args)
    }

    /// Position of the oldest real upcall.
    pub fn first_real(&self, bytes: &[u8]) -> Option<usize> {
        (0..self.len()).find(|&i| Self::word(bytes, i, 2).is_some_and(|f| f != 0))
    }

    /// Position of the oldest task of upcall `id`.
    pub fn first_of(&self, bytes: &[u8], id: UpcallId) -> Option<usize> {
        (0..self.len()).find(|&i| {
            Self::word(bytes, i, 0) == Some(id.driver)
                && Self::word(bytes, i, 1) == Some(id.subscribe)
        })
    }

    /// Removes every task for which `drop` is true; returns how many.
    pub fn retain(&mut self, bytes: &mut [u8], mut drop: impl FnMut(&Task) -> bool) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while let Some(task) = self.get(bytes, i) {
            if drop(&task) {
                self.remove(bytes, i);
                removed += 1;
            } else {
                i += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(n: u32, fn_ptr: u32) -> Task {
        Task {
            id: UpcallId {
                driver: n % 3,
                subscribe: 0,
            },
            fn_ptr,
            appdata: n,
            args: [n, n + 1, n + 2],
        }
    }

    #[test]
    fn fifo_overflow_and_removal_keep_order() {
        let mut bytes = [0u8; QUEUE_BYTES];
        let mut q = TaskQueue::EMPTY;
        for n in 0..12 {
            assert_eq!(q.push(&mut bytes, task(n, 1)), n < 10);
        }
        assert_eq!(q.len(), 10);
        assert_eq!(q.remove(&mut bytes, 0).map(|t| t.appdata), Some(0));
        assert!(q.push(&mut bytes, task(20, 1)));
        // Drop every task of driver 1 (appdata 1, 4, 7).
        assert_eq!(q.retain(&mut bytes, |t| t.id.driver == 1), 3);
        let mut order = [0u32; 7];
        assert_eq!(q.len(), order.len());
        for (i, o) in order.iter_mut().enumerate() {
            *o = q.get(&bytes, i).unwrap().appdata;
        }
        assert_eq!(order, [2, 3, 5, 6, 8, 9, 20]);
        let id = |driver| UpcallId {
            driver,
            subscribe: 0,
        };
        assert_eq!(q.first_of(&bytes, id(2)), Some(0));
        assert_eq!(q.first_of(&bytes, id(0)), Some(1));
        assert_eq!(q.first_of(&bytes, id(1)), None);
        // A yield-wait-for takes the oldest of its upcall, arguments only.
        assert_eq!(q.take_args_of(&mut bytes, id(0)), Some([3, 4, 5]));
        assert_eq!(q.len(), 6);
        assert_eq!(q.first_of(&bytes, id(0)), Some(2));
        assert_eq!(q.take_args_of(&mut bytes, id(1)), None);
        assert_eq!(q.len(), 6);
    }

    #[test]
    fn a_yield_wait_takes_the_first_real_upcall_and_the_null_ones_before_it() {
        let mut bytes = [0u8; QUEUE_BYTES];
        let mut q = TaskQueue::EMPTY;
        for (n, f) in [(1, 0), (2, 0), (3, 7), (4, 0), (5, 9)] {
            assert!(q.push(&mut bytes, task(n, f)));
        }
        assert_eq!(q.first_real(&bytes), Some(2));
        assert_eq!(q.take_real(&mut bytes).map(|t| t.appdata), Some(3));
        assert_eq!(q.len(), 2);
        assert_eq!(q.get(&bytes, 0).map(|t| t.appdata), Some(4));
        assert_eq!(q.take_real(&mut bytes).map(|t| t.appdata), Some(5));
        assert!(q.is_empty());
        // Only null upcalls: nothing is taken, nothing dropped.
        assert!(q.push(&mut bytes, task(6, 0)));
        assert_eq!(q.take_real(&mut bytes), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn wrong_sized_storage_never_panics() {
        let mut bytes = [0u8; 5];
        let mut q = TaskQueue::EMPTY;
        assert!(!q.push(&mut bytes, task(1, 1)));
        assert_eq!(q.get(&bytes, 0), None);
        assert_eq!(q.remove(&mut bytes, 0), None);
    }
}
