//! Proves the forwarding path allocates nothing: a counting global allocator, a real worker
//! (both I/O backends) forwarding plain RTP from one producer to three consumers, and zero
//! allocations in the process over 10 000 forwarded input packets after warm-up.
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};

use sluice_engine::io::IoKind;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Sends `count` packets starting at `first_seq` and waits until every receiver got them all.
/// Paced in small bursts so that no socket buffer overflows; no allocation here either.
fn pump(
    sender: &UdpSocket,
    to: std::net::SocketAddr,
    receivers: &[UdpSocket],
    packets: &[Vec<u8>],
) {
    let mut buf = [0u8; 2048];
    for burst in packets.chunks(50) {
        for p in burst {
            sender.send_to(p, to).unwrap();
        }
        for r in receivers {
            for _ in burst {
                let (n, _) = r
                    .recv_from(&mut buf)
                    .expect("every forwarded packet arrives");
                assert_eq!(n, 200);
            }
        }
    }
}

fn run(io: IoKind) {
    let workers = common::spawn(1, io);
    let sender = common::endpoint();
    let receivers: Vec<UdpSocket> = (0..3).map(|_| common::endpoint()).collect();
    let to = common::opus_fanout(&workers, &sender, &receivers);
    // Prepare every packet before counting: building them allocates, forwarding must not.
    let warmup: Vec<Vec<u8>> = (0..1000).map(common::opus_packet).collect();
    let measured: Vec<Vec<u8>> = (1000..11_000u32)
        .map(|s| common::opus_packet(s as u16))
        .collect();
    pump(&sender, to, &receivers, &warmup);
    let before = ALLOCS.load(Ordering::SeqCst);
    pump(&sender, to, &receivers, &measured);
    let after = ALLOCS.load(Ordering::SeqCst);
    let forwarded = workers.get(0).unwrap().stats().rtc.rtp_forwarded;
    drop(workers);
    assert!(forwarded >= 30_000, "{io:?}: forwarded {forwarded}");
    assert_eq!(
        after - before,
        0,
        "{io:?}: {} heap allocations while forwarding 10 000 packets",
        after - before
    );
    println!("no_alloc {io:?}: 10000 packets x 3 consumers forwarded with 0 allocations");
}

fn main() {
    run(IoKind::Uring);
    run(IoKind::Mmsg);
    println!("no_alloc: 2 passed, 0 failed");
}
