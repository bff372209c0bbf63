//! Recording (HDR histograms per operation kind) and reporting: a table, JSON, and an SVG plot
//! of the latency distribution.

use super::proto::OpKind;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Highest latency a histogram tracks: 60 s, in nanoseconds.
const MAX_NANOS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NANOS, 3).expect("valid histogram bounds")
}

/// Successes and failures per kind (setup phases count only these).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    /// Successes per kind (register, beat, list).
    pub ok: [u64; 3],
    /// Failures per kind.
    pub errors: [u64; 3],
}

impl KindCounts {
    /// Counts a success.
    pub fn ok(&mut self, kind: OpKind) {
        self.ok[kind.index()] += 1;
    }
    /// Counts a failure.
    pub fn error(&mut self, kind: OpKind) {
        self.errors[kind.index()] += 1;
    }
    /// Adds another count.
    pub fn merge(&mut self, other: &KindCounts) {
        for i in 0..3 {
            self.ok[i] += other.ok[i];
            self.errors[i] += other.errors[i];
        }
    }
    /// All successes.
    pub fn total_ok(&self) -> u64 {
        self.ok.iter().sum()
    }
    /// All failures.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Latencies and errors of the measured phase.
pub struct Recorder {
    /// One histogram per kind.
    pub hist: [Histogram<u64>; 3],
    /// Counts.
    pub counts: KindCounts,
    /// Failures by reason.
    pub reasons: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// Empty.
    pub fn new() -> Recorder {
        Recorder {
            hist: [histogram(), histogram(), histogram()],
            counts: KindCounts::default(),
            reasons: BTreeMap::new(),
        }
    }

    /// A success after `nanos`.
    pub fn record(&mut self, kind: OpKind, nanos: u64) {
        self.hist[kind.index()].saturating_record(nanos.clamp(1, MAX_NANOS));
        self.counts.ok(kind);
    }

    /// A failure.
    pub fn error(&mut self, kind: OpKind, why: &str) {
        self.counts.error(kind);
        match self.reasons.get_mut(why) {
            Some(n) => *n += 1,
            None => {
                self.reasons.insert(why.to_string(), 1);
            }
        }
    }

    /// Adds another recorder's data.
    pub fn merge(&mut self, other: &Recorder) {
        for i in 0..3 {
            self.hist[i].add(&other.hist[i]).expect("same bounds");
        }
        self.counts.merge(&other.counts);
        for (k, v) in &other.reasons {
            *self.reasons.entry(k.clone()).or_default() += v;
        }
    }

    /// Every kind together.
    pub fn total(&self) -> Histogram<u64> {
        let mut h = histogram();
        for x in &self.hist {
            h.add(x).expect("same bounds");
        }
        h
    }
}

/// Percentiles the plot and the JSON carry.
pub const CURVE_PERCENTILES: [f64; 17] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995,
    99.999, 100.0,
];

/// A latency distribution, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
    /// `(percentile, microseconds)` at [`CURVE_PERCENTILES`].
    pub curve: Vec<(f64, f64)>,
}

impl Latency {
    /// Summarizes a nanosecond histogram.
    pub fn of(h: &Histogram<u64>) -> Latency {
        let us = |v: u64| v as f64 / 1_000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            mean_us: h.mean() / 1_000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            curve: CURVE_PERCENTILES
                .iter()
                .map(|p| (*p, us(h.value_at_quantile(p / 100.0))))
                .collect(),
        }
    }
}

/// Figures of one kind of operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KindReport {
    /// `register`, `beat`, `list` or `all`.
    pub kind: String,
    /// Successful operations in the measured window.
    pub ok: u64,
    /// Failed operations in the measured window.
    pub errors: u64,
    /// Successful operations per second.
    pub throughput: f64,
    /// Latency of the successful ones.
    pub latency: Latency,
}

/// Everything one load run measured, as written to JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// A name for tables and plots (e.g. the server).
    pub label: String,
    /// `http` or `native`.
    pub protocol: String,
    /// `register`, `beat`, `list` or `mixed`.
    pub workload: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Connections.
    pub connections: usize,
    /// Pipeline depth (closed loop) or outstanding cap (open loop).
    pub pipeline: usize,
    /// Target rate of an open loop.
    pub rate: Option<f64>,
    /// Generator threads.
    pub threads: usize,
    /// Warm-up seconds.
    pub warmup_s: f64,
    /// Measured seconds.
    pub duration_s: f64,
    /// Setup operations that succeeded and failed, and how long setup took.
    pub setup_ok: u64,
    /// Setup operations that failed.
    pub setup_errors: u64,
    /// Setup seconds.
    pub setup_s: f64,
    /// All kinds together.
    pub total: KindReport,
    /// Per kind (only kinds that occurred).
    pub kinds: Vec<KindReport>,
    /// Failures by reason.
    pub error_reasons: BTreeMap<String, u64>,
}

impl LoadReport {
    /// One line per kind plus the total, as a fixed-width table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} | {} {} {} | {} conns x {} | {}",
            self.label,
            self.protocol,
            self.workload,
            self.mode,
            self.connections,
            self.pipeline,
            match self.rate {
                Some(r) => format!("target {r:.0}/s"),
                None => "closed loop".into(),
            }
        );
        let _ = writeln!(
            s,
            "{:<9} {:>12} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
            "op", "ops/s", "errors", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "count"
        );
        let mut rows: Vec<&KindReport> = self.kinds.iter().collect();
        if self.kinds.len() > 1 {
            rows.push(&self.total);
        }
        for k in rows {
            let l = &k.latency;
            let _ = writeln!(
                s,
                "{:<9} {:>12.0} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>10}",
                k.kind,
                k.throughput,
                k.errors,
                l.p50_us,
                l.p90_us,
                l.p99_us,
                l.p999_us,
                l.max_us,
                l.count
            );
        }
        for (why, n) in &self.error_reasons {
            let _ = writeln!(s, "  error: {why}: {n}");
        }
        if self.setup_errors > 0 {
            let _ = writeln!(s, "  setup errors: {}", self.setup_errors);
        }
        s
    }
}

/// Builds a report from a run's recorder.
pub fn kind_reports(rec: &Recorder, seconds: f64) -> (KindReport, Vec<KindReport>) {
    let secs = seconds.max(1e-9);
    let mut kinds = Vec::new();
    for kind in OpKind::ALL {
        let i = kind.index();
        if rec.counts.ok[i] + rec.counts.errors[i] == 0 {
            continue;
        }
        kinds.push(KindReport {
            kind: kind.name().into(),
            ok: rec.counts.ok[i],
            errors: rec.counts.errors[i],
            throughput: rec.counts.ok[i] as f64 / secs,
            latency: Latency::of(&rec.hist[i]),
        });
    }
    let total = KindReport {
        kind: "all".into(),
        ok: rec.counts.total_ok(),
        errors: rec.counts.total_errors(),
        throughput: rec.counts.total_ok() as f64 / secs,
        latency: Latency::of(&rec.total()),
    };
    (total, kinds)
}

/// An SVG plot of latency by percentile (the HdrHistogram view: the x axis spreads the tail,
/// `1/(1-p)` on a log scale; the y axis is latency on a log scale), one line per series.
pub fn svg_plot(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 440.0;
    const L: f64 = 80.0;
    const R: f64 = 170.0;
    const T: f64 = 40.0;
    const B: f64 = 60.0;
    const COLORS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    ];
    // x: log10(1/(1-p)), p up to 99.999%
    let max_x = 5.0;
    let xpos = |p: f64| {
        let q = (1.0 - p / 100.0).max(1e-5);
        let x = (1.0 / q).log10().min(max_x);
        L + x / max_x * (W - L - R)
    };
    let values: Vec<f64> = series
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, v)| *v))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().cloned().fold(0.0, f64::max);
    let (lo_e, hi_e) = if values.is_empty() {
        (0.0, 1.0)
    } else {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    };
    let ypos = |v: f64| {
        let e = v.max(1e-9).log10().clamp(lo_e, hi_e);
        H - B - (e - lo_e) / (hi_e - lo_e) * (H - T - B)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        (W - R + L) / 2.0,
        escape(title)
    );
    // grid and axes
    for (p, label) in [
        (0.0, "0%"),
        (90.0, "90%"),
        (99.0, "99%"),
        (99.9, "99.9%"),
        (99.99, "99.99%"),
        (99.999, "99.999%"),
    ] {
        let x = xpos(p);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            H - B,
            H - B + 18.0
        );
    }
    let mut e = lo_e;
    while e <= hi_e + 1e-9 {
        let y = ypos(10f64.powf(e));
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - R,
            L - 6.0,
            y + 4.0,
            fmt_us(10f64.powf(e))
        );
        e += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        (W - R + L) / 2.0,
        H - 15.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency</text>"#,
        (H - B + T) / 2.0,
        (H - B + T) / 2.0
    );
    for (i, (name, curve)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = curve
            .iter()
            .filter(|(p, v)| *p < 100.0 && *v > 0.0)
            .map(|(p, v)| format!("{:.1},{:.1}", xpos(*p), ypos(*v)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let y = T + 20.0 + 20.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            W - R + 12.0,
            W - R + 32.0,
            W - R + 38.0,
            y + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_us(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.0} s", us / 1e6)
    } else if us >= 1_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 1.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.0} ns", us * 1e3)
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_summarizes_and_plots() {
        let mut r = Recorder::new();
        for i in 1..=1000u64 {
            r.record(OpKind::Register, i * 1_000);
        }
        r.error(OpKind::Beat, "HTTP 5xx");
        let (total, kinds) = kind_reports(&r, 1.0);
        assert_eq!(total.ok, 1000);
        assert_eq!(kinds.len(), 2);
        let l = &kinds[0].latency;
        assert!((l.p50_us - 500.0).abs() < 2.0, "{l:?}");
        assert!((l.p99_us - 990.0).abs() < 2.0, "{l:?}");
        let svg = svg_plot("t <x>", &[("a".into(), l.curve.clone())]);
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("&lt;x&gt;"));
    }
}
