import Testing
import TickwireCore
@testable import TickwireServer

@Suite("Recent journal entries")
struct RecentEntriesTests {
    func entries(_ sequences: [Int64], org: String = "acme") -> [JournalEntry] {
        sequences.map { JournalEntry(sequence: $0, event: TestEvents.status(.sent, message: "m\($0)", org: org)) }
    }

    @Test func answersOnlyWhatItHoldsAll() {
        let recent = RecentEntries(baseline: 10, capacity: 4)
        #expect(recent.entries(org: "acme", after: 10, limit: 5) == [], "nothing after the baseline yet")
        #expect(recent.entries(org: "acme", after: 9, limit: 5) == nil, "entry 10 may be acme's: ask SQLite")
        recent.append(entries([11]) + entries([12], org: "other") + entries([13]))
        #expect(recent.entries(org: "acme", after: 10, limit: 5)?.map(\.sequence) == [11, 13])
        #expect(recent.entries(org: "acme", after: 11, limit: 5)?.map(\.sequence) == [13])
        #expect(recent.entries(org: "acme", after: 12, limit: 1)?.map(\.sequence) == [13])
        #expect(recent.entries(org: "acme", after: 13, limit: 5) == [])
        #expect(recent.entries(org: "other", after: 10, limit: 5)?.map(\.sequence) == [12])
        // Two more make five: the oldest (11, acme's) leaves memory.
        recent.append(entries([14, 15]))
        #expect(recent.entries(org: "acme", after: 10, limit: 5) == nil)
        #expect(recent.entries(org: "acme", after: 11, limit: 5)?.map(\.sequence) == [13, 14, 15])
        #expect(recent.entries(org: "other", after: 10, limit: 5)?.map(\.sequence) == [12], "other lost nothing")
        #expect(recent.entries(org: "new", after: 10, limit: 5) == [])
    }

    /// A request's events share its body: it counts once against the budget, or one big
    /// batch pushed every org's entries out of memory.
    @Test func aBatchsSharedBodyCountsOnce() {
        let recent = RecentEntries(baseline: 0, capacity: 100, byteBudget: 10_000)
        let raw = RawPayload(contentType: "application/json", body: Array(repeating: 0x20, count: 4_000))
        let batch = (1...5).map { sequence -> JournalEntry in
            var event = TestEvents.status(.sent, message: "m\(sequence)")
            event.raw = raw
            return JournalEntry(sequence: Int64(sequence), event: event.keepingCloudEventBytes())
        }
        recent.append(batch)
        #expect(recent.entries(org: "acme", after: 0, limit: 10)?.count == 5, "one body of 4 000 bytes, not five")
    }

    @Test func largeEventsLeaveMemorySooner() {
        let recent = RecentEntries(baseline: 0, capacity: 100, byteBudget: 10_000)
        func large(_ sequence: Int64) -> JournalEntry {
            var event = TestEvents.status(.sent, message: "m\(sequence)")
            event.raw = RawPayload(contentType: "application/json", body: Array(repeating: 0x20, count: 4_000))
            return JournalEntry(sequence: sequence, event: event.keepingCloudEventBytes())
        }
        recent.append([large(1), large(2)])
        #expect(recent.entries(org: "acme", after: 0, limit: 5)?.map(\.sequence) == [1, 2])
        recent.append([large(3)])
        #expect(recent.entries(org: "acme", after: 0, limit: 5) == nil, "over 10 000 bytes: the oldest left")
        #expect(recent.entries(org: "acme", after: 1, limit: 5)?.map(\.sequence) == [2, 3])
        recent.append([large(4), large(5)])
        #expect(recent.entries(org: "acme", after: 3, limit: 5)?.map(\.sequence) == [4, 5])
        #expect(recent.entries(org: "acme", after: 2, limit: 5) == nil)
    }

    @Test func forgettingSendsEarlierReadsToSQLite() {
        let recent = RecentEntries(baseline: 0, capacity: 100)
        recent.append(entries([1, 2, 3]) + entries([4], org: "other") + entries([5]))
        recent.forget(through: 3)
        #expect(recent.entries(org: "acme", after: 0, limit: 5) == nil)
        #expect(recent.entries(org: "acme", after: 3, limit: 5)?.map(\.sequence) == [5])
        #expect(recent.entries(org: "other", after: 2, limit: 5) == nil)
        #expect(recent.entries(org: "other", after: 3, limit: 5)?.map(\.sequence) == [4])
        #expect(recent.entries(org: "new", after: 2, limit: 5) == nil)
    }

    /// An org whose burst has left memory (or that was removed from the config) holds no
    /// buffer sized for that burst.
    @Test func anOrgWhoseEntriesAllLeftHoldsNoBuffer() {
        let recent = RecentEntries(baseline: 0, capacity: 1000)
        recent.append(entries(Array(1...1000), org: "burst"))
        recent.append(entries(Array(1001...2000), org: "steady"))
        #expect(recent.entries(org: "burst", after: 1000, limit: 5) == [])
        #expect(recent.entries(org: "burst", after: 999, limit: 5) == nil)
        #expect(recent.heldSlots < 1100, "\(recent.heldSlots) slots for 1000 entries")
        recent.forget(through: 2000)
        #expect(recent.heldSlots < 100)
        recent.append(entries([2001], org: "burst"))
        #expect(recent.entries(org: "burst", after: 2000, limit: 5)?.map(\.sequence) == [2001])
    }

    /// Every row is committed through the tail, one sequence after another: a gap means
    /// rows it never heard of (a commit reported failed that reached the journal after
    /// all). Reads from before the gap go to SQLite instead of skipping those rows.
    @Test func aGapInTheSequencesSendsEarlierReadsToSQLite() {
        let recent = RecentEntries(baseline: 10, capacity: 100)
        recent.append(entries([11, 12]))
        recent.append(entries([15], org: "other") + entries([16]))
        #expect(recent.entries(org: "acme", after: 12, limit: 5) == nil, "13 and 14 may be acme's")
        #expect(recent.entries(org: "acme", after: 14, limit: 5)?.map(\.sequence) == [16])
        #expect(recent.entries(org: "other", after: 14, limit: 5)?.map(\.sequence) == [15])
        #expect(recent.entries(org: "new", after: 12, limit: 5) == nil)
        #expect(recent.entries(org: "new", after: 14, limit: 5) == [])
    }
}
