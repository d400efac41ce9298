//! CPU accounting of a process from `/proc`, over a measurement window.
//!
//! Two sources, read at both edges of the window:
//!
//! - `/proc/<pid>/task/<tid>/schedstat`: the first field is the task's `sum_exec_runtime`, the
//!   nanoseconds it spent on a CPU, user and kernel together, kept by the scheduler at
//!   nanosecond precision. Summed over the process's threads this is the **primary** figure.
//!   A thread that exits inside the window takes its time with it, so the snapshot records
//!   which threads came and went; a thread born in the window counts from zero.
//! - `/proc/<pid>/stat` fields 14 and 15 (`utime`, `stime`, proc(5)): user and system time of
//!   the whole process including exited threads, in clock ticks of `USER_HZ` (fixed at 100 by
//!   the kernel ABI for `/proc`, whatever `CONFIG_HZ` is). At 10 ms resolution it is the
//!   cross-check of the total and the only source of the user/kernel split.
//!
//! On loopback a UDP send runs the receiving socket's softirq path in the sender's context, so
//! a forwarder's system time includes delivering its datagrams to the receivers' sockets; the
//! same holds for the floor forwarder and for the harness's own sender, so the comparison is
//! like for like.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::error::BenchError;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, see proc(5)).
pub const USER_HZ: u64 = 100;
const NS_PER_TICK: u64 = 1_000_000_000 / USER_HZ;

/// `utime` and `stime` of `/proc/<pid>/stat`, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatTicks {
    pub utime: u64,
    pub stime: u64,
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
/// itself hold spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<StatTicks> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let mut fields = rest.split_ascii_whitespace();
    let utime = fields.nth(14 - 3)?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some(StatTicks { utime, stime })
}

/// The fields of `/proc/.../schedstat` the harness uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedstat {
    /// Time on a CPU, ns.
    pub run_ns: u64,
    /// Times the task was scheduled onto a CPU (each wake-up from a blocking wait is one).
    pub slices: u64,
    /// Time runnable but waiting on a run queue (the scheduler's `run_delay`), ns: how long
    /// the machine's other work kept the task off a CPU it wanted.
    pub wait_ns: u64,
}

/// Parses `/proc/.../schedstat`: `run_ns wait_ns timeslices`.
pub fn parse_schedstat(text: &str) -> Option<Schedstat> {
    let mut f = text.split_ascii_whitespace();
    let run_ns = f.next()?.parse().ok()?;
    let wait_ns = f.next()?.parse().ok()?;
    let slices = f.next()?.parse().ok()?;
    Some(Schedstat {
        run_ns,
        slices,
        wait_ns,
    })
}

/// One thread at one edge of the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCpu {
    pub name: String,
    pub run_ns: u64,
    pub slices: u64,
    pub wait_ns: u64,
}

/// A process's CPU counters at one instant.
#[derive(Clone, Debug, Default)]
pub struct ProcSnapshot {
    pub ticks: StatTicks,
    pub tasks: BTreeMap<u32, TaskCpu>,
}

impl ProcSnapshot {
    /// Reads `/proc/<pid>`. Threads that exit while being listed are skipped.
    pub fn read(pid: u32) -> Result<Self, BenchError> {
        let base = format!("/proc/{pid}");
        let stat = read_to_string(&format!("{base}/stat"))?;
        let ticks = parse_stat(&stat).ok_or_else(|| BenchError::Proc(format!("{base}/stat")))?;
        let mut tasks = BTreeMap::new();
        let dir = fs::read_dir(format!("{base}/task")).map_err(|e| BenchError::io(&base, e))?;
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let p = entry.path();
            if let Some(t) = read_task(&p) {
                tasks.insert(tid, t);
            }
        }
        Ok(Self { ticks, tasks })
    }
}

fn read_task(dir: &Path) -> Option<TaskCpu> {
    let st = parse_schedstat(&fs::read_to_string(dir.join("schedstat")).ok()?)?;
    let name = fs::read_to_string(dir.join("comm"))
        .ok()?
        .trim()
        .to_string();
    Some(TaskCpu {
        name,
        run_ns: st.run_ns,
        slices: st.slices,
        wait_ns: st.wait_ns,
    })
}

/// CPU time and runs of one thread of this process (`/proc/self/task/<tid>/schedstat`).
pub fn thread_schedstat(tid: u32) -> Result<Schedstat, BenchError> {
    let path = format!("/proc/self/task/{tid}/schedstat");
    parse_schedstat(&read_to_string(&path)?).ok_or(BenchError::Proc(path))
}

/// The calling thread's id, from the `/proc/thread-self` link (`<pid>/task/<tid>`).
pub fn current_tid() -> Result<u32, BenchError> {
    let link = fs::read_link("/proc/thread-self").map_err(|e| BenchError::io("thread-self", e))?;
    link.file_name()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| BenchError::Proc(format!("/proc/thread-self -> {}", link.display())))
}

fn read_to_string(path: &str) -> Result<String, BenchError> {
    fs::read_to_string(path).map_err(|e| BenchError::io(path, e))
}

/// CPU a process spent between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CpuDelta {
    /// Sum of the threads' `schedstat` run time: threads alive at both edges by difference,
    /// threads born in the window in full.
    pub sched_ns: u64,
    /// Times the process's threads were scheduled in (wake-ups), threads alive at both edges.
    pub slices: u64,
    /// Time the threads were runnable but waited for a CPU (`schedstat` `run_delay`), as
    /// `sched_ns` is counted: the share of the window the machine held the process back.
    pub wait_ns: u64,
    /// `utime + stime` of `/proc/<pid>/stat`, converted to nanoseconds (10 ms resolution).
    pub stat_ns: u64,
    /// `utime` alone, nanoseconds.
    pub user_ns: u64,
    /// `stime` alone, nanoseconds.
    pub sys_ns: u64,
    /// Threads present at the start but gone at the end (their window time is missing from
    /// `sched_ns`, present in `stat_ns`).
    pub tasks_exited: usize,
    /// Threads born in the window.
    pub tasks_born: usize,
    /// `sched_ns` by thread name, largest first.
    pub by_thread: Vec<(String, u64)>,
}

impl CpuDelta {
    pub fn between(start: &ProcSnapshot, end: &ProcSnapshot) -> Self {
        let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
        let mut sched_ns = 0;
        let mut slices = 0;
        let mut wait_ns = 0;
        let mut born = 0;
        for (tid, t) in &end.tasks {
            let (before, before_slices, before_wait) = match start.tasks.get(tid) {
                Some(s) => (s.run_ns, s.slices, s.wait_ns),
                None => {
                    born += 1;
                    (0, 0, 0)
                }
            };
            slices += t.slices.saturating_sub(before_slices);
            wait_ns += t.wait_ns.saturating_sub(before_wait);
            let d = t.run_ns.saturating_sub(before);
            sched_ns += d;
            *by_name.entry(&t.name).or_default() += d;
        }
        let exited = start
            .tasks
            .keys()
            .filter(|tid| !end.tasks.contains_key(tid))
            .count();
        let user_ns = end.ticks.utime.saturating_sub(start.ticks.utime) * NS_PER_TICK;
        let sys_ns = end.ticks.stime.saturating_sub(start.ticks.stime) * NS_PER_TICK;
        let mut by_thread: Vec<(String, u64)> = by_name
            .into_iter()
            .map(|(n, ns)| (n.to_string(), ns))
            .collect();
        by_thread.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self {
            sched_ns,
            slices,
            wait_ns,
            stat_ns: user_ns + sys_ns,
            user_ns,
            sys_ns,
            tasks_exited: exited,
            tasks_born: born,
            by_thread,
        }
    }
}

/// The machine's UDP receive-buffer drops (`RcvbufErrors` of the `Udp:` lines of
/// `/proc/net/snmp`): datagrams the kernel discarded because a socket's queue was full. Not
/// per process, so it names no culprit, but it tells a loss in a socket queue (a reader that
/// fell behind) from a drop inside the forwarder.
pub fn udp_rcvbuf_errors() -> Result<u64, BenchError> {
    let path = "/proc/net/snmp";
    parse_udp_rcvbuf_errors(&read_to_string(path)?).ok_or_else(|| BenchError::Proc(path.into()))
}

/// Parses the `Udp:` header and value lines of `/proc/net/snmp` for `RcvbufErrors`.
pub fn parse_udp_rcvbuf_errors(text: &str) -> Option<u64> {
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let header = udp.next()?;
    let values = udp.next()?;
    let col = header
        .split_ascii_whitespace()
        .position(|w| w == "RcvbufErrors")?;
    values.split_ascii_whitespace().nth(col)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_rcvbuf_errors_by_column_name() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    Udp: 53642468 27 11184 53676722 11183 0\n\
                    UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    UdpLite: 0 0 0 0 0 0\n";
        assert_eq!(parse_udp_rcvbuf_errors(snmp), Some(11_183));
        assert_eq!(parse_udp_rcvbuf_errors("Udp: InDatagrams\nUdp: 5\n"), None);
        assert_eq!(parse_udp_rcvbuf_errors(""), None);
    }

    // A line in proc(5)'s format, with a command name holding ") (".
    const STAT: &str = "4242 (sluice ) (x) S 1 4242 4242 0 -1 4194560 1031 0 0 0 \
                        1234 567 0 0 20 0 5 0 98765 123456789 2345 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 17664 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_after_the_last_paren() {
        assert_eq!(
            parse_stat(STAT),
            Some(StatTicks {
                utime: 1234,
                stime: 567
            })
        );
        assert_eq!(parse_stat("12 (x) S 1 2"), None, "too few fields");
        assert_eq!(parse_stat("no parens at all"), None);
    }

    #[test]
    fn schedstat_first_field_is_run_time() {
        assert_eq!(
            parse_schedstat("82870123 485523 2\n"),
            Some(Schedstat {
                run_ns: 82_870_123,
                slices: 2,
                wait_ns: 485_523
            })
        );
        assert_eq!(parse_schedstat("82870123 485523"), None);
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    fn task(name: &str, run_ns: u64) -> TaskCpu {
        TaskCpu {
            name: name.into(),
            run_ns,
            slices: run_ns / 100,
            wait_ns: run_ns / 10,
        }
    }

    #[test]
    fn delta_counts_survivors_by_difference_and_newborns_in_full() {
        let start = ProcSnapshot {
            ticks: StatTicks {
                utime: 100,
                stime: 50,
            },
            tasks: [
                (1, task("sluice", 1_000)),
                (2, task("sluice-worker-0", 5_000)),
                (3, task("tokio-rt", 700)),
            ]
            .into(),
        };
        let end = ProcSnapshot {
            ticks: StatTicks {
                utime: 130,
                stime: 120,
            },
            tasks: [
                (1, task("sluice", 1_500)),
                (2, task("sluice-worker-0", 2_005_000)),
                (4, task("tokio-rt", 300)),
            ]
            .into(),
        };
        let d = CpuDelta::between(&start, &end);
        assert_eq!(d.sched_ns, 500 + 2_000_000 + 300);
        assert_eq!(d.slices, 5 + 20_000 + 3);
        assert_eq!(d.user_ns, 30 * 10_000_000);
        assert_eq!(d.sys_ns, 70 * 10_000_000);
        assert_eq!(d.stat_ns, 100 * 10_000_000);
        assert_eq!(d.tasks_exited, 1);
        assert_eq!(d.tasks_born, 1);
        assert_eq!(
            d.by_thread,
            vec![
                ("sluice-worker-0".to_string(), 2_000_000),
                ("sluice".to_string(), 500),
                ("tokio-rt".to_string(), 300),
            ]
        );
    }

    #[test]
    fn counters_never_go_negative() {
        let start = ProcSnapshot {
            ticks: StatTicks {
                utime: 10,
                stime: 10,
            },
            tasks: [(1, task("a", 900))].into(),
        };
        let end = ProcSnapshot {
            ticks: StatTicks { utime: 9, stime: 9 },
            tasks: [(1, task("a", 800))].into(),
        };
        let d = CpuDelta::between(&start, &end);
        assert_eq!((d.sched_ns, d.stat_ns), (0, 0));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let s = ProcSnapshot::read(me).unwrap();
        let tid = current_tid().unwrap();
        assert!(s.tasks.contains_key(&tid));
        let st = thread_schedstat(tid).unwrap();
        assert!(st.run_ns > 0 && st.slices > 0);
    }
}
