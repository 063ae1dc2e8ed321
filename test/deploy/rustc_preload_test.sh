#!/bin/bash
# rustc under LD_PRELOAD of hmalloc, compiling a crate (three modules: generics, traits,
# derives, closures, collections, threads), and the program it makes running on hmalloc.
#
# rustup's rustc executable has jemalloc linked in and exports malloc; the dynamic linker
# binds malloc to the executable before any preloaded library, so under LD_PRELOAD that rustc
# still allocates with its own jemalloc: the test checks that it works with hmalloc loaded
# beside it (nothing mixes), then runs the same compiler (librustc_driver and LLVM) from
# rustc_launcher.c, which has no malloc of its own, and requires every one of its processes
# (rustc, cc, the linker) to bind malloc to hmalloc and hmalloc's statistics to show the
# compiler's allocations.  A rustc without its own malloc (a distribution's) is checked the
# same way directly.  The checks are those of test/integration/common.sh.
. "$(dirname "$0")/../integration/common.sh"

need rustc nm cc
if [ -n "${HMALLOC_PREFIX:-}" ]; then
	skip "a namespaced build cannot be preloaded"
fi
sysroot=$(rustc --print sysroot) || fail "rustc --print sysroot failed"
real_rustc="$sysroot/bin/rustc"
[ -x "$real_rustc" ] || real_rustc=$(command -v rustc)

# The crate.
mkdir -p "$work/crate" || fail "mkdir"
cat > "$work/crate/main.rs" <<'EOF'
mod shapes;
mod words;
use std::collections::HashMap;
use std::thread;

fn main() {
    let text = words::text(20_000);
    let counts = words::count(&text);
    let mut top: Vec<(&String, &usize)> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let handles: Vec<_> = (0..4u64)
        .map(|t| thread::spawn(move || shapes::total_area(&shapes::make(5_000, t))))
        .collect();
    let areas: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut index: HashMap<usize, Vec<String>> = HashMap::new();
    for (w, n) in &counts {
        index.entry(*n).or_default().push(w.clone());
    }
    println!("words {} distinct {} top {:?}", text.len(), counts.len(), &top[..3]);
    println!("areas {:?} buckets {}", areas, index.len());
}
EOF
cat > "$work/crate/words.rs" <<'EOF'
use std::collections::HashMap;

macro_rules! syllables { ($($s:literal),*) => { [$($s),*] }; }
const SYL: [&str; 8] = syllables!("ka", "lo", "mi", "nu", "re", "sa", "to", "vi");

pub fn text(n: usize) -> Vec<String> {
    let mut seed = 12345u64;
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = 1 + (seed >> 60) as usize % 3;
            (0..len).map(|i| SYL[(seed >> (8 * i + 8)) as usize % 8]).collect()
        })
        .collect()
}

pub fn count(words: &[String]) -> HashMap<String, usize> {
    words.iter().fold(HashMap::new(), |mut m, w| {
        *m.entry(w.clone()).or_insert(0) += 1;
        m
    })
}
EOF
cat > "$work/crate/shapes.rs" <<'EOF'
#[derive(Debug, Clone, PartialEq)]
pub enum Shape { Square(u64), Rect { w: u64, h: u64 }, Many(Vec<Shape>) }

pub trait Area { fn area(&self) -> u64; }

impl Area for Shape {
    fn area(&self) -> u64 {
        match self {
            Shape::Square(s) => s * s,
            Shape::Rect { w, h } => w * h,
            Shape::Many(v) => v.iter().map(Area::area).sum(),
        }
    }
}

pub fn make(n: u64, t: u64) -> Vec<Box<dyn Area + Send>> {
    (0..n)
        .map(|i| -> Box<dyn Area + Send> {
            match (i + t) % 3 {
                0 => Box::new(Shape::Square(i % 17)),
                1 => Box::new(Shape::Rect { w: i % 5, h: t + 1 }),
                _ => Box::new(Shape::Many(vec![Shape::Square(2); (i % 4) as usize])),
            }
        })
        .collect()
}

pub fn total_area<T: AsRef<[Box<dyn Area + Send>]>>(shapes: T) -> u64 {
    shapes.as_ref().iter().map(|s| s.area()).sum()
}
EOF
rustc_args=(--edition 2021 -O -C codegen-units=4 "$work/crate/main.rs")

# The reference: rustc and its program without hmalloc.
ref_run build rustc "${rustc_args[@]}" -o "$work/prog.ref"
ref_run prog "$work/prog.ref"

# rustc (as found on PATH) with hmalloc preloaded.
if nm -D --defined-only "$real_rustc" 2>/dev/null | grep -q ' T malloc$'; then
	own_malloc=1
	hm_run rustc rustc "${rustc_args[@]}" -o "$work/prog" ||
		{ show_err rustc; fail "rustc failed with hmalloc preloaded"; }
	note "rustc: $real_rustc has its own malloc (linked in), which LD_PRELOAD cannot replace"
else
	own_malloc=0
	hm_ok rustc rustc "${rustc_args[@]}" -o "$work/prog"
	note "rustc: its allocations were hmalloc's"
fi
hm_ok prog "$work/prog"
same_output prog

if [ "$own_malloc" = 1 ]; then
	# The same compiler from an executable without a malloc of its own.
	driver=""
	for f in "$sysroot"/lib/librustc_driver-*.so; do
		[ -f "$f" ] && driver=$f && break
	done
	[ -n "$driver" ] || skip "rustc has its own malloc and no librustc_driver-*.so to run instead"
	entry=$(nm -D --defined-only "$driver" |
		sed -n 's/^[0-9a-f]* T \([A-Za-z0-9_]*17rustc_driver_impl4main\)$/\1/p' | head -n 1)
	[ -n "$entry" ] || skip "no rustc_driver_impl::main in $driver"
	cc -O2 -DRUSTC_DRIVER_MAIN="$entry" -o "$work/rustc-hm" "$here/rustc_launcher.c" "$driver" \
		-Wl,-rpath,"$sysroot/lib" || fail "could not build rustc_launcher.c"
	"$work/rustc-hm" --version > "$work/version.out" 2>&1 || fail "rustc_launcher does not run"
	note "launcher: $(cat "$work/version.out")"
	hm_ok driver "$work/rustc-hm" "${rustc_args[@]}" -o "$work/prog2"
	# The compiler's allocations: some tens of thousands at least.
	n=$(sed -n 's/^  small: allocated [0-9]* nmalloc \([0-9]*\) .*/\1/p' "$work/driver.err" |
		awk '{ s += $1 } END { print s + 0 }')
	[ "$n" -ge 20000 ] || { show_err driver; fail "hmalloc served only $n small allocations of rustc"; }
	note "driver: the compiler ran on hmalloc ($n small allocations)"
	cp "$work/prog.ref.out" "$work/prog2.ref.out"
	hm_ok prog2 "$work/prog2"
	same_output prog2
fi
exit 0
