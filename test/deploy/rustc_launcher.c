/* rustc_launcher.c: the Rust compiler without the executable around it.  rustup's rustc is a
 * small executable with jemalloc linked in, which exports malloc, and the dynamic linker looks
 * a symbol up in the executable before any preloaded library: LD_PRELOAD cannot give that
 * rustc another malloc.  The compiler itself is librustc_driver-*.so (with LLVM beside it);
 * this program links it and calls its entry point, as rustc's main does, so that with hmalloc
 * preloaded all of the compiler's allocations are hmalloc's.  rustc_preload_test.sh builds it
 * with -DRUSTC_DRIVER_MAIN=<the entry point's symbol, read from the library>. */
#ifndef RUSTC_DRIVER_MAIN
#error "define RUSTC_DRIVER_MAIN to rustc_driver_impl::main's symbol"
#endif

/* Returns the exit status (rustc's ExitCode, one byte); the arguments are the process's,
 * which the library's Rust runtime reads for itself. */
extern int RUSTC_DRIVER_MAIN(void);

int main(void) { return RUSTC_DRIVER_MAIN() & 0xff; }
