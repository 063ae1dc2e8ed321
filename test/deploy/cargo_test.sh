#!/bin/bash
# The Rust crate (bindings/rust): `cargo test --offline`, which builds hmalloc's C library from
# this tree's sources through the crate's build.rs and runs its tests: unit tests, a test
# program whose #[global_allocator] is hmalloc (collections, alignments up to 2 MiB, threads),
# one with hmalloc beside the system allocator, and the documentation's example.  Cargo's
# output goes to test/deploy/out/cargo in the build tree; it needs no network.
. "$(dirname "$0")/common.sh"

command -v cargo >/dev/null 2>&1 || skip "cargo is not installed"
manifest="$HMALLOC_SRCDIR/bindings/rust/Cargo.toml"
[ -f "$manifest" ] || fail "$manifest not found"
export CARGO_TARGET_DIR="$HMALLOC_DEPLOY_OUT/cargo"
mkdir -p "$CARGO_TARGET_DIR" || fail "cannot create $CARGO_TARGET_DIR"
# The build tree's compiler for build.rs; CARGO_BUILD_JOBS keeps to the two jobs make has.
export CC="$HMALLOC_CC" HMALLOC_SRC_DIR="$HMALLOC_SRCDIR"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" CARGO_TERM_COLOR=never

t0=$SECONDS
timeout -k 10 300 cargo test --offline --manifest-path "$manifest" > "$work/cargo.log" 2>&1
rc=$?
cat "$work/cargo.log"
[ "$rc" = 0 ] || fail "cargo test failed (exit status $rc)"
# The #[global_allocator] program ran, and every test passed.
grep -q 'Running tests/global.rs' "$work/cargo.log" || fail "the global allocator test did not run"
if grep -E '^test result:' "$work/cargo.log" | grep -qv ' 0 failed'; then
	fail "a test failed"
fi
note "cargo test: $(grep -c '^test .* ok$' "$work/cargo.log") tests passed in $((SECONDS - t0))s"
exit 0
