//! The progress display: a spinner per phase and a bar over the property cases, on
//! stderr, only when stderr is a terminal.
//!
//! CI logs and redirected output get nothing from here (escape codes and redraws
//! would only clutter them); the summary, the seed and the paths written are printed
//! either way, by the caller.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smta_verify::{Progress, Verifier};

/// A display for one run, or nothing when stderr is not a terminal.
pub(crate) struct Display {
    bar: Option<ProgressBar>,
}

impl Display {
    pub(crate) fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(spinner());
        bar.enable_steady_tick(Duration::from_millis(100));
        Self { bar: Some(bar) }
    }

    /// `verifier`, reporting its progress here.
    pub(crate) fn attach(&self, verifier: Verifier) -> Verifier {
        let Some(bar) = self.bar.clone() else {
            return verifier;
        };
        // The phase being shown and when it began, to leave a line with its duration
        // when the next one starts.
        let current: Mutex<Option<(&'static str, Instant)>> = Mutex::new(None);
        verifier.on_progress(move |event| match event {
            Progress::Phase(text) => {
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((previous, since)) = current.replace((text, Instant::now())) {
                    bar.println(format!("  {previous}: {:.1?}", since.elapsed()));
                }
                bar.set_style(spinner());
                bar.set_length(0);
                bar.set_position(0);
                bar.set_message(text);
            }
            Progress::Cases { done, total } => {
                if bar.length() != Some(total) {
                    bar.set_style(cases_bar());
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
            _ => {}
        })
    }

    /// Removes the display before the caller prints its results.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn spinner() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("a valid template")
}

fn cases_bar() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
        .expect("a valid template")
        .progress_chars("=> ")
}
