import NIOCore
import Synchronization
import TickwireCore

/// The journal's newest entries, kept in memory per org in sequence order as their commits
/// become durable, so a dispatcher that keeps up reads its next page here instead of from
/// SQLite.
///
/// Every row of the journal is inserted through this process's commit thread and handed
/// here once durable, in commit order, so for each org the tail holds *all* of its entries
/// after `coveredAfter`: the highest sequence at open, or the last entry evicted from the
/// tail. A read from before that point (a dispatcher catching up after a restart or an
/// outage) answers nil and goes to SQLite.
final class RecentEntries: Sendable {
    private struct Tail {
        var entries = CircularBuffer<JournalEntry>()
        var coveredAfter: Int64
    }

    private struct State {
        var tails: [String: Tail] = [:]
        /// Every entry held, oldest first: eviction and pruning go in journal order.
        var order = CircularBuffer<(org: String, sequence: Int64, bytes: Int)>()
        var bytes = 0
        var baseline: Int64
        /// The highest sequence appended (or the baseline).
        var last: Int64

        /// Removes the oldest entry held. A tail left empty gives its buffer back: a buffer
        /// keeps the size of its largest burst, and an org that had one (or was removed)
        /// would hold thousands of slots for good.
        @discardableResult
        mutating func removeOldest() -> (org: String, sequence: Int64, bytes: Int) {
            let oldest = order.removeFirst()
            tails[oldest.org]?.entries.removeFirst()
            if tails[oldest.org]?.entries.isEmpty == true { tails[oldest.org]?.entries = CircularBuffer() }
            bytes -= oldest.bytes
            return oldest
        }

        mutating func forget(through sequence: Int64) {
            while let oldest = order.first, oldest.sequence <= sequence {
                removeOldest()
            }
            baseline = max(baseline, sequence)
            for org in tails.keys {
                tails[org]!.coveredAfter = max(tails[org]!.coveredAfter, sequence)
            }
        }
    }

    private let state: Mutex<State>
    private let capacity: Int
    private let byteBudget: Int

    /// `baseline`: the highest sequence in the journal when it was opened. At most
    /// `capacity` entries are kept, and at most `byteBudget` bytes of their serialized
    /// events and request bodies (bodies may be megabytes each).
    init(baseline: Int64, capacity: Int, byteBudget: Int = 32 * 1024 * 1024) {
        self.state = Mutex(State(baseline: baseline, last: baseline))
        self.capacity = capacity
        self.byteBudget = byteBudget
    }

    /// Whether two arrays share their storage (one request's body held by its events).
    static func sameBuffer(_ a: [UInt8], _ b: [UInt8]?) -> Bool {
        guard let b, !a.isEmpty, a.count == b.count else { return false }
        return a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.baseAddress == y.baseAddress } }
    }

    /// Adds committed entries, in the order their sequences were given.
    func append(_ entries: [JournalEntry]) {
        state.withLock { state in
            // A request's events share one body (one buffer): counted once, or a big
            // batch's N events counted N times its size pushed every org's tail out. By
            // buffer, not by bytes: two requests' equal bodies are two copies in memory.
            var lastBody: [UInt8]?
            for entry in entries {
                // Sequences are handed out one after another, and every row comes through
                // here: a gap means rows committed without this tail hearing of them (a
                // commit that failed after all). Reads from before it go to SQLite, or the
                // dispatchers would skip those rows for good.
                if entry.sequence > state.last + 1 { state.forget(through: entry.sequence - 1) }
                state.last = max(state.last, entry.sequence)
                let org = entry.event.org
                let body = entry.event.raw?.body
                let bodyBytes = body.map { Self.sameBuffer($0, lastBody) ? 0 : $0.count } ?? 0
                lastBody = body
                let bytes = (entry.event.storedJSON?.count ?? 0) + bodyBytes
                state.tails[org, default: Tail(coveredAfter: state.baseline)].entries.append(entry)
                state.order.append((org, entry.sequence, bytes))
                state.bytes += bytes
            }
            while state.order.count > capacity || state.bytes > byteBudget {
                let oldest = state.removeOldest()
                state.tails[oldest.org]?.coveredAfter = oldest.sequence
            }
        }
    }

    /// Drops the entries up to `sequence` (retention pruned some of them): reads from
    /// before it go to SQLite, which knows which ones are left.
    func forget(through sequence: Int64) {
        state.withLock { $0.forget(through: sequence) }
    }

    /// The highest sequence appended: entries come here once durable, in commit order.
    var newest: Int64 { state.withLock { $0.last } }

    /// The slots the tails' buffers hold, used or not (tests).
    var heldSlots: Int { state.withLock { $0.tails.values.reduce(0) { $0 + $1.entries.capacity } } }

    /// The org's entries after `sequence`, at most `limit`; nil when entries after it may
    /// have left memory (or were journaled before this process opened the journal).
    func entries(org: String, after sequence: Int64, limit: Int) -> [JournalEntry]? {
        state.withLock { state in
            guard let tail = state.tails[org] else {
                return sequence >= state.baseline ? [] : nil
            }
            guard sequence >= tail.coveredAfter else { return nil }
            // Binary search for the first entry after `sequence`.
            var low = tail.entries.startIndex
            var count = tail.entries.count
            while count > 0 {
                let half = count / 2
                let middle = tail.entries.index(low, offsetBy: half)
                if tail.entries[middle].sequence <= sequence {
                    low = tail.entries.index(after: middle)
                    count -= half + 1
                } else {
                    count = half
                }
            }
            let end = tail.entries.index(low, offsetBy: min(limit, tail.entries.distance(from: low, to: tail.entries.endIndex)))
            return Array(tail.entries[low..<end])
        }
    }
}
