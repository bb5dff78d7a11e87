//! The progress display: a spinner per phase and a bar over the property cases, on
//! stderr, only when stderr is a terminal.
//!
//! CI logs and redirected output get nothing from here (escape codes and redraws
//! would only clutter them); the summary, the seed and the paths written are printed
//! either way, by the caller.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smta_verify::{Progress, Verifier};

/// A display for one run, or nothing when stderr is not a terminal.
pub(crate) struct Display {
    bar: Option<ProgressBar>,
    /// The phase being shown and when it began, to leave a line with its duration
    /// when it ends.
    current: Arc<Mutex<Option<(&'static str, Instant)>>>,
}

impl Display {
    pub(crate) fn new() -> Self {
        let current = Arc::default();
        if !std::io::stderr().is_terminal() {
            return Self { bar: None, current };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(spinner());
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(100));
        Self {
            bar: Some(bar),
            current,
        }
    }

    /// `verifier`, reporting its progress here.
    pub(crate) fn attach(&self, verifier: Verifier) -> Verifier {
        let Some(bar) = self.bar.clone() else {
            return verifier;
        };
        let current = Arc::clone(&self.current);
        verifier.on_progress(move |event| match event {
            Progress::Phase(text) => {
                let previous = lock(&current).replace((text, Instant::now()));
                if let Some((previous, since)) = previous {
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
            if let Some((last, since)) = lock(&self.current).take() {
                bar.println(format!("  {last}: {:.1?}", since.elapsed()));
            }
            bar.finish_and_clear();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking callback cannot leave the phase half-written: it is one value.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn spinner() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("a valid template")
}

fn cases_bar() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
        .expect("a valid template")
        .progress_chars("=> ")
}
