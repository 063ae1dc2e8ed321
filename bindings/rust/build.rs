//! build.rs: compiles hmalloc's C library from this repository's sources (../../src) into
//! OUT_DIR/libhmalloc_rs.a, by itself and offline: no configure, no make, no crate.
//!
//! The build is the namespaced one (`configure --with-symbol-prefix=hm_ --disable-test-hooks`):
//! it exports hm_malloc, hm_mallocx ... and nothing unprefixed, so a Rust program on it keeps
//! the C library's malloc for its C code (see README.md).  The sources are the list of
//! libhmalloc_la_SOURCES in Makefile.am; they are copied to OUT_DIR with the config.h written
//! here, since a configured tree's own src/config.h would otherwise be found first.
//!
//! Environment: CC (default cc), CFLAGS (added after the library's own), AR (default ar),
//! HMALLOC_SRC_DIR (the repository, default ../..).  Feature `debug`: internal assertions.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const PREFIX: &str = "hm_";
/// What configure adds to CFLAGS for the library (HM_CFLAGS), then CFLAGS' default.
const LIB_CFLAGS: &[&str] = &[
    "-Wall",
    "-Wextra",
    "-fvisibility=hidden",
    "-fno-plt",
    "-ftls-model=initial-exec",
    "-O2",
    "-g",
    "-fPIC",
    "-pthread",
];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let top = env::var_os("HMALLOC_SRC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("..").join(".."));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for var in ["CC", "CFLAGS", "AR", "HMALLOC_SRC_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // Every file copied below is watched as well (not src/ as a whole: a tree built in place
    // keeps its objects there).
    for f in ["Makefile.am", "configure.ac", "include/hmalloc.h.in"] {
        println!("cargo:rerun-if-changed={}", top.join(f).display());
    }

    let makefile_am = read(&top.join("Makefile.am"));
    let configure_ac = read(&top.join("configure.ac"));
    let version = package_version(&configure_ac);
    let sources = library_sources(&makefile_am);
    assert!(
        sources.iter().any(|s| s.ends_with("api.c")),
        "no libhmalloc_la_SOURCES in {}",
        top.join("Makefile.am").display()
    );

    // The sources, every header of src/, and config.h, side by side.
    let src = out.join("src");
    let include = out.join("include");
    let obj = out.join("obj");
    for d in [&src, &include, &obj] {
        let _ = fs::remove_dir_all(d);
        fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    }
    for entry in fs::read_dir(top.join("src")).expect("read src/") {
        let path = entry.expect("read src/").path();
        if path.extension().is_some_and(|e| e == "h") && !path.ends_with("config.h") {
            copy(&path, &src.join(path.file_name().unwrap()));
        }
    }
    let mut c_files = Vec::new();
    for s in &sources {
        let from = top.join(s);
        let name = Path::new(s).file_name().unwrap().to_owned();
        copy(&from, &src.join(&name));
        if s.ends_with(".c") {
            c_files.push(name);
        }
    }
    write(&src.join("config.h"), &config_h(&version));
    let header = read(&top.join("include").join("hmalloc.h.in"))
        .replace("@HM_PREFIX@", PREFIX)
        .replace("@HM_DROPIN_FLAG@", "0")
        .replace("@PACKAGE_VERSION@", &version);
    assert!(
        !header.contains("@HM_") && !header.contains("@PACKAGE"),
        "hmalloc.h.in has a substitution build.rs does not know"
    );
    write(&include.join("hmalloc.h"), &header);

    // Compile, as many at a time as cargo allows.
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let user_cflags: Vec<String> = env::var("CFLAGS")
        .map(|f| f.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let jobs: usize = env::var("NUM_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(2).max(1);
    let mut running: Vec<(Child, String)> = Vec::new();
    let mut objects = Vec::new();
    for c in &c_files {
        let o = obj.join(Path::new(c).with_extension("o"));
        let mut cmd = Command::new(&cc);
        cmd.args(LIB_CFLAGS)
            .args(&user_cflags)
            .arg("-I")
            .arg(&src)
            .arg("-I")
            .arg(&include)
            .arg("-c")
            .arg(src.join(c))
            .arg("-o")
            .arg(&o);
        if running.len() >= jobs {
            wait(running.remove(0));
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
        running.push((child, format!("{cc} ... {}", c.to_string_lossy())));
        objects.push(o);
    }
    for r in running {
        wait(r);
    }

    let lib = out.join("libhmalloc_rs.a");
    let _ = fs::remove_file(&lib);
    let ar = env::var("AR").unwrap_or_else(|_| "ar".into());
    wait((
        Command::new(&ar)
            .arg("crs")
            .arg(&lib)
            .args(&objects)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {ar}: {e}")),
        format!("{ar} crs {}", lib.display()),
    ));

    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=hmalloc_rs");
    println!("cargo:rustc-link-lib=pthread");
    // For crates that depend on this one and compile C against it (DEP_HMALLOC_INCLUDE).
    println!("cargo:include={}", include.display());
}

fn wait((mut child, what): (Child, String)) {
    let status = child.wait().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) {
    println!("cargo:rerun-if-changed={}", from.display());
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// The files of `libhmalloc_la_SOURCES = a b \ c ...` in Makefile.am.
fn library_sources(makefile_am: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut inside = false;
    for line in makefile_am.lines() {
        let rest = if inside {
            line
        } else if let Some(r) = line.trim_start().strip_prefix("libhmalloc_la_SOURCES") {
            match r.trim_start().strip_prefix('=') {
                Some(r) => r,
                None => continue,
            }
        } else {
            continue;
        };
        let continued = rest.trim_end().ends_with('\\');
        files.extend(rest.trim_end().trim_end_matches('\\').split_whitespace().map(String::from));
        inside = continued;
        if !inside {
            break;
        }
    }
    files
}

/// The version in AC_INIT([hmalloc], [VERSION], ...).
fn package_version(configure_ac: &str) -> String {
    configure_ac
        .lines()
        .find_map(|l| l.trim().strip_prefix("AC_INIT("))
        .and_then(|args| args.split(',').nth(1))
        .map(|v| v.trim().trim_start_matches('[').trim_end_matches(']').trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| env::var("CARGO_PKG_VERSION").unwrap())
}

/// What configure writes to src/config.h for --with-symbol-prefix=hm_ --disable-test-hooks.
fn config_h(version: &str) -> String {
    let debug = u8::from(env::var_os("CARGO_FEATURE_DEBUG").is_some());
    format!(
        "/* config.h written by bindings/rust/build.rs (a namespaced build, prefix {PREFIX}) */\n\
         #define HM_PREFIX {PREFIX}\n\
         #define HM_CONFIG_DEBUG {debug}\n\
         #define HM_CONFIG_TEST_HOOKS 0\n\
         #define HM_CONFIG_HARDENED 0\n\
         #define HAVE_LIBPTHREAD 1\n\
         #define PACKAGE \"hmalloc\"\n\
         #define PACKAGE_NAME \"hmalloc\"\n\
         #define PACKAGE_TARNAME \"hmalloc\"\n\
         #define PACKAGE_VERSION \"{version}\"\n\
         #define PACKAGE_STRING \"hmalloc {version}\"\n\
         #define PACKAGE_BUGREPORT \"\"\n\
         #define PACKAGE_URL \"\"\n\
         #define VERSION \"{version}\"\n\
         #ifndef _GNU_SOURCE\n\
         # define _GNU_SOURCE 1\n\
         #endif\n"
    )
}
