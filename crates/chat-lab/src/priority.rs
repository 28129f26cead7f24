//! The load generator's scheduling priority.
//!
//! The client shares two cores with the node and PostgreSQL. At equal priority the kernel shares
//! the CPU per thread, and the node's JVM has dozens of threads to the client's few: when they
//! wake together (after a collection, in a burst of requests) the client's runtime waits for a
//! core, and that wait lands in the latency of every request in flight. A 1 ms timer in the
//! client's runtime fired up to 38 ms late at 800 loads/s at equal priority, and about 5 ms late
//! with the client at nice -10. A client on a machine of its own, as in production, never waits
//! on the database's threads, so the benchmark raises its own priority before any thread starts.
//! It uses a fifth of a core or less below saturation, so the servers lose little.

/// The nice value the client asks for (lower runs first; 0 is the default).
pub const CLIENT_NICE: i32 = -10;

/// The priority the client ran at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPriority {
    /// The nice value of the process's threads.
    pub nice: i32,
    /// Whether the raise to [`CLIENT_NICE`] took effect (it needs root or `CAP_SYS_NICE`).
    pub raised: bool,
}

impl ClientPriority {
    /// Left as the shell started it: for library callers and tests.
    pub fn unchanged() -> ClientPriority {
        ClientPriority { nice: current_nice(), raised: false }
    }

    /// One line for a report's setup section.
    pub fn describe(&self) -> String {
        if self.raised {
            format!(
                "the client (this process) ran at nice {}, so that the servers' threads never kept it waiting for a core; \
                 a client on a machine of its own never waits on them",
                self.nice
            )
        } else {
            format!(
                "the client (this process) ran at nice {}, not {CLIENT_NICE} (raising it needs root or CAP_SYS_NICE): its own \
                 waits for a core behind the servers' threads are part of its latencies",
                self.nice
            )
        }
    }
}

/// Raises the calling thread to [`CLIENT_NICE`]. On Linux the nice value belongs to a thread and
/// threads inherit it, so call this first, before the async runtime starts its workers.
pub fn raise_client_priority() -> ClientPriority {
    // SAFETY: setpriority only reads its arguments; who 0 is the calling thread.
    let status = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, CLIENT_NICE) };
    let nice = current_nice();
    ClientPriority { nice, raised: status == 0 && nice == CLIENT_NICE }
}

fn current_nice() -> i32 {
    // SAFETY: getpriority only reads its arguments. It can return -1 as a value, which is the
    // nice value here too: the call cannot fail for the calling thread.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}
