//! Where packets were lost: in the kernel's socket queues, or elsewhere (in the SFU itself).
//!
//! A datagram that reaches a UDP socket whose receive queue is full is dropped by the kernel
//! before any process sees it. Two counters say how many, both read at the edges of a
//! measurement (window start, and after the drain, while every socket is still open):
//!
//! - per socket, the `drops` column of `/proc/net/udp` and `/proc/net/udp6` (the socket's
//!   `sk_drops`: queue full, or no memory), keyed by the socket's inode. A socket belongs to the
//!   SFU when one of its processes has a descriptor on that inode (`/proc/<pid>/fd/*` →
//!   `socket:[inode]`), to the harness when the harness does (`/proc/self/fd`);
//! - machine-wide, the `Udp:` counters of `/proc/net/snmp` (`InErrors`, `RcvbufErrors`,
//!   `SndbufErrors`): every process's, the other engineers' on this shared machine too, so they
//!   are reported, never used to attribute a loss.
//!
//! The split of a run's loss (in consumer packets, the unit of `loss %`): a drop at a harness
//! socket is one consumer packet lost (what the SFU sent never reached the client); a drop at an
//! SFU socket is one producer packet lost before the SFU read it, i.e. as many consumer packets
//! as the producer has consumers (estimated as consumers ÷ producers of the topology; the rare
//! RTCP, STUN or DTLS datagram in those queues is counted as media). "Lost elsewhere" is the
//! rest of the loss: what the SFU read but did not forward, or sent and the kernel dropped on
//! the way out (`SndbufErrors`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use serde::Serialize;

/// The `Udp:` counters of `/proc/net/snmp` the split reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UdpSnmp {
    pub in_errors: u64,
    pub rcvbuf_errors: u64,
    pub sndbuf_errors: u64,
}

/// Parses the `Udp:` header and value lines of `/proc/net/snmp` (fields by name: their order
/// and number grew over kernel versions).
pub fn parse_snmp_udp(text: &str) -> Option<UdpSnmp> {
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_ascii_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_ascii_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some(UdpSnmp {
        in_errors: field("InErrors")?,
        rcvbuf_errors: field("RcvbufErrors")?,
        sndbuf_errors: field("SndbufErrors").unwrap_or(0),
    })
}

/// `(inode, drops)` of every socket line of `/proc/net/udp` or `/proc/net/udp6`.
pub fn parse_proc_net_udp(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_ascii_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            let inode = f.get(9)?.parse().ok()?;
            let drops = f.get(12)?.parse().ok()?;
            Some((inode, drops))
        })
        .collect()
}

/// The inode of a `socket:[N]` descriptor link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Socket inodes a process has descriptors on (`self` for the harness).
fn socket_inodes(pid: &str) -> BTreeSet<u64> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    dir.flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|l| socket_inode(l.to_str()?))
        .collect()
}

/// Every UDP socket's drop count, by inode.
fn udp_drops() -> BTreeMap<u64, u64> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .flat_map(|t| parse_proc_net_udp(&t))
        .collect()
}

/// The counters at one edge of a measurement.
#[derive(Clone, Debug, Default)]
pub struct DropSnapshot {
    snmp: Option<UdpSnmp>,
    /// Drops per UDP socket of the SFU's processes, and of the harness.
    sfu: BTreeMap<u64, u64>,
    harness: BTreeMap<u64, u64>,
}

impl DropSnapshot {
    /// Reads the counters for the SFU's `pids` and this process. Unreadable files give empty
    /// figures (a process that exited has no sockets left to drop on).
    pub fn read(sfu_pids: &[u32]) -> Self {
        let all = udp_drops();
        let own = |inodes: BTreeSet<u64>| -> BTreeMap<u64, u64> {
            inodes
                .into_iter()
                .filter_map(|i| Some((i, *all.get(&i)?)))
                .collect()
        };
        let sfu: BTreeSet<u64> = sfu_pids
            .iter()
            .flat_map(|p| socket_inodes(&p.to_string()))
            .collect();
        Self {
            snmp: fs::read_to_string("/proc/net/snmp")
                .ok()
                .and_then(|t| parse_snmp_udp(&t)),
            sfu: own(sfu),
            harness: own(socket_inodes("self")),
        }
    }
}

/// Kernel drops between two snapshots, and the run's loss split by them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct KernelDrops {
    /// Datagrams dropped at the SFU's UDP sockets, and at the harness's.
    pub sfu_socket_drops: u64,
    pub harness_socket_drops: u64,
    /// UDP sockets counted on each side.
    pub sfu_sockets: usize,
    pub harness_sockets: usize,
    /// Machine-wide `/proc/net/snmp` deltas (every process's).
    pub machine: Option<UdpSnmp>,
    /// Consumer packets lost, and of them in the kernel's queues (estimated, see the module
    /// text) and elsewhere.
    pub lost: u64,
    pub lost_in_kernel: u64,
    pub lost_elsewhere: u64,
}

/// Per-socket drops that happened between `a` and `b` (a socket new in `b` counts whole).
fn socket_delta(a: &BTreeMap<u64, u64>, b: &BTreeMap<u64, u64>) -> u64 {
    b.iter()
        .map(|(i, d)| d.saturating_sub(a.get(i).copied().unwrap_or(0)))
        .sum()
}

impl KernelDrops {
    /// The drops between `a` and `b`, and how much of `lost` (consumer packets) they explain
    /// when each producer packet has `fanout` consumers.
    pub fn between(a: &DropSnapshot, b: &DropSnapshot, lost: u64, fanout: f64) -> Self {
        let sfu = socket_delta(&a.sfu, &b.sfu);
        let harness = socket_delta(&a.harness, &b.harness);
        let machine = match (a.snmp, b.snmp) {
            (Some(x), Some(y)) => Some(UdpSnmp {
                in_errors: y.in_errors.saturating_sub(x.in_errors),
                rcvbuf_errors: y.rcvbuf_errors.saturating_sub(x.rcvbuf_errors),
                sndbuf_errors: y.sndbuf_errors.saturating_sub(x.sndbuf_errors),
            }),
            _ => None,
        };
        let (in_kernel, elsewhere) = split_loss(lost, sfu, harness, fanout);
        Self {
            sfu_socket_drops: sfu,
            harness_socket_drops: harness,
            sfu_sockets: b.sfu.len(),
            harness_sockets: b.harness.len(),
            machine,
            lost,
            lost_in_kernel: in_kernel,
            lost_elsewhere: elsewhere,
        }
    }
}

/// `lost` consumer packets split into (in kernel queues, elsewhere): each harness-socket drop
/// is one, each SFU-socket drop `fanout`; never more than `lost` in all.
pub fn split_loss(lost: u64, sfu_drops: u64, harness_drops: u64, fanout: f64) -> (u64, u64) {
    let at_sfu = (sfu_drops as f64 * fanout.max(0.0)).round() as u64;
    let in_kernel = harness_drops.saturating_add(at_sfu).min(lost);
    (in_kernel, lost - in_kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_udp_fields_by_name() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\n\
                    Udp: 908 3 17 900 11 2 0\n\
                    UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    UdpLite: 0 0 0 0 0 0\n";
        assert_eq!(
            parse_snmp_udp(snmp),
            Some(UdpSnmp {
                in_errors: 17,
                rcvbuf_errors: 11,
                sndbuf_errors: 2
            })
        );
        assert_eq!(parse_snmp_udp("Ip: a\nIp: 1\n"), None);
        assert_eq!(parse_snmp_udp("Udp: InErrors\nUdp: x\n"), None);
    }

    #[test]
    fn proc_net_udp_gives_inode_and_drops() {
        let t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 \x20 13: 0100007F:A2F3 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 345678 2 0000000000000000 0\n\
                 \x20 99: 0100007F:9C41 0100007F:A2F3 01 00000000:00034000 00:00000000 00000000  1000        0 345690 2 0000000000000000 4217\n\
                 garbage\n";
        assert_eq!(parse_proc_net_udp(t), vec![(345_678, 0), (345_690, 4_217)]);
        assert_eq!(socket_inode("socket:[345690]"), Some(345_690));
        assert_eq!(socket_inode("pipe:[12]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn drops_are_per_socket_deltas_and_split_the_loss() {
        let a = DropSnapshot {
            snmp: Some(UdpSnmp {
                in_errors: 10,
                rcvbuf_errors: 8,
                sndbuf_errors: 0,
            }),
            sfu: BTreeMap::from([(1, 5), (2, 0)]),
            harness: BTreeMap::from([(7, 100)]),
        };
        let b = DropSnapshot {
            snmp: Some(UdpSnmp {
                in_errors: 60,
                rcvbuf_errors: 50,
                sndbuf_errors: 1,
            }),
            // Socket 3 is new: all its drops count.
            sfu: BTreeMap::from([(1, 7), (2, 0), (3, 1)]),
            harness: BTreeMap::from([(7, 130), (8, 4)]),
        };
        // SFU: 2 + 1 = 3 producer packets × 9 consumers = 27; harness 30 + 4 = 34.
        let k = KernelDrops::between(&a, &b, 100, 9.0);
        assert_eq!((k.sfu_socket_drops, k.harness_socket_drops), (3, 34));
        assert_eq!((k.sfu_sockets, k.harness_sockets), (3, 2));
        assert_eq!((k.lost_in_kernel, k.lost_elsewhere), (61, 39));
        assert_eq!(
            k.machine,
            Some(UdpSnmp {
                in_errors: 50,
                rcvbuf_errors: 42,
                sndbuf_errors: 1
            })
        );
        // Drops never explain more than was lost (RTCP and STUN share the queues).
        assert_eq!(split_loss(10, 3, 34, 9.0), (10, 0));
        assert_eq!(split_loss(0, 0, 0, 3.0), (0, 0));
        assert_eq!(split_loss(50, 0, 0, 3.0), (0, 50));
    }

    #[test]
    fn this_process_sees_its_own_udp_socket() {
        use std::os::fd::AsRawFd;
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let link = fs::read_link(format!("/proc/self/fd/{}", sock.as_raw_fd())).unwrap();
        let inode = socket_inode(link.to_str().unwrap()).expect("a socket link");
        let snap = DropSnapshot::read(&[std::process::id()]);
        assert_eq!(snap.harness.get(&inode), Some(&0), "bound, nothing dropped");
        assert!(
            snap.sfu.contains_key(&inode),
            "found through the pid as well"
        );
        drop(sock);
    }
}
