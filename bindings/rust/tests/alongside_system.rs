//! A test program whose global allocator is the system's: `Hmalloc` is called explicitly,
//! beside it.  Each allocator keeps its own blocks, and hmalloc's statistics move only with
//! calls to `Hmalloc`.

use hmalloc::{stats, Hmalloc};
use std::alloc::{GlobalAlloc, Layout};

const HM: Hmalloc = Hmalloc;

#[test]
fn statistics_move_only_with_hmalloc() {
    // Set hmalloc up first.
    let l = Layout::from_size_align(8, 8).unwrap();
    // SAFETY: allocated and freed with the same layout.
    unsafe { HM.dealloc(HM.alloc(l), l) };

    let a0 = stats::thread_allocated().unwrap();
    let d0 = stats::thread_deallocated().unwrap();
    // The system allocator: Vec, String, Box.
    let v: Vec<Vec<u8>> = (0..2000).map(|i| vec![1u8; i * 13]).collect();
    let s: String = "system".repeat(100_000);
    let b = Box::new([7u64; 100_000]);
    assert_eq!(stats::thread_allocated().unwrap(), a0, "system allocations moved hmalloc's");
    drop((v, s, b));
    assert_eq!(stats::thread_deallocated().unwrap(), d0, "system frees moved hmalloc's");

    // hmalloc.
    let layouts: Vec<Layout> =
        (1..200).map(|i| Layout::from_size_align(i * 97, 1 << (i % 13)).unwrap()).collect();
    let total: usize = layouts.iter().map(|l| l.size()).sum();
    // SAFETY: each block is written within its layout and freed with it.
    let blocks: Vec<*mut u8> = layouts
        .iter()
        .map(|&l| unsafe {
            let p = HM.alloc(l);
            assert!(!p.is_null() && p as usize % l.align() == 0);
            p.write_bytes(3, l.size());
            p
        })
        .collect();
    let a1 = stats::thread_allocated().unwrap();
    assert!(a1 - a0 >= total as u64, "hmalloc allocated {} < {total}", a1 - a0);
    for (&p, &l) in blocks.iter().zip(&layouts) {
        // SAFETY: as above.
        unsafe {
            assert!(HM.usable_size(p) >= l.size());
            HM.dealloc(p, l);
        }
    }
    assert!(stats::thread_deallocated().unwrap() - d0 >= total as u64);
}

#[test]
fn usable_size_of_layouts() {
    for (size, align) in [(1, 1), (8, 8), (100, 16), (100, 64), (5000, 4096), (3 << 20, 2 << 20)] {
        let l = Layout::from_size_align(size, align).unwrap();
        let usable = HM.usable_size_of(l);
        assert!(usable >= size);
        // SAFETY: allocated and freed with the same layout.
        unsafe {
            let p = HM.alloc(l);
            assert_eq!(HM.usable_size(p), usable, "size {size} align {align}");
            HM.dealloc(p, l);
        }
    }
}

#[test]
fn zeroed_and_realloc() {
    for size in [1usize, 100, 5000, 50_000, 3 << 20] {
        let l = Layout::from_size_align(size, 32).unwrap();
        // SAFETY: used within the layouts given, freed with the last one.
        unsafe {
            let p = HM.alloc(l);
            p.write_bytes(0xff, size);
            HM.dealloc(p, l);
            let z = HM.alloc_zeroed(l);
            assert!((0..size).all(|i| *z.add(i) == 0), "alloc_zeroed({size}) not zero");
            z.write_bytes(9, size);
            let r = HM.realloc(z, l, size * 3);
            assert!(!r.is_null() && r as usize % 32 == 0);
            assert!((0..size).all(|i| *r.add(i) == 9));
            HM.dealloc(r, Layout::from_size_align(size * 3, 32).unwrap());
        }
    }
}
