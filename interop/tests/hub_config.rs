//! `mimi-interop hub --config target.toml` through the binary: the file is read, a flag given too
//! wins over its key, and the `[peers]` entry the hub under test needs is printed before the suite
//! starts (here it then stops, exit 2: the TLS files named in the file do not exist);
//! a key given neither way is named.

use std::process::Command;

fn interop(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mimi-interop")).args(args).output().expect("run mimi-interop")
}

#[test]
fn hub_config_file_with_flags_over_it_prints_the_peer_entry() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let file = dir.path().join("target.toml");
    std::fs::write(
        &file,
        format!(
            "url = \"https://127.0.0.1:1\"\ndomain = \"hub.example\"\nca = \"{0}/ca.pem\"\ncert = \"{0}/i.pem\"\n\
             key = \"{0}/i.key\"\nour_domain = \"interop.example\"\nlisten = \"127.0.0.1:1\"\nbootstrap = true\n",
            missing.display()
        ),
    )
    .unwrap();
    let file = file.display().to_string();

    let output = interop(&["hub", "--config", &file, "--our-domain", "flagged.example", "--listen", "127.0.0.1:9"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[peers]\n\"flagged.example\" = \"https://127.0.0.1:9\"\n"), "{stderr}");
    assert_eq!(output.status.code(), Some(2), "the suite cannot run without its TLS files: {stderr}");
    assert!(stderr.contains(&format!("{}/ca.pem", missing.display())), "the file's paths are used: {stderr}");

    // Without --config, what the file gave is missing, and named.
    let output = interop(&["hub", "--our-domain", "flagged.example"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`url` is needed: give --url or set `url` in --config"), "{stderr}");

    // A file with an unknown key is refused, naming it.
    std::fs::write(dir.path().join("bad.toml"), "hub_url = \"https://127.0.0.1:1\"\n").unwrap();
    let output = interop(&["hub", "--config", &dir.path().join("bad.toml").display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `hub_url`"), "{stderr}");
}
