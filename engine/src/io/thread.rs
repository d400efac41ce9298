//! Scheduling of the process's slow-path threads relative to the workers.
//!
//! A worker forwards media; the DTLS thread (control plane) runs handshakes, whose public-key
//! operations come in bursts when many peers join at once. Where they share cores, the kernel's
//! fair scheduler would give the DTLS thread an equal share of a worker's core for the length of
//! the burst, and forwarding would wait. A positive nice value (`setpriority(2)`) makes the
//! scheduler prefer the workers while still running the handshakes whenever a core is free:
//! joins get slower under load, running flows do not.

use std::io;

/// Sets the nice value of the calling thread (on Linux `setpriority(PRIO_PROCESS, tid, …)`
/// applies to one thread). Raising it needs no privilege.
pub fn set_current_thread_nice(nice: i32) -> io::Result<()> {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    // SAFETY: `setpriority` takes integers only and touches no memory of ours.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
