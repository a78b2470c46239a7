//! Progress bars of the load mode: indicatif's with the `cli` feature, otherwise a stand-in with the
//! same calls that shows nothing (a library run reports through its summary only).

/// A progress bar (hidden when not wanted, or without the `cli` feature).
#[cfg(feature = "cli")]
pub(crate) type Bar = indicatif::ProgressBar;

/// A progress bar (hidden when not wanted, or without the `cli` feature).
#[cfg(not(feature = "cli"))]
#[derive(Debug, Clone)]
pub(crate) struct Bar;

#[cfg(not(feature = "cli"))]
impl Bar {
    pub(crate) fn inc(&self, _delta: u64) {}
    pub(crate) fn set_position(&self, _position: u64) {}
    pub(crate) fn set_message(&self, _message: String) {}
    pub(crate) fn finish_and_clear(&self) {}
}

/// A bar of `len` steps labelled `what`, drawn only if `show`.
#[cfg(feature = "cli")]
pub(crate) fn bar(len: u64, what: &str, show: bool) -> Bar {
    if !show {
        return Bar::hidden();
    }
    let bar = Bar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec}")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// A bar of `len` steps labelled `what`: without the `cli` feature nothing is drawn.
#[cfg(not(feature = "cli"))]
pub(crate) fn bar(_len: u64, _what: &str, _show: bool) -> Bar {
    Bar
}
