//! Proof that the core's I/O fence holds: one forbidden entry point per kind of I/O.
//!
//! Compiled only with `--cfg fence_probe`. `scripts/check.sh` runs clippy with that cfg and
//! expects every line below to be rejected by the `disallowed_*` lints that `src/core/mod.rs`
//! denies; a line that passes means the fence in `clippy.toml` has a hole.

#![allow(dead_code, unused_must_use, unused_variables, unused_imports)]

fn clock() {
    std::time::Instant::now();
    std::time::SystemTime::now();
}

fn threads() {
    std::thread::spawn(|| ());
    std::thread::sleep(std::time::Duration::ZERO);
}

fn files() {
    std::fs::read("x");
    let f: Option<std::fs::File> = None;
}

fn network() {
    let s: Option<std::net::TcpStream> = None;
}

fn environment() {
    std::env::var("HOME");
    std::env::args();
}

fn processes() {
    let c: Option<std::process::Command> = None;
}

fn stdio() {
    std::io::stdout();
    println!();
}
