//! Records the build date, reported as `commit_date`/`build_date` in
//! `sys/seal-status` (Vault and OpenBao clients display it).

fn main() {
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string());
    println!("cargo:rustc-env=STRONGROOM_BUILD_DATE={date}");
    println!("cargo:rerun-if-changed=build.rs");
}
