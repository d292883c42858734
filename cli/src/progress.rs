//! A byte-based progress bar for large inputs (shown only on a terminal, over a few MB).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use costkit_core::input::Progress;

/// Inputs smaller than this get no bar.
const MIN_BYTES: u64 = 4 * 1024 * 1024;

/// Wraps an indicatif bar fed from the core's byte counter.
pub struct Bar {
    bar: Option<ProgressBar>,
    counter: Progress,
}

impl Bar {
    /// A bar for `total` raw input bytes.
    pub fn new(total: u64, counter: Progress) -> Bar {
        let bar = (total >= MIN_BYTES).then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta} {msg}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        Bar { bar, counter }
    }

    /// Redraws from the counter.
    pub fn tick(&self) {
        if let Some(b) = &self.bar {
            b.set_position(self.counter.bytes());
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
