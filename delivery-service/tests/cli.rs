//! The `mimi-ds` binary reports its version and the pinned drafts.

use std::process::Command;

#[test]
fn version_names_the_pinned_drafts() {
    let output = Command::new(env!("CARGO_BIN_EXE_mimi-ds")).arg("--version").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with(concat!("mimi-ds ", env!("CARGO_PKG_VERSION"))), "{text}");
    for draft in ["draft-ietf-mimi-protocol-06", "draft-ietf-mimi-room-policy-04", "draft-ietf-mimi-content-09"] {
        assert!(text.contains(draft), "{text}");
    }
}
