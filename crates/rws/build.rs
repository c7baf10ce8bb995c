//! The web files (`web/`) are embedded into release builds: rebuild when they change.

fn main() {
    println!("cargo:rerun-if-changed=../../web");
}
