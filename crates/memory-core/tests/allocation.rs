//! No D×M allocation anywhere: a step on D coordinates allocates O(M·K), never O(D·M).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use lrmem_memory_core::{Layout as Centres, Memory, MemoryConfig, Trace};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(l.size(), Ordering::SeqCst) + l.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CURRENT.fetch_sub(l.size(), Ordering::SeqCst);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn step_allocates_nothing_proportional_to_d_times_m() {
    let d = 100_000;
    for (m, layout) in [
        (100, Centres::Linear),
        (20, Centres::Linear),
        (20, Centres::Log),
    ] {
        let g: Vec<f32> = (0..d).map(|i| ((i as f32) * 0.618).sin()).collect();
        let g2: Vec<f32> = g.iter().map(|x| x * 0.9).collect();
        let mut mem = Memory::new(MemoryConfig {
            num_centers: m,
            layout,
            ..MemoryConfig::default()
        })
        .unwrap();
        let mut trace = Trace::new(d);
        let base = CURRENT.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let mut sum = 0.0;
        for g in [&g, &g2, &g] {
            mem.step(&mut trace, g, |_, eta, _| sum += eta).unwrap();
        }
        let extra = PEAK.load(Ordering::SeqCst) - base;
        // A D×M matrix of f32 would be 4·D·M bytes (40 MB here); a step may allocate O(M) only.
        assert!(
            extra < 64 * 1024,
            "a step on D = {d}, M = {m} allocated {extra} bytes"
        );
        assert!(sum.is_finite());
    }
}
