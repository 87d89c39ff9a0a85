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
}
