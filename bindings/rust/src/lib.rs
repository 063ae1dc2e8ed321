//! hmalloc, a size-class arena allocator with thread caches, as Rust's global allocator.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: hmalloc::Hmalloc = hmalloc::Hmalloc;
//!
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect();
//!     println!("{} bytes allocated", hmalloc::stats::allocated().unwrap());
//!     drop(v);
//! }
//! ```
//!
//! The crate's build script compiles hmalloc from the repository's C sources as a namespaced
//! build (symbol prefix `hm_`): the Rust heap is hmalloc's while the C library's malloc stays
//! what it was for C code in the same process, so nothing is interposed and the crate can go
//! into a library loaded by a program with another allocator.  C code linked into the program
//! shares the Rust heap by calling `hm_malloc` / `hm_free`.
//!
//! [`Hmalloc`] works through hmalloc's extended API: sized deallocation (`sdallocx`, which
//! skips the metadata lookup), an alignment flag only when the size class does not already give
//! the layout's alignment, `rallocx` for realloc and `MALLOCX_ZERO` for zeroed blocks.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_char, c_int, c_void, CStr};
use core::fmt;

mod ffi {
    use core::ffi::{c_char, c_int, c_void};
    extern "C" {
        pub fn hm_mallocx(size: usize, flags: c_int) -> *mut c_void;
        pub fn hm_rallocx(ptr: *mut c_void, size: usize, flags: c_int) -> *mut c_void;
        pub fn hm_sallocx(ptr: *const c_void, flags: c_int) -> usize;
        pub fn hm_sdallocx(ptr: *mut c_void, size: usize, flags: c_int);
        pub fn hm_nallocx(size: usize, flags: c_int) -> usize;
        pub fn hm_mallctl(
            name: *const c_char,
            oldp: *mut c_void,
            oldlenp: *mut usize,
            newp: *mut c_void,
            newlen: usize,
        ) -> c_int;
    }
}

/// jemalloc's flag for a zero-filled block (hmalloc.h's MALLOCX_ZERO).
const MALLOCX_ZERO: c_int = 0x40;
/// Blocks of 16 bytes and more are 16-byte aligned (the 8-byte class, 8).
const QUANTUM: usize = 16;
/// hmalloc's page: small classes are carved from page-aligned slabs, runs start on a page.
const PAGE: usize = 4096;

/// The flags that align a block of `size` bytes to `align`: none when every block of size's
/// class is that aligned anyway.  A class gives the largest power of two dividing it, up to a
/// page.  The same rule as src/rust_alloc_hmalloc.c; deallocation computes the same flags
/// from the same layout.
#[inline]
fn align_flags(size: usize, align: usize) -> c_int {
    if align <= QUANTUM && align <= size {
        return 0;
    }
    if align <= PAGE {
        // SAFETY: nallocx only computes a size.
        let usize = unsafe { ffi::hm_nallocx(size, 0) };
        if usize != 0 && (usize & usize.wrapping_neg()) >= align {
            return 0;
        }
    }
    align.trailing_zeros() as c_int // MALLOCX_LG_ALIGN
}

/// hmalloc as a [`GlobalAlloc`]: `#[global_allocator] static A: Hmalloc = Hmalloc;`
#[derive(Clone, Copy, Debug, Default)]
pub struct Hmalloc;

unsafe impl GlobalAlloc for Hmalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ffi::hm_mallocx(layout.size(), align_flags(layout.size(), layout.align())).cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let flags = align_flags(layout.size(), layout.align()) | MALLOCX_ZERO;
        ffi::hm_mallocx(layout.size(), flags).cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ffi::hm_sdallocx(ptr.cast(), layout.size(), align_flags(layout.size(), layout.align()))
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ffi::hm_rallocx(ptr.cast(), new_size, align_flags(new_size, layout.align())).cast()
    }
}

impl Hmalloc {
    /// The usable size of a block hmalloc would give for `layout`: at least `layout.size()`,
    /// and all of it may be used.
    pub fn usable_size_of(&self, layout: Layout) -> usize {
        // SAFETY: nallocx only computes a size.
        unsafe { ffi::hm_nallocx(layout.size(), align_flags(layout.size(), layout.align())) }
    }

    /// The usable size of the block at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be a live block of this allocator.  (hmalloc checks that it is one of its
    /// own and aborts the process otherwise.)
    pub unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        ffi::hm_sallocx(ptr.cast(), 0)
    }
}

/// A failed statistics read: mallctl's name and error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    name: &'static str,
    code: i32,
}

impl Error {
    /// The errno value mallctl returned.
    pub fn code(&self) -> i32 {
        self.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hm_mallctl(\"{}\") failed with error {}", self.name, self.code)
    }
}

impl core::error::Error for Error {}

/// hmalloc's statistics, read through `mallctl`.
pub mod stats {
    use super::*;

    pub(crate) fn read<T: Copy + Default>(name: &'static CStr) -> Result<T, Error> {
        let mut value = T::default();
        let mut len = core::mem::size_of::<T>();
        // SAFETY: the name is NUL-terminated, and value and len describe a T hmalloc fills.
        let rc = unsafe {
            ffi::hm_mallctl(
                name.as_ptr() as *const c_char,
                (&mut value as *mut T).cast::<c_void>(),
                &mut len,
                core::ptr::null_mut(),
                0,
            )
        };
        match rc {
            0 => Ok(value),
            code => Err(Error { name: name.to_str().unwrap_or("?"), code }),
        }
    }

    /// Bring the process-wide totals up to date (mallctl "epoch"); the functions below do it
    /// themselves.
    pub fn refresh() -> Result<(), Error> {
        let mut epoch: u64 = 1;
        let mut len = core::mem::size_of::<u64>();
        let p = (&mut epoch as *mut u64).cast::<c_void>();
        // SAFETY: epoch is read and written as a u64, as hmalloc expects.
        match unsafe { ffi::hm_mallctl(c"epoch".as_ptr(), p, &mut len, p, len) } {
            0 => Ok(()),
            code => Err(Error { name: "epoch", code }),
        }
    }

    /// Bytes in blocks the program holds (stats.allocated).
    pub fn allocated() -> Result<usize, Error> {
        refresh()?;
        read(c"stats.allocated")
    }

    /// Bytes in pages that hold blocks (stats.active): allocated plus what is free inside
    /// those pages.
    pub fn active() -> Result<usize, Error> {
        refresh()?;
        read(c"stats.active")
    }

    /// Bytes of hmalloc's memory that are resident, metadata included (stats.resident).
    pub fn resident() -> Result<usize, Error> {
        refresh()?;
        read(c"stats.resident")
    }

    /// Bytes this thread has allocated since it started (thread.allocated): it moves only
    /// with this thread's calls to hmalloc.
    pub fn thread_allocated() -> Result<u64, Error> {
        read(c"thread.allocated")
    }

    /// Bytes this thread has freed since it started (thread.deallocated).
    pub fn thread_deallocated() -> Result<u64, Error> {
        read(c"thread.deallocated")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the flags are left out, the class alone gives the alignment.
    #[test]
    fn flags_only_when_needed() {
        for lg in 0..=21 {
            let align = 1usize << lg;
            for size in [1, 7, 8, 12, 16, 48, 100, 160, 4096, 5000, 8192, 20480, 1 << 20, 3 << 20]
            {
                let flags = align_flags(size, align);
                // SAFETY: the block is given back below with the same size and flags.
                unsafe {
                    let p = ffi::hm_mallocx(size, flags);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align} flags {flags}");
                    ffi::hm_sdallocx(p, size, flags);
                }
                if align <= QUANTUM && align <= size {
                    assert_eq!(flags, 0);
                }
                if align > PAGE {
                    assert_eq!(flags, lg as c_int);
                }
            }
        }
        assert_eq!(align_flags(4096, 4096), 0, "a 4 KiB class is page-aligned");
        assert_eq!(align_flags(48, 32), 5, "the 48-byte class is only 16-byte aligned");
        assert_eq!(align_flags(8, 16), 4, "the 8-byte class is only 8-byte aligned");
    }

    #[test]
    fn error_display() {
        let e = Error { name: "stats.nothing", code: 2 };
        assert_eq!(e.to_string(), "hm_mallctl(\"stats.nothing\") failed with error 2");
        assert_eq!(e.code(), 2);
        assert_eq!(stats::read::<u64>(c"no.such.name").unwrap_err().code(), 2); // ENOENT
    }
}
