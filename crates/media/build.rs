//! Refuses to build without `nasm`: openh264-sys2 silently falls back to its
//! C code when nasm is missing, which costs about twice the CPU per frame
//! (measured: 22 ms instead of 10.7 ms per 1080p frame). That must never go
//! unnoticed, so the build fails unless `SCREENREC_ALLOW_NO_NASM=1` says the
//! slow encoder is wanted; then `media::ASM_ENABLED` is false and the binary
//! warns at start-up.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SCREENREC_ALLOW_NO_NASM");
    println!("cargo:rerun-if-env-changed=OPENH264_NO_ASM");
    println!("cargo:rerun-if-env-changed=PATH");
    let nasm = Command::new("nasm")
        .arg("-v")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let no_asm_requested = std::env::var_os("OPENH264_NO_ASM").is_some();
    let asm = nasm && !no_asm_requested;
    if !asm && std::env::var_os("SCREENREC_ALLOW_NO_NASM").is_none() {
        eprintln!(
            "error: nasm is not installed (or OPENH264_NO_ASM is set).\n\
             Without nasm OpenH264 silently falls back to plain C and encodes at about twice the CPU.\n\
             Install it: apt-get install nasm (scripts/setup.sh does this).\n\
             To build the slow encoder anyway, set SCREENREC_ALLOW_NO_NASM=1."
        );
        std::process::exit(1);
    }
    println!(
        "cargo:rustc-env=SCREENREC_OPENH264_ASM={}",
        if asm { "1" } else { "0" }
    );
    if !asm {
        println!("cargo:warning=OpenH264 built WITHOUT assembly (no nasm): encoding costs ~2x CPU");
    }
}
