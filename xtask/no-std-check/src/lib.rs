//! Uses memory-core without std: predict, learn, save.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use lrmem_memory_core::{Memory, MemoryConfig, Trace};

struct NoHeap;

// SAFETY: never hands out memory; this crate is only compiled, never run.
unsafe impl GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOC: NoHeap = NoHeap;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// A C entry point so that the memory API is really linked in.
#[no_mangle]
pub extern "C" fn lrmem_no_std_smoke(g: f32) -> f32 {
    let Ok(mut m) = Memory::new(MemoryConfig::default()) else { return -1.0 };
    let mut trace = Trace::new(1);
    let mut eta = 0.0;
    let _ = m.step(&mut trace, &[g], |_, e, _| eta = e);
    let _ = m.to_bytes();
    eta + m.predict(g)
}
