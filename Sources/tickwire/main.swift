import NIOCore
import NIOPosix

// Swift concurrency runs on NIO's event loops, so a request's handler, the journal's group
// commit and the dispatchers do not hop between NIO's threads and a second thread pool of
// the same size (the hops were a tenth of the CPU in issue 8's profile). Blocking work goes
// to NIOThreadPool (file sinks) or GRDB's queues (SQLite). Must run first, on the main thread.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

// Through an async function: top-level code would pick ParsableCommand's synchronous
// `main`, which refuses an async root command.
func runTickwire() async {
    await Tickwire.main(nil)
}
await runTickwire()
