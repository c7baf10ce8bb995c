//! The app lane: which window the agent works in, as timeline events.
//!
//! The source says which window is active at every tick
//! ([`capture::Source::active_window`]); [`AppFilter`] turns that into
//! changes worth keeping:
//!
//! * **debounced** — a window must stay active [`DEBOUNCE`] before it is
//!   reported (alt-tabbing through five windows reports only the one the
//!   agent stopped at), and its change is dated from when it became active;
//! * **bounded** — class and title are cut to [`MAX_CLASS_CHARS`] and
//!   [`MAX_TITLE_CHARS`] characters, control characters replaced;
//! * **rate-limited** — at most [`BURST`] changes at once, then one per
//!   [`REFILL`]; a change that finds no token waits (coalesced: a newer one
//!   replaces it) rather than being lost, so the lane ends on the right app;
//! * **titles** only when asked (the directory's `app_titles`); a masked
//!   window's title is already the rule's name (the capture crate does it).

use std::time::{Duration, Instant};

use capture::ActiveWindow;

/// How long a window must stay active to be reported.
pub const DEBOUNCE: Duration = Duration::from_millis(500);
/// Longest class kept, in characters.
pub const MAX_CLASS_CHARS: usize = 128;
/// Longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
/// Changes reported back to back before the rate limit applies.
pub const BURST: u32 = 20;
/// One more change allowed per this much time.
pub const REFILL: Duration = Duration::from_secs(5);

/// What the app lane follows ([`crate::RecorderConfig::apps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppOptions {
    /// Report window titles (`false`: class only).
    pub titles: bool,
}

/// A change of the active window worth a timeline event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppChange {
    /// `WM_CLASS` (class half), bounded.
    pub class: String,
    /// The title (or the masking rule's name), bounded; `None` when titles
    /// are off.
    pub title: Option<String>,
    /// When the window became active.
    pub since: Instant,
}

type Key = (String, Option<String>);

/// Debounce and rate limit of active-window changes (see the module docs).
#[derive(Debug)]
pub struct AppFilter {
    titles: bool,
    reported: Option<Key>,
    candidate: Option<(Key, Instant)>,
    tokens: u32,
    refilled: Instant,
}

/// At most `max` characters of `s`, control characters as spaces.
fn bounded(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl AppFilter {
    /// A filter that has reported nothing yet.
    pub fn new(options: AppOptions, now: Instant) -> AppFilter {
        AppFilter {
            titles: options.titles,
            reported: None,
            candidate: None,
            tokens: BURST,
            refilled: now,
        }
    }

    /// Forgets a change in progress (while paused nothing is reported; after
    /// the pause the window active then is reported if it differs).
    pub fn hold(&mut self) {
        self.candidate = None;
    }

    /// The active window at `now`; returns a change once one has held for
    /// [`DEBOUNCE`] and a token is free.
    pub fn observe(&mut self, now: Instant, window: Option<&ActiveWindow>) -> Option<AppChange> {
        let Some(w) = window else {
            // Unknown for now (a window just gone): nothing changes.
            self.candidate = None;
            return None;
        };
        let key: Key = (
            bounded(&w.class, MAX_CLASS_CHARS),
            self.titles.then(|| bounded(&w.title, MAX_TITLE_CHARS)),
        );
        if self.reported.as_ref() == Some(&key) {
            self.candidate = None;
            return None;
        }
        let since = match &self.candidate {
            Some((k, since)) if *k == key => *since,
            _ => {
                self.candidate = Some((key, now));
                return None;
            }
        };
        if now.saturating_duration_since(since) < DEBOUNCE {
            return None;
        }
        let earned = now.saturating_duration_since(self.refilled).as_millis() / REFILL.as_millis();
        if earned > 0 {
            self.tokens = BURST.min(self.tokens.saturating_add(earned as u32));
            self.refilled += REFILL * earned as u32;
        }
        if self.tokens == 0 {
            return None;
        }
        self.tokens -= 1;
        self.candidate = None;
        self.reported = Some(key.clone());
        Some(AppChange {
            class: key.0,
            title: key.1,
            since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(class: &str, title: &str) -> ActiveWindow {
        ActiveWindow {
            class: class.into(),
            instance: class.to_lowercase(),
            title: title.into(),
            mask: None,
        }
    }

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn a_window_is_reported_once_it_held_for_the_debounce_dated_from_when_it_came() {
        let t0 = Instant::now();
        let mut f = AppFilter::new(AppOptions { titles: true }, t0);
        let a = win("Alpha", "one");
        assert_eq!(f.observe(t0, Some(&a)), None);
        assert_eq!(f.observe(ms(t0, 300), Some(&a)), None);
        let c = f.observe(ms(t0, 500), Some(&a)).expect("reported");
        assert_eq!(
            (c.class.as_str(), c.title.as_deref()),
            ("Alpha", Some("one"))
        );
        assert_eq!(c.since, t0);
        // Still the same window: nothing new.
        assert_eq!(f.observe(ms(t0, 2000), Some(&a)), None);
    }

    #[test]
    fn a_window_held_less_than_the_debounce_is_dropped() {
        let t0 = Instant::now();
        let mut f = AppFilter::new(AppOptions { titles: true }, t0);
        let (a, b) = (win("Alpha", "x"), win("Beta", "y"));
        f.observe(t0, Some(&a));
        assert!(f.observe(ms(t0, 600), Some(&a)).is_some());
        // B for 400 ms, then back to A: nothing at all.
        for t in [700, 900, 1100] {
            assert_eq!(f.observe(ms(t0, t), Some(&b)), None);
        }
        for t in [1150, 1700, 3000] {
            assert_eq!(f.observe(ms(t0, t), Some(&a)), None);
        }
    }

    #[test]
    fn titles_off_reports_class_only_and_a_title_change_is_no_change() {
        let t0 = Instant::now();
        let mut f = AppFilter::new(AppOptions { titles: false }, t0);
        f.observe(t0, Some(&win("Alpha", "secret one")));
        let c = f
            .observe(ms(t0, 500), Some(&win("Alpha", "secret one")))
            .expect("reported");
        assert_eq!(c.title, None);
        f.observe(ms(t0, 600), Some(&win("Alpha", "secret two")));
        assert_eq!(
            f.observe(ms(t0, 1500), Some(&win("Alpha", "secret two"))),
            None
        );
    }

    #[test]
    fn class_and_title_are_bounded_and_control_characters_replaced() {
        let t0 = Instant::now();
        let mut f = AppFilter::new(AppOptions { titles: true }, t0);
        let w = win(&"C".repeat(1000), &format!("a\nb{}", "t".repeat(10_000)));
        f.observe(t0, Some(&w));
        let c = f.observe(ms(t0, 500), Some(&w)).expect("reported");
        assert_eq!(c.class.chars().count(), MAX_CLASS_CHARS);
        let title = c.title.expect("title");
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
        assert!(title.starts_with("a b"));
    }

    #[test]
    fn a_flood_is_rate_limited_and_the_last_window_still_arrives() {
        let t0 = Instant::now();
        let mut f = AppFilter::new(AppOptions { titles: true }, t0);
        let mut reported = Vec::new();
        // 100 windows, each held 500 ms: 50 s of switching.
        let mut t = 0;
        for i in 0..100 {
            let w = win(&format!("App{i}"), "");
            for _ in 0..6 {
                if let Some(c) = f.observe(ms(t0, t), Some(&w)) {
                    reported.push(c.class);
                }
                t += 100;
            }
        }
        // The burst, then one per REFILL: 20 + 60 s / 5 s at most.
        assert!(reported.len() <= 20 + 12, "{}", reported.len());
        assert!(reported.len() >= 20, "{}", reported.len());
        // The agent stays on the last one: it is reported once a token is free.
        let last = win("App99", "");
        let mut got = None;
        while t < 120_000 && got.is_none() {
            got = f.observe(ms(t0, t), Some(&last));
            t += 100;
        }
        assert_eq!(got.map(|c| c.class).as_deref(), Some("App99"));
    }
}
