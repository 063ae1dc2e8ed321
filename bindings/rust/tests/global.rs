//! A test program whose global allocator is hmalloc: everything it allocates (the test
//! harness's own allocations included) goes through `Hmalloc`.  Collections, over-aligned
//! layouts up to 2 MiB, realloc across every kind of block, and several threads passing
//! blocks to each other; `Hmalloc::usable_size` on a block proves it is hmalloc's (hmalloc
//! aborts on a pointer that is not its own).

use hmalloc::{stats, Hmalloc};
use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::thread;

#[global_allocator]
static GLOBAL: Hmalloc = Hmalloc;

#[test]
fn collections_are_on_hmalloc() {
    let before = stats::thread_allocated().unwrap();
    let mut v: Vec<u64> = Vec::with_capacity(100_000);
    v.extend(0..100_000);
    // SAFETY: v's buffer is a live block of the global allocator.
    let usable = unsafe { GLOBAL.usable_size(v.as_ptr().cast()) };
    assert!(usable >= 800_000);
    assert!(stats::thread_allocated().unwrap() - before >= 800_000);

    let mut m = HashMap::new();
    let mut t = BTreeMap::new();
    for i in 0..50_000u32 {
        m.insert(i.to_string(), vec![i; (i % 7) as usize]);
        t.insert(i, format!("value {i}"));
    }
    assert_eq!(m["4242"], vec![4242; 4242 % 7]);
    assert_eq!(t[&777], "value 777");
    let s: String = (0..10_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    // SAFETY: s's buffer is a live block of the global allocator.
    assert!(unsafe { GLOBAL.usable_size(s.as_ptr()) } >= s.len());
}

#[test]
fn statistics_follow_allocations() {
    const BIG: usize = 64 << 20;
    let base = stats::allocated().unwrap();
    let mut v = vec![1u8; BIG];
    v[BIG - 1] = 2;
    let grown = stats::allocated().unwrap();
    assert!(grown >= base + BIG - (4 << 20), "allocated {base} -> {grown}");
    assert!(stats::active().unwrap() >= BIG);
    assert!(stats::resident().unwrap() >= BIG / 2, "the vector's pages were written");
    let d0 = stats::thread_deallocated().unwrap();
    drop(v);
    assert!(stats::thread_deallocated().unwrap() - d0 >= BIG as u64);
}

#[test]
fn over_aligned_layouts() {
    for lg in 0..=21 {
        let align = 1usize << lg;
        for size in [1, 8, align / 2 + 1, align, align + 1, 3 * align, 100_000] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: every block is used within its layout and given back with it.
            unsafe {
                let p = alloc(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "alloc size {size} align {align}");
                assert!(GLOBAL.usable_size(p) >= size);
                p.write_bytes(0xa5, size);

                let grown = 2 * size + 4096;
                let q = realloc(p, layout, grown);
                assert!(!q.is_null());
                assert_eq!(q as usize % align, 0, "realloc {size} -> {grown} align {align}");
                assert!((0..size).all(|i| *q.add(i) == 0xa5));
                dealloc(q, Layout::from_size_align(grown, align).unwrap());

                let z = alloc_zeroed(layout);
                assert!(!z.is_null());
                assert_eq!(z as usize % align, 0, "alloc_zeroed size {size} align {align}");
                assert!((0..size).all(|i| *z.add(i) == 0));
                dealloc(z, layout);
            }
        }
    }
}

#[repr(align(4096))]
struct Page([u8; 4096]);

#[repr(C, align(2097152))]
struct TwoMiB([u8; 64]);

#[test]
fn aligned_types_in_boxes() {
    let pages: Vec<Box<Page>> = (0..100).map(|i| Box::new(Page([i as u8; 4096]))).collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(&**p as *const Page as usize % 4096, 0);
        assert_eq!(p.0[4095], i as u8);
    }
    // Made in place: a 2 MiB-aligned value on a thread's stack could take all of it.
    let big: Vec<Box<TwoMiB>> = (0..4u8)
        .map(|i| {
            // SAFETY: a zeroed block of TwoMiB's layout is a valid TwoMiB; the Box gives it
            // back with that layout.
            let mut b = unsafe { Box::from_raw(alloc_zeroed(Layout::new::<TwoMiB>()).cast::<TwoMiB>()) };
            b.0 = [i; 64];
            b
        })
        .collect();
    for (i, b) in big.iter().enumerate() {
        assert_eq!(&**b as *const TwoMiB as usize % (2 << 20), 0);
        assert_eq!(b.0[63], i as u8);
    }
}

#[test]
fn realloc_through_every_kind_of_block() {
    let mut v: Vec<u32> = Vec::new();
    for i in 0..(8u32 << 20) {
        v.push(i); // grows by doubling: slab regions, page runs, then mappings of its own
    }
    assert!(v.iter().enumerate().step_by(4099).all(|(i, &x)| x == i as u32));
    v.truncate(1000);
    v.shrink_to_fit();
    assert_eq!(v.capacity(), 1000);
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
}

#[test]
fn threads_pass_blocks_around() {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let producers: Vec<_> = (0..6)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..5000usize {
                    let n = 1 + (i * 7919 + t * 104_729) % 20_000;
                    tx.send(vec![(n % 251) as u8; n]).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (ctx, crx) = mpsc::channel::<Vec<u8>>();
            (ctx, thread::spawn(move || crx.iter().map(|b| check(&b)).count()))
        })
        .collect();
    let mut n = 0;
    for (i, b) in rx.iter().enumerate() {
        consumers[i % 2].0.send(b).unwrap(); // freed by another thread than its allocator
        n += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    let mut freed = 0;
    for (ctx, handle) in consumers {
        drop(ctx);
        freed += handle.join().unwrap();
    }
    assert_eq!((n, freed), (30_000, 30_000));
}

fn check(b: &[u8]) {
    assert!(b.iter().all(|&x| x == (b.len() % 251) as u8));
}
