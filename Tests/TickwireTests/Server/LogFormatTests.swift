import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Testing
import TickwireCore
@testable import TickwireServer

@Suite("Log line formats")
struct LogFormatTests {
    @Test func logfmtQuotesValuesThatCouldForgeFields() {
        let line = StructuredLogHandler.logfmt([("msg", "webhook refused"), ("org", "acme"), ("channel", "x\nlevel=error")])
        #expect(line == #"msg="webhook refused" org=acme channel="x\nlevel=error""#)
        #expect(!line.contains("\n"))
    }

    @Test func jsonLinesAreOneValidObject() throws {
        let line = StructuredLogHandler.json([("time", "t"), ("msg", "a \"quoted\"\nline")])
        let object = try JSONValue.parse(line)
        #expect(object["msg"] == "a \"quoted\"\nline")
        #expect(!line.contains("\n"))
    }

    @Test func charactersOtherToolsReadAsLineBreaksAreEscaped() throws {
        // Python's splitlines and some log viewers break lines at NEL, U+2028 and U+2029.
        let hostile = "a\u{85}b\u{2028}level=error msg=forged\u{2029}c\u{9B}"
        for line in [
            StructuredLogHandler.escapingLineSeparators(StructuredLogHandler.logfmt([("org", hostile)])),
            StructuredLogHandler.escapingLineSeparators(StructuredLogHandler.json([("org", hostile)])),
        ] {
            #expect(line.split(whereSeparator: \.isNewline).count == 1, "\(line)")
            #expect(line.contains(#"\u2028"#))
        }
        let json = StructuredLogHandler.escapingLineSeparators(StructuredLogHandler.json([("org", hostile)]))
        #expect(try JSONValue.parse(json)["org"] == .string(hostile))
        #expect(StructuredLogHandler.logfmt([("org", "café")]) == #"org="café""#)
    }

    @Test func aFullDiskBehindStandardErrorCostsTheLineNotTheProcess() throws {
        // /dev/full fails every write with ENOSPC, as stderr redirected to a full volume does.
        let full = open("/dev/full", O_WRONLY)
        try #require(full >= 0)
        let saved = dup(STDERR_FILENO)
        dup2(full, STDERR_FILENO)
        defer {
            dup2(saved, STDERR_FILENO)
            close(saved)
            close(full)
        }
        let logger = Logger(label: "test") { StructuredLogHandler(label: $0, level: .info, format: .logfmt) }
        logger.error("journal append failed", metadata: ["reason": "disk full"])
        logger.info("still running")
    }
}

@Suite("Refusal log budget")
struct RefusalLogTests {
    @Test func aFloodIsLoggedAsACount() {
        let log = LogRecorder()
        let logger = log.logger(level: .info)
        let refusals = RefusalLog(perSecond: 3)
        var written = 0
        for _ in 0..<10 { refusals.admit(logger, second: 100) { written += 1 } }
        #expect(written == 3, "three lines in the first second, seven counted")
        refusals.admit(logger, second: 101) { written += 1 }
        #expect(written == 4)
        let counted = log.records.first { $0.message == "webhook refusals not logged" }
        #expect(counted?.metadata["count"] == "7")
        // A quiet second after a flood starts a fresh budget with nothing to report.
        refusals.admit(logger, second: 105) { written += 1 }
        #expect(log.records.filter { $0.message == "webhook refusals not logged" }.count == 1)
    }
}
