//! Terminal output: progress bars when a person watches, nothing when a pipe or CI reads.

use std::io::IsTerminal;

use capstan_core::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte progress bar on stderr, hidden unless stderr is a terminal and output is for people.
pub struct ByteProgress {
    bar: ProgressBar,
}

impl ByteProgress {
    /// A bar labelled `label` (e.g. "packing"), shown only when `visible` and stderr is a tty.
    pub fn new(label: &'static str, visible: bool) -> Self {
        let bar = ProgressBar::hidden();
        if visible && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label);
        ByteProgress { bar }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for ByteProgress {
    fn start(&self, total_bytes: u64) {
        self.bar.set_length(total_bytes);
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
