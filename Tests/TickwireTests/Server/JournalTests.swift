import Foundation
import GRDB
import Synchronization
import Testing
import TickwireCore
@testable import TickwireServer

@Suite("SQLite journal")
struct JournalTests {
    let directory: TemporaryDirectory
    var path: String { directory.path + "/journal.sqlite" }

    init() throws {
        directory = try TemporaryDirectory()
    }

    /// Whatever ingress accepted reads back from SQLite: a body nested as deep as the input
    /// limit allows sits a few levels deeper inside the stored event, and times outside
    /// what providers may send (stored before that bound, or rounded up to it) still parse.
    /// A row that did not read back stopped its org's subscriptions for good.
    @Test func whatWasAcceptedReadsBackFromDisk() async throws {
        let deepest = try JSONValue.parse(#"{"x":"# + String(repeating: "[", count: 255) + String(repeating: "]", count: 255) + "}")
        var deep = TestEvents.status(.sent, message: "deep")
        deep.data["raw"] = deepest
        let early = TestEvents.status(.sent, message: "year-one", at: -62_135_596_800)  // 0001-01-01
        let late = TestEvents.status(.sent, message: "rounded-up", at: 32_503_679_999.9996)  // → 3000-01-01T00:00:00.000Z
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.append([deep, early, late])
        try await journal.close()
        // Reopened, nothing in memory: every entry comes from SQLite.
        let reopened = try SQLiteJournal(path: path, durability: .normal, recentEntries: 0)
        let entries = try await reopened.entries(org: "acme", after: 0, limit: 10)
        #expect(entries.map(\.event.subject) == ["deep", "year-one", "rounded-up"])
        #expect(entries.first?.event.data["raw"] == deepest)
        #expect(entries.last.map { Timestamp.format($0.event.time) } == "3000-01-01T00:00:00.000Z")
        try await reopened.close()
    }

    /// On a hung disk no append fails: they wait. /readyz must not say ready meanwhile,
    /// or a load balancer keeps sending webhooks that are answered 503 only after
    /// server.idle_timeout.
    @Test func aCommitWaitingOnAHungFsyncMakesTheJournalNotReady() async throws {
        let held = try HeldSyncJournal(path: directory.path + "/held.sqlite", holding: false)
        let journal = held.journal
        #expect(await journal.readinessProblem(stuckAfter: .milliseconds(200)) == nil)
        held.hold()
        journal.append([TestEvents.status(.sent, message: "m0")]) { _ in }
        try await Task.sleep(for: .milliseconds(400))
        let problem = await journal.readinessProblem(stuckAfter: .milliseconds(200))
        #expect(problem?.contains("a journal commit or fsync has been running for") == true, "an fsync running for 400 ms: \(problem ?? "ready")")
        #expect(await journal.readinessProblem(stuckAfter: .seconds(30)) == nil, "not yet past a longer limit")
        held.release()
        #expect(await eventually { await journal.readinessProblem(stuckAfter: .milliseconds(200)) == nil }, "ready again once it returns")
        try await journal.close()
    }

    @Test func appendsInOrderAndReadsBackPerOrg() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full)
        let events = (0..<5).map { TestEvents.status(.sent, message: "m\($0)") } + [TestEvents.status(.sent, message: "x", org: "other")]
        try await journal.append(events)
        let acme = try await journal.entries(org: "acme", after: 0, limit: 100)
        #expect(acme.map(\.event.subject) == ["m0", "m1", "m2", "m3", "m4"])
        #expect(acme.map(\.sequence) == acme.map(\.sequence).sorted())
        #expect(acme.first?.event == events.first)
        let after = try await journal.entries(org: "acme", after: acme[1].sequence, limit: 2)
        #expect(after.map(\.event.subject) == ["m2", "m3"])
        #expect(try await journal.entries(org: "other", after: 0, limit: 10).count == 1)
        try await journal.close()
    }

    /// The dispatchers' reads come from memory while they keep up, and from SQLite for what
    /// was journaled before the journal was opened or has left memory: both give the same pages.
    @Test func pagesFromMemoryAndFromSQLiteAgree() async throws {
        func events(_ range: Range<Int>) -> [Event] {
            range.map { TestEvents.status(.sent, message: "m\($0)", org: $0 % 3 == 0 ? "other" : "acme") }
        }
        do {
            let earlier = try SQLiteJournal(path: path, durability: .normal)
            try await earlier.append(events(0..<8))
            try await earlier.close()
        }
        let live = try SQLiteJournal(path: path, durability: .normal, recentEntries: 5)
        for start in stride(from: 6, to: 20, by: 2) { try await live.append(events(start..<start + 2)) }
        // Opened last, this one holds nothing in memory: all its pages are SQLite's.
        let stored = try SQLiteJournal(path: path, durability: .normal)
        #expect(try await stored.count() == 20, "the overlap (m6, m7) is journaled once")
        for org in ["acme", "other"] {
            for cursor in Int64(0)...22 {
                for limit in [1, 3, 100] {
                    let fromLive = try await live.entries(org: org, after: cursor, limit: limit)
                    let fromDisk = try await stored.entries(org: org, after: cursor, limit: limit)
                    #expect(fromLive.map(\.sequence) == fromDisk.map(\.sequence), "\(org) after \(cursor), limit \(limit)")
                    #expect(fromLive.map(\.event) == fromDisk.map(\.event))
                }
            }
        }
        try await stored.close()
        try await live.close()
    }

    @Test func duplicateEventIDsAreStoredOnce() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full)
        let event = TestEvents.status(.delivered, message: "m1")
        try await journal.append([event])
        try await journal.append([event, event])
        #expect(try await journal.count() == 1)
        try await journal.close()
    }

    /// `full` is SQLite's NORMAL plus an fsync of the WAL before the answer (WALSync).
    @Test(arguments: [Durability.full, .normal])
    func durabilityDecidesWhetherAppendsWaitForAnFsync(durability: Durability) async throws {
        let journal = try SQLiteJournal(path: path, durability: durability)
        #expect(try await journal.synchronousMode() == 1)
        try await journal.append([TestEvents.status(.sent, message: "m1")])
        let afterAppend = journal.stats.syncs
        try await journal.setCursor(1, subscription: "s")
        if durability == .full {
            #expect(afterAppend >= 1)
            #expect(journal.stats.syncs > afterAppend)
        } else {
            #expect(journal.stats.syncs == 0)
        }
        try await journal.close()
    }

    /// A row committed and not yet fsynced is visible to SQLite's readers, but dispatchers
    /// must not get it: delivered before its fsync, it could reach a console although its
    /// provider was answered 503 (the fsync failed), or be lost on power after the console
    /// took it. Neither the in-memory tail nor a read from SQLite hands it out until synced.
    @Test(.timeLimit(.minutes(1)))
    func entriesAreReadOnlyOnceDurable() async throws {
        let held = try HeldSyncJournal(path: path, holding: false)
        let journal = held.journal
        try await journal.append([TestEvents.status(.sent, message: "synced")])
        held.hold()
        let answered = Mutex(false)
        journal.append([TestEvents.status(.sent, message: "committed")]) { result in
            answered.withLock { $0 = (try? result.get()) != nil }
        }
        #expect(await eventually { journal.stats.commits.load(ordering: .relaxed) == 2 })
        try await Task.sleep(for: .milliseconds(50))
        #expect(!answered.withLock { $0 }, "answered before its fsync")
        // From the tail (after 0), and from SQLite (after -1: before what the tail covers).
        #expect(try await journal.entries(org: "acme", after: 0, limit: 10).map(\.event.subject) == ["synced"])
        #expect(try await journal.entries(org: "acme", after: -1, limit: 10).map(\.event.subject) == ["synced"])
        held.release()
        #expect(await eventually { answered.withLock { $0 } })
        #expect(try await journal.entries(org: "acme", after: 0, limit: 10).map(\.event.subject) == ["synced", "committed"])
        #expect(try await journal.entries(org: "acme", after: -1, limit: 10).map(\.event.subject) == ["synced", "committed"])
        try await journal.close()
    }

    @Test func concurrentAppendsShareCommits() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask { try await journal.append([TestEvents.status(.sent, message: "c\(i)")]) }
            }
            try await group.waitForAll()
        }
        #expect(try await journal.count() == 200)
        let commits = journal.stats.commits.load(ordering: .relaxed)
        #expect(journal.stats.events.load(ordering: .relaxed) == 200)
        #expect(commits < 200, "200 concurrent appends took \(commits) commits: appends waiting for a commit must share the next one")
        try await journal.close()
    }

    @Test func everyCallerSeesItsOwnOutcomesOrFailure() async throws {
        struct DiskFull: Error {}
        let grouped = GroupCommit<Int, Int>(name: "test") { items in
            if items.contains(13) { throw DiskFull() }
            return items.map { $0 * 10 }
        }
        func submit(_ items: [Int]) async throws -> [Int] {
            try await withCheckedThrowingContinuation { continuation in
                grouped.submit(items) { continuation.resume(with: $0.map(Array.init)) }
            }
        }
        await #expect(throws: DiskFull.self) { try await submit([13]) }
        // Callers sharing a commit each get the outcomes of their own items, in order.
        try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for caller in 0..<50 {
                group.addTask { (caller, try await submit([caller + 100, caller + 1000])) }
            }
            for try await (caller, outcomes) in group {
                #expect(outcomes == [(caller + 100) * 10, (caller + 1000) * 10])
            }
        }
        grouped.stop()
        await #expect(throws: GroupCommitStopped.self) { try await submit([2]) }
    }

    @Test func survivesReopeningAndKeepsCursors() async throws {
        do {
            let journal = try SQLiteJournal(path: path, durability: .full)
            try await journal.append([TestEvents.status(.read, message: "m1")])
            try await journal.setCursor(1, subscription: "acme/archive")
            try await journal.close()
        }
        let journal = try SQLiteJournal(path: path, durability: .full)
        #expect(try await journal.count() == 1)
        #expect(try await journal.cursor(subscription: "acme/archive") == 1)
        #expect(try await journal.cursor(subscription: "acme/other") == nil)
        #expect(try await journal.lastSequence() == 1)
        try await journal.close()
    }

    @Test func commitsWakeSubscribers() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        var wakeups = journal.commits().makeAsyncIterator()
        try await journal.append([TestEvents.status(.sent, message: "w")])
        #expect(await wakeups.next() != nil)
        try await journal.close()
        #expect(await wakeups.next() == nil)
    }

    /// A journal with `count` of acme's entries (messages `prefix0`…), all taken by its
    /// one subscription, acme/a.
    func takenJournal(_ count: Int, messages prefix: String) async throws -> SQLiteJournal {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.setCursor(0, subscription: "acme/a")
        try await journal.append((0..<count).map { TestEvents.status(.sent, message: "\(prefix)\($0)") })
        try await journal.setCursor(Int64(count), subscription: "acme/a")
        return journal
    }

    @Test func pruningDeletesOnlyOldEventsEverySubscriptionOfTheirOrgHasTaken() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.setCursor(0, subscription: "acme/a")
        try await journal.setCursor(0, subscription: "acme/b")
        // An org that never receives anything: its cursor stays at the start, and must not
        // hold back anyone else's entries.
        try await journal.setCursor(0, subscription: "idle/a")
        try await journal.append((0..<10).map { TestEvents.status(.sent, message: "p\($0)") })  // 1...10
        try await journal.append((0..<3).map { TestEvents.status(.sent, message: "o\($0)", org: "beta") })  // 11...13
        try await journal.setCursor(6, subscription: "acme/a")
        try await journal.setCursor(4, subscription: "acme/b")
        #expect(try await journal.prune(olderThan: .seconds(3600), batchSize: 100) == 0, "too young")
        #expect(try await journal.prune(olderThan: .zero, batchSize: 3) == 3, "small batches")
        // acme up to its slowest cursor; beta has no subscription, so nothing to wait for.
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 4)
        #expect(try await journal.entries(org: "beta", after: 0, limit: 100).isEmpty)
        #expect(try await journal.retireSubscriptions(except: ["acme/a", "idle/a"]).retired == ["acme/b"])
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 0, "retired, acme/b still holds its entries")
        #expect(try await journal.forgetRetiredSubscriptions(olderThan: .zero) == ["acme/b"])
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 2)
        #expect(try await journal.entries(org: "acme", after: 0, limit: 100).map(\.sequence) == [7, 8, 9, 10])
        try await journal.close()
    }

    /// Entries held at an org's head (a console's queue or dead letters, millions after a
    /// long outage) are not read again by every pass: passes start after them. One the
    /// queue lets go is deleted once the passes start from the beginning again (hourly).
    @Test func pruningSkipsHeldEntriesUntilARescan() async throws {
        let journal = try await takenJournal(6, messages: "h")  // 1...6
        try await journal.pool.write { db in
            for sequence in 1...3 {
                try db.execute(
                    sql: "INSERT INTO delivery_queue (subscription, seq, key, attempts, next_attempt_at) VALUES ('acme/a', ?, ?, 1, 0)",
                    arguments: [sequence, "h\(sequence - 1)"])
            }
        }
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 3, "4, 5 and 6")
        #expect(journal.heldThrough.withLock { $0.through["acme"] } == 6)
        // Delivered from the queue (a settlement): the next pass goes back for it.
        var delivered = DeliverySettlement()
        delivered.removed = [2]
        try await journal.settle(delivered, subscription: "acme/a")
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 1)
        #expect(journal.heldThrough.withLock { $0.through["acme"] } == 2)
        // Let go behind the journal's back (no settlement): passes start after the held
        // ones, and only the hourly rescan finds it.
        try await journal.pool.write { db in try db.execute(sql: "DELETE FROM delivery_queue WHERE seq = 1") }
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 0, "the pass starts after the held ones")
        journal.heldThrough.withLock { $0.rescanInterval = .zero }
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 1, "the rescan finds 1 let go")
        #expect(try await journal.entries(org: "acme", after: 0, limit: 10).map(\.sequence) == [3])
        try await journal.close()
    }

    /// An entry stamped in the future (received while the clock was set a year ahead, then
    /// put right) is as old as the entries after it: it no longer stops every pass until
    /// that date, nor do such attempts stop the attempt log's pruning.
    @Test func aClockSetAheadDoesNotStopRetention() async throws {
        let journal = try await takenJournal(4, messages: "c")  // 1...4
        let yearAhead = Date().timeIntervalSince1970 + 365 * 86400
        try await journal.pool.write { db in
            try db.execute(sql: "UPDATE journal SET received_at = 0 WHERE seq IN (1, 3)")
            try db.execute(sql: "UPDATE journal SET received_at = ? WHERE seq IN (2, 4)", arguments: [yearAhead])
            for (sequence, at) in [(1, 0), (2, yearAhead), (3, 0)] {
                try db.execute(
                    sql: """
                        INSERT INTO delivery_attempts (subscription, seq, event_id, attempt, attempted_at, latency_ms, outcome)
                        VALUES ('acme/a', ?, 'e', 1, ?, 1, 'delivered')
                        """,
                    arguments: [sequence, at])
            }
        }
        #expect(try await journal.prune(olderThan: .seconds(60), batchSize: 100) == 3, "1, 2 (as old as 3) and 3; 4 waits")
        #expect(try await journal.entries(org: "acme", after: 0, limit: 10).map(\.sequence) == [4])
        #expect(try await journal.pruneAttempts(olderThan: .seconds(60), batchSize: 100) == 3)
        // A run of future stamps longer than a pass's batch: the entry after them says.
        try await journal.append((0..<4).map { TestEvents.status(.sent, message: "d\($0)") })  // 5...8
        try await journal.setCursor(8, subscription: "acme/a")
        try await journal.pool.write { db in
            try db.execute(sql: "UPDATE journal SET received_at = ? WHERE seq IN (4, 5, 6)", arguments: [yearAhead])
            try db.execute(sql: "UPDATE journal SET received_at = 0 WHERE seq IN (7, 8)")
        }
        #expect(try await journal.prune(olderThan: .seconds(60), batchSize: 2) == 2, "4 and 5, as old as 7")
        #expect(try await journal.prune(olderThan: .seconds(60), batchSize: 100) == 3)
        #expect(try await journal.entries(org: "acme", after: 0, limit: 10).isEmpty)
        try await journal.close()
    }

    /// Retiring marks once (a later reload does not restart the clock) and a subscription
    /// configured again is no longer retired; forgetting takes only those retired long enough.
    @Test func retiredSubscriptionsAreForgottenOnlyIfStillRetired() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.setCursor(0, subscription: "acme/a")
        try await journal.setCursor(0, subscription: "acme/b")
        var dead = DeliverySettlement()
        dead.deadLetters = [DeadLetter(sequence: 1, eventID: "e", attempts: 1, reason: "refused")]
        try await journal.settle(dead, subscription: "acme/c")
        #expect(try await journal.retireSubscriptions(except: []).retired == ["acme/a", "acme/b", "acme/c"])
        try await journal.pool.write { db in try db.execute(sql: "UPDATE retired_subscriptions SET retired_at = 0") }
        #expect(try await journal.retireSubscriptions(except: ["acme/a"]).retired.isEmpty, "already retired")
        #expect(try await journal.forgetRetiredSubscriptions(olderThan: .seconds(3600)) == ["acme/b", "acme/c"])
        #expect(try await journal.cursor(subscription: "acme/a") == 0)
        #expect(try await journal.cursor(subscription: "acme/b") == nil)
        #expect(try await journal.deadLetters(subscription: "acme/c").isEmpty)
        try await journal.close()
    }

    /// A retired subscription's queue and dead letters (millions after a long outage) go in
    /// batches, so that no single transaction holds the writer and every webhook behind it;
    /// its cursor and its mark go last, and other subscriptions keep theirs.
    @Test func aRetiredSubscriptionsStateIsForgottenInBatches() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.setCursor(0, subscription: "acme/old")
        try await journal.setCursor(0, subscription: "acme/kept")
        try await journal.pool.write { db in
            for subscription in ["acme/old", "acme/kept"] {
                for sequence in 1...7 {
                    try db.execute(
                        sql: "INSERT INTO delivery_queue (subscription, seq, key, attempts, next_attempt_at) VALUES (?, ?, 'k', 1, 0)",
                        arguments: [subscription, sequence])
                    try db.execute(
                        sql: "INSERT INTO dead_letters (subscription, seq, event_id, attempts, reason, failed_at) VALUES (?, ?, 'e', 1, 'r', 0)",
                        arguments: [subscription, 100 + sequence])
                }
            }
        }
        #expect(try await journal.retireSubscriptions(except: ["acme/kept"]).retired == ["acme/old"])
        let before = journal.stats.commits.load(ordering: .relaxed)
        let transactions = CommitCounter()
        try await journal.pool.writeWithoutTransaction { db in db.add(transactionObserver: transactions, extent: .databaseLifetime) }
        #expect(try await journal.forgetRetiredSubscriptions(olderThan: .zero, batchSize: 3) == ["acme/old"])
        #expect(transactions.count.load(ordering: .relaxed) == 4, "three batches of at most 3, then the cursor and the mark")
        #expect(journal.stats.commits.load(ordering: .relaxed) == before)
        let left = try await journal.pool.read { db in
            try String.fetchAll(db, sql: "SELECT subscription FROM delivery_queue UNION ALL SELECT subscription FROM dead_letters")
        }
        #expect(left.count == 14 && Set(left) == ["acme/kept"])
        #expect(try await journal.cursor(subscription: "acme/old") == nil)
        #expect(try await journal.cursor(subscription: "acme/kept") == 0)
        try await journal.close()
    }

    /// A pass reads from each org's oldest entry and stops at the first too young: entries
    /// in a retry queue are skipped, not a reason to stop, and entries after a young one
    /// wait for a later pass.
    @Test func pruningStopsAtTheFirstEntryTooYoung() async throws {
        let journal = try await takenJournal(4, messages: "q")  // 1...4
        try await journal.pool.write { db in
            try db.execute(sql: "UPDATE journal SET received_at = 0 WHERE seq IN (1, 2, 4)")
            try db.execute(sql: "INSERT INTO delivery_queue (subscription, seq, key, attempts, next_attempt_at) VALUES ('acme/a', 1, 'q0', 1, 0)")
        }
        // The operator's listing of the queue, from the queue and the journal's columns.
        let listed = try await journal.queued(subscription: "acme/a", limit: 10)
        #expect(listed == [QueuedEvent(
            sequence: 1, eventID: TestEvents.status(.sent, message: "q0").id, type: "message.sent", key: "q0", attempts: 1,
            firstAttemptAt: nil, nextAttemptAt: Date(timeIntervalSince1970: 0), lastError: nil)])
        #expect(try await journal.prune(olderThan: .seconds(3600), batchSize: 100) == 1, "2 goes; 1 is queued; 3 is young")
        #expect(try await journal.entries(org: "acme", after: 0, limit: 100).map(\.sequence) == [1, 3, 4])
        try await journal.close()
    }

    @Test func attemptsArePrunedByAgeOnTheirOwn() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.append([TestEvents.status(.sent, message: "m")])
        var settlement = DeliverySettlement()
        // The one after the recent attempt waits for a later pass: a pass stops at the first too young.
        for (index, age) in [3 * 86400.0, 2 * 86400.0, 60, 2 * 86400.0].enumerated() {
            settlement.attempts.append(DeliveryAttempt(
                sequence: 1, eventID: "e", attempt: index + 1, at: Date().addingTimeInterval(-age), status: 503,
                latency: .milliseconds(5), error: nil, outcome: "failed"))
        }
        try await journal.settle(settlement, subscription: "acme/console")
        #expect(try await journal.pruneAttempts(olderThan: .seconds(86400), batchSize: 1) == 1, "a batch at a time")
        #expect(try await journal.pruneAttempts(olderThan: .seconds(86400), batchSize: 100) == 1)
        #expect(try await journal.attempts(subscription: "acme/console").map(\.attempt) == [3, 4], "the recent attempt stays")
        try await journal.close()
    }

    /// A subscription that starts at the journal's end never took what came before: a
    /// replay of everything it took leaves that out.
    @Test func replayLeavesOutWhatCameBeforeASubscriptionBegan() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.append([TestEvents.status(.sent, message: "before1"), TestEvents.status(.sent, message: "before2")])
        let late = Subscription(name: "late", org: "acme", sink: "late")
        let early = Subscription(name: "early", org: "acme", sink: "early", from: .beginning)
        for subscription in [late, early] {
            try await SubscriptionDispatcher(subscription: subscription, sink: RecordingSink(), journal: journal, logger: .quiet).prepareCursor()
        }
        try await journal.append([TestEvents.status(.sent, message: "after")])
        try await journal.setCursor(3, subscription: late.id)
        try await journal.setCursor(3, subscription: early.id)
        #expect(try await Replay().run(journal: journal, subscription: late) == 1)
        #expect(try await Replay().run(journal: journal, subscription: early) == 3)
        try await journal.close()
    }

    /// A replay works a page of the journal per transaction (the writer is free between
    /// pages): every matching event is queued once, however many pages it spans.
    @Test func aReplayOverManyPagesQueuesEachEventOnce() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        let count = SQLiteJournal.requeuePage * 2 + 7
        try await journal.append((0..<count).map { TestEvents.status(.sent, message: "p\($0)") })
        try await journal.append([TestEvents.status(.sent, message: "other-org", org: "globex")])
        let subscription = Subscription(name: "all", org: "acme", sink: "all", from: .beginning)
        try await SubscriptionDispatcher(subscription: subscription, sink: RecordingSink(), journal: journal, logger: .quiet).prepareCursor()
        try await journal.setCursor(Int64(count + 1), subscription: subscription.id)
        #expect(try await Replay().run(journal: journal, subscription: subscription) == count)
        #expect(try await journal.queued(subscription: subscription.id, limit: 10 * count).count == count)
        #expect(try await Replay().run(journal: journal, subscription: subscription) == 0, "already queued")
        try await journal.close()
    }

    /// The same for dead letters, paged by their own sequence.
    @Test func aDeadOnlyReplayOverManyPagesQueuesEachDeadLetterOnce() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        let count = SQLiteJournal.requeuePage + 3
        try await journal.append((0..<count).map { TestEvents.status(.sent, message: "d\($0)") })
        let subscription = Subscription(name: "dead", org: "acme", sink: "dead", from: .beginning)
        try await SubscriptionDispatcher(subscription: subscription, sink: RecordingSink(), journal: journal, logger: .quiet).prepareCursor()
        var settlement = DeliverySettlement(cursor: Int64(count))
        // Every other event dead-lettered.
        settlement.deadLetters = stride(from: 1, through: count, by: 2).map {
            DeadLetter(sequence: Int64($0), eventID: "e\($0)", attempts: 1, reason: "refused")
        }
        try await journal.settle(settlement, subscription: subscription.id)
        let dead = settlement.deadLetters.count
        #expect(try await Replay(deadOnly: true).run(journal: journal, subscription: subscription) == dead)
        #expect(try await journal.deadLetters(subscription: subscription.id, limit: 10 * count).isEmpty)
        #expect(try await journal.queued(subscription: subscription.id, limit: 10 * count).count == dead)
        try await journal.close()
    }

    /// The events of one request (a Meta or Gupshup v3 batch) share one stored body: with a
    /// copy per event, a batch of N cost N times its body on disk. The body stays while any
    /// of its events does, and goes with the last.
    @Test func aRequestsBodyIsStoredOnceAndGoesWithItsLastEvent() async throws {
        func events(_ messages: [String], org: String = "acme", body: String) -> [Event] {
            let raw = RawPayload(contentType: "application/json", body: Array(body.utf8))
            return messages.map { var event = TestEvents.status(.sent, message: $0, org: org); event.raw = raw; return event }
        }
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.setCursor(0, subscription: "acme/native")
        try await journal.append(events(["b0"], body: #"{"batch":0}"#))  // 1
        // A provider's retry of a batch whose first event is already journaled: the body
        // still comes with the fresh ones.
        try await journal.append(events(["b0", "b1", "b2", "b3"], body: #"{"batch":1}"#))  // 2...4
        // The same bytes from another org, committed with the same batch, are another org's
        // body.
        let beta = events(["b4"], org: "beta", body: #"{"batch":2}"#)
        try await journal.append(events(["b5"], body: #"{"batch":2}"#) + beta)  // 5, 6
        let bodies = { try await journal.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM request_bodies") } }
        #expect(try await bodies() == 4)
        try await journal.close()

        let reopened = try SQLiteJournal(path: path, durability: .normal, recentEntries: 0)
        let read = try await reopened.entries(org: "acme", after: 0, limit: 10)
        #expect(read.map { String(decoding: $0.event.raw?.body ?? [], as: UTF8.self) } == [
            #"{"batch":0}"#, #"{"batch":1}"#, #"{"batch":1}"#, #"{"batch":1}"#, #"{"batch":2}"#,
        ])
        #expect(read.allSatisfy { $0.event.raw?.contentType == "application/json" })
        // Read back, batch 1's events share one copy of its body too (a page of a 3 MB
        // batch's events held a copy per event).
        let buffers = read.map { $0.event.raw?.body.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) } }
        try #require(buffers.count >= 5)
        #expect(Set(buffers[1...3]).count == 1 && buffers[1] != buffers[0] && buffers[1] != buffers[4])
        // b2 waits in a retry queue: pruning takes 1, 2 and 4 but keeps batch 1's body for b2.
        try await reopened.setCursor(4, subscription: "acme/native")
        try await reopened.pool.write { db in
            try db.execute(sql: "INSERT INTO delivery_queue (subscription, seq, key, attempts, next_attempt_at) VALUES ('acme/native', 3, 'b2', 1, 0)")
        }
        let queued = { try await reopened.dueDeliveries(subscription: "acme/native", now: Date(), limit: 10) }
        let count = { try await reopened.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM request_bodies") } }
        #expect(try await reopened.prune(olderThan: .zero, batchSize: 100) == 4, "acme's 1, 2, 4 and beta's 6")
        #expect(try await count() == 2, "batch 1's for b2, and acme's batch 2: beta's went with its event")
        #expect(try await queued().map { String(decoding: $0.entry.event.raw?.body ?? [], as: UTF8.self) } == [#"{"batch":1}"#])
        var delivered = DeliverySettlement(cursor: 5)
        delivered.removed = [3]
        try await reopened.settle(delivered, subscription: "acme/native")
        #expect(try await reopened.prune(olderThan: .zero, batchSize: 100) == 2)
        #expect(try await count() == 0)
        try await reopened.close()
    }

    /// A journal written before bodies had a table of their own (schema v7, a body per row)
    /// keeps every body through the migration.
    @Test func bodiesKeptPerRowBeforeVersion8ReadBackAfterIt() async throws {
        let event = {
            var event = TestEvents.status(.sent, message: "old")
            event.raw = RawPayload(contentType: "application/x-www-form-urlencoded", body: Array("a=1&b=2".utf8))
            return event
        }()
        let plain = TestEvents.status(.sent, message: "plain")
        do {
            let pool = try DatabasePool(path: path)
            try SQLiteJournal.migrator.migrate(pool, upTo: "v7-queue-by-seq")
            try await pool.write { db in
                for (index, stored) in [event, plain].enumerated() {
                    try db.execute(
                        sql: """
                            INSERT INTO journal (seq, event_id, org, channel, type, subject, received_at, event, raw_type, raw_body)
                            VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
                            """,
                        arguments: [
                            index + 1, stored.id, stored.org, stored.channel, stored.type.rawValue, stored.subject,
                            Data(stored.cloudEventBytes), stored.raw?.contentType, stored.raw.map { Data($0.body) },
                        ])
                }
            }
            try pool.close()
        }
        let journal = try SQLiteJournal(path: path, durability: .normal, recentEntries: 0)
        let read = try await journal.entries(org: "acme", after: 0, limit: 10)
        #expect(read.map(\.event.raw) == [event.raw, nil])
        #expect(read.map(\.event.subject) == ["old", "plain"])
        // They leave with their rows, as before.
        try await journal.setCursor(2, subscription: "acme/a")
        #expect(try await journal.prune(olderThan: .zero, batchSize: 10) == 2)
        #expect(try await journal.count() == 0)
        try await journal.close()
    }

    /// A journal migrated by the first version of v8, which moved the bodies and dropped the
    /// row's own body columns, reads back (every read names those columns).
    @Test func aJournalFromTheFirstVersion8ReadsBack() async throws {
        let event = {
            var event = TestEvents.status(.sent, message: "moved")
            event.raw = RawPayload(contentType: "application/json", body: Array(#"{"moved":1}"#.utf8))
            return event
        }()
        do {
            let pool = try DatabasePool(path: path)
            try SQLiteJournal.migrator.migrate(pool, upTo: "v8-request-bodies")
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO request_bodies (id, content_type, body) VALUES (1, 'application/json', CAST('{"moved":1}' AS BLOB));
                    ALTER TABLE journal DROP COLUMN raw_type;
                    ALTER TABLE journal DROP COLUMN raw_body;
                    """)
                try db.execute(
                    sql: "INSERT INTO journal (seq, event_id, org, channel, type, subject, received_at, event, body_id) VALUES (1, ?, ?, ?, ?, ?, 0, ?, 1)",
                    arguments: [event.id, event.org, event.channel, event.type.rawValue, event.subject, Data(event.cloudEventBytes)])
            }
            try pool.close()
        }
        let journal = try SQLiteJournal(path: path, durability: .normal, recentEntries: 0)
        let read = try await journal.entries(org: "acme", after: 0, limit: 10)
        #expect(read.map(\.event.raw) == [event.raw])
        try await journal.setCursor(1, subscription: "acme/a")
        #expect(try await journal.prune(olderThan: .zero, batchSize: 10) == 1)
        try await journal.close()
    }

    /// The parsed-event cache is bounded by count; events too large to keep 2048 of are
    /// parsed anew for each reader instead of kept.
    @Test func theParsedEventCacheKeepsOnlySmallEvents() {
        let cache = DecodedEvents(capacity: 4)
        var small = TestEvents.status(.sent, message: "small").keepingCloudEventBytes()
        var large = TestEvents.status(.sent, message: "large")
        large.raw = RawPayload(contentType: "application/json", body: Array(repeating: 0x20, count: DecodedEvents.largest))
        large = large.keepingCloudEventBytes()
        small.raw = nil
        cache.insert(small, sequence: 1)
        cache.insert(large, sequence: 2)
        #expect(cache.event(1)?.subject == "small")
        #expect(cache.event(2) == nil)
    }

    /// Bounded per org: one org's bad bodies never push out another's.
    @Test func quarantineIsBoundedPerOrg() async throws {
        let journal = try SQLiteJournal(path: path, durability: .normal)
        try await journal.quarantine(org: "other", channel: "gs", reason: "kept", contentType: nil, body: Array("{".utf8))
        for i in 0..<(SQLiteJournal.quarantineLimit + 5) {
            try await journal.quarantine(org: "acme", channel: "gs", reason: "bad \(i)", contentType: "application/json", body: Array("{".utf8))
        }
        let kept = try await journal.quarantined(org: "acme", limit: 5000)
        #expect(kept.count == SQLiteJournal.quarantineLimit)
        #expect(kept.first?.reason == "bad \(SQLiteJournal.quarantineLimit + 4)", "the newest are kept")
        #expect(kept.last?.reason == "bad 5")
        #expect(try await journal.quarantined(org: "other", limit: 10).map(\.reason) == ["kept"])
        try await journal.close()
    }
}

/// Counts the transactions committed on a connection.
private final class CommitCounter: TransactionObserver, Sendable {
    let count = Atomic<Int>(0)
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { count.add(1, ordering: .relaxed) }
    func databaseDidRollback(_ db: Database) {}
}
