//! Latency and throughput summaries of one load phase, and the markdown
//! comparison table. Percentiles are nearest-rank over a sorted `Vec`: at
//! these sample counts (thousands) that is exact and cheap.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::Instant;

/// One scheduled operation: latency from its due time to its last byte.
pub struct Sample {
    /// Position in the phase's schedule (0 = first due).
    pub index: u64,
    pub latency: Duration,
    pub done: Instant,
    /// Error class, `None` on success.
    pub error: Option<String>,
    /// Gateway calls payroute made for it (from the payment's
    /// `route.attempts`); 0 for the direct target and on errors.
    pub attempts: usize,
}

/// Everything one measured phase produced.
pub struct Phase {
    pub samples: Vec<Sample>,
    /// Due time of the first operation.
    pub start: Instant,
    pub window: Duration,
}

impl Phase {
    /// The summary of the samples `keep` selects; they count as scheduled.
    pub fn summary(&self, keep: impl Fn(&Sample) -> bool) -> Summary {
        let kept: Vec<&Sample> = self.samples.iter().filter(|s| keep(s)).collect();
        let scheduled = kept.len() as u64;
        Summary::new(kept, self.start, self.window, scheduled)
    }
}

pub struct Summary {
    pub scheduled: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// Successful operations per second over the scheduled window, or from
    /// the first due time to the last completion when that is longer.
    pub throughput: f64,
    /// Sorted latencies of every operation, errors included: a failed or
    /// timed-out payment kept its caller waiting too.
    sorted: Vec<Duration>,
}

impl Summary {
    pub fn new<'a>(
        samples: impl IntoIterator<Item = &'a Sample>,
        start: Instant,
        window: Duration,
        scheduled: u64,
    ) -> Summary {
        let mut end = start;
        let samples = samples.into_iter().inspect(|s| end = end.max(s.done));
        let mut summary = Summary::unrated(samples, scheduled);
        summary.throughput = rate(summary.ok, end.saturating_duration_since(start).max(window));
        summary
    }

    /// Several phases of one target (the rounds of a run) as one: latencies
    /// pooled, throughput over the sum of the phases' durations, so that the
    /// time between them does not count.
    pub fn merged<'a>(phases: impl IntoIterator<Item = &'a Phase>) -> Summary {
        let mut busy = Duration::ZERO;
        let mut all = Vec::new();
        for p in phases {
            let end = p.samples.iter().map(|s| s.done).max().unwrap_or(p.start);
            busy += end.saturating_duration_since(p.start).max(p.window);
            all.extend(&p.samples);
        }
        let scheduled = all.len() as u64;
        let mut summary = Summary::unrated(all, scheduled);
        summary.throughput = rate(summary.ok, busy);
        summary
    }

    /// Everything but the throughput.
    fn unrated<'a>(samples: impl IntoIterator<Item = &'a Sample>, scheduled: u64) -> Summary {
        let mut errors = BTreeMap::new();
        let mut sorted = Vec::new();
        for s in samples {
            sorted.push(s.latency);
            if let Some(e) = &s.error {
                *errors.entry(e.clone()).or_insert(0) += 1;
            }
        }
        sorted.sort_unstable();
        let failed: u64 = errors.values().sum();
        let ok = (sorted.len() as u64).saturating_sub(failed);
        Summary {
            scheduled,
            ok,
            errors,
            throughput: 0.0,
            sorted,
        }
    }

    /// Nearest-rank percentile, `p` in 0..=100.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    /// [`Self::percentile`] when at least one sample lies above `p` (p99
    /// needs 100 samples, p99.9 needs 1,000); below that it would just be
    /// the maximum, so `None`.
    pub fn resolved_percentile(&self, p: f64) -> Option<Duration> {
        let n = self.sorted.len() as f64;
        // The tolerance keeps 1,000 × (1 − 0.999) from rounding below one.
        let above = n * (100.0 - p) / 100.0;
        (p >= 100.0 || above >= 1.0 - 1e-9).then(|| self.percentile(p))
    }

    pub fn mean(&self) -> Duration {
        let n = u32::try_from(self.sorted.len()).unwrap_or(u32::MAX).max(1);
        self.sorted.iter().sum::<Duration>() / n
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

fn rate(ok: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 { ok as f64 / secs } else { 0.0 }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "n/a".to_string()
    }
}

/// A latency row: both values, the difference and the ratio, in ms.
fn latency_row(out: &mut String, name: &str, a: Duration, b: Duration) {
    let (a, b) = (ms(a), ms(b));
    let _ = writeln!(
        out,
        "| {name} (ms) | {a:.2} | {b:.2} | {:+.2} | {} |",
        a - b,
        ratio(a, b)
    );
}

/// The comparison table for `results` = [(payroute), (direct)], plus error
/// classes when any occurred.
pub fn report(header: &str, results: &[(String, Summary)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{header}\n");
    let [(a_name, a), (b_name, b)] = results else {
        return out + "expected exactly two result sets\n";
    };
    let _ = writeln!(
        out,
        "| metric | {a_name} | {b_name} | {a_name} − {b_name} | ratio |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
    let _ = writeln!(
        out,
        "| throughput (payments/s) | {:.1} | {:.1} | {:+.1} | {} |",
        a.throughput,
        b.throughput,
        a.throughput - b.throughput,
        ratio(a.throughput, b.throughput)
    );
    for (name, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)] {
        latency_row(&mut out, name, a.percentile(p), b.percentile(p));
    }
    latency_row(&mut out, "max", a.percentile(100.0), b.percentile(100.0));
    latency_row(&mut out, "mean", a.mean(), b.mean());
    let _ = writeln!(
        out,
        "| ok / errors / scheduled | {} / {} / {} | {} / {} / {} | | |",
        a.ok,
        a.error_count(),
        a.scheduled,
        b.ok,
        b.error_count(),
        b.scheduled
    );
    for (name, s) in [(a_name, a), (b_name, b)] {
        for (class, n) in &s.errors {
            let _ = writeln!(out, "\n{name}: {n} × {class}");
        }
    }
    out
}
