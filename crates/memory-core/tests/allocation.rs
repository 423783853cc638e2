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

/// Bytes allocated at peak by three steps on `d` coordinates of a fresh memory, and by three
/// more steps after those.
fn step_allocations(d: usize, m: usize, layout: Centres) -> (usize, usize) {
    let g: Vec<f32> = (0..d).map(|i| ((i as f32) * 0.618).sin()).collect();
    let g2: Vec<f32> = g.iter().map(|x| x * 0.9).collect();
    let mut mem = Memory::new(MemoryConfig {
        num_centers: m,
        layout,
        ..MemoryConfig::default()
    })
    .unwrap();
    let mut trace = Trace::new(d);
    let mut sum = 0.0;
    let mut extra = [0; 2];
    for e in &mut extra {
        let base = CURRENT.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        for g in [&g, &g2, &g] {
            mem.step(&mut trace, g, |_, eta, _| sum += eta).unwrap();
        }
        *e = PEAK.load(Ordering::SeqCst) - base;
    }
    assert!(sum.is_finite());
    (extra[0], extra[1])
}

/// A step allocates nothing that grows with D: the first steps of a memory make its tables
/// (the prediction table of a large tensor, O(M·K) entries per sub-interval of a spacing,
/// docs/algorithm.md §16) once, the same bytes at D = 10⁵ and 10⁶, far below a D×M matrix;
/// later steps allocate nothing.
#[test]
fn step_allocates_nothing_proportional_to_d_times_m() {
    for (m, layout) in [
        (100, Centres::Linear),
        (20, Centres::Linear),
        (20, Centres::Log),
    ] {
        let (first, later) = step_allocations(100_000, m, layout);
        let (first_big, later_big) = step_allocations(1_000_000, m, layout);
        assert_eq!(
            first, first_big,
            "M = {m}: the first steps allocated {first} bytes at D = 10^5, {first_big} at 10^6"
        );
        // A D×M matrix of f32 would be 4·D·M bytes (40 MB at D = 10⁵ and M = 100): the
        // tables stay below a sixteenth of it.
        assert!(
            first < 100_000 * m / 4,
            "the first steps on D = 100000, M = {m} allocated {first} bytes"
        );
        assert_eq!(
            (later, later_big),
            (0, 0),
            "M = {m}: steps after the first allocated"
        );
    }
}
