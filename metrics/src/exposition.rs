//! The text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>): a
//! `# HELP` and `# TYPE` line per family, then its samples.

use crate::instruments::Histogram;
use std::fmt::Write;

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A value as the format writes it.
pub trait SampleValue {
    fn write_to(&self, out: &mut String);
}

impl SampleValue for u64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl SampleValue for f64 {
    fn write_to(&self, out: &mut String) {
        let _ = match *self {
            v if v.is_nan() => write!(out, "NaN"),
            v if v == f64::INFINITY => write!(out, "+Inf"),
            v if v == f64::NEG_INFINITY => write!(out, "-Inf"),
            v => write!(out, "{v}"),
        };
    }
}

/// One scrape's text, built family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Exposition {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {}", kind.name());
        self
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl SampleValue) -> &mut Exposition {
        self.text.push_str(name);
        write_labels(&mut self.text, labels, None);
        self.text.push(' ');
        value.write_to(&mut self.text);
        self.text.push('\n');
        self
    }

    /// A family of one unlabelled counter.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> &mut Exposition {
        self.family(name, Kind::Counter, help).sample(name, &[], value)
    }

    /// A family of one unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) -> &mut Exposition {
        self.family(name, Kind::Gauge, help).sample(name, &[], value)
    }

    /// A histogram's samples (`_bucket` per bound and `+Inf`, `_sum`,
    /// `_count`), under a family started with [`Kind::Histogram`].
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) -> &mut Exposition {
        let counts = histogram.cumulative_counts();
        let bounds = histogram.bounds().iter().copied().chain([f64::INFINITY]);
        for (bound, count) in bounds.zip(&counts) {
            let mut le = String::new();
            bound.write_to(&mut le);
            let _ = write!(self.text, "{name}_bucket");
            write_labels(&mut self.text, labels, Some(&le));
            let _ = writeln!(self.text, " {count}");
        }
        let (sum, count) = (histogram.sum(), counts.last().copied().unwrap_or(0));
        let _ = write!(self.text, "{name}_sum");
        write_labels(&mut self.text, labels, None);
        self.text.push(' ');
        sum.write_to(&mut self.text);
        let _ = write!(self.text, "\n{name}_count");
        write_labels(&mut self.text, labels, None);
        let _ = writeln!(self.text, " {count}");
        self
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// `{a="1",b="2"}` (with `le` last when given), nothing without labels.
fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
    for (index, (name, value)) in all.enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_histograms_render_as_the_format_says() {
        let histogram = Histogram::new(&[0.5, 1.0]);
        histogram.observe(0.25);
        histogram.observe(2.0);
        let mut out = Exposition::new();
        out.counter("a_total", "What a counts.", 7);
        out.family("b", Kind::Gauge, "B, per x.").sample("b", &[("x", "q\"u\\o\nte")], 1.5);
        out.family("lat_seconds", Kind::Histogram, "Latency.").histogram("lat_seconds", &[("m", "get")], &histogram);
        assert_eq!(
            out.finish(),
            "# HELP a_total What a counts.\n# TYPE a_total counter\na_total 7\n\
             # HELP b B, per x.\n# TYPE b gauge\nb{x=\"q\\\"u\\\\o\\nte\"} 1.5\n\
             # HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n\
             lat_seconds_bucket{m=\"get\",le=\"0.5\"} 1\nlat_seconds_bucket{m=\"get\",le=\"1\"} 1\n\
             lat_seconds_bucket{m=\"get\",le=\"+Inf\"} 2\nlat_seconds_sum{m=\"get\"} 2.25\nlat_seconds_count{m=\"get\"} 2\n"
        );
    }
}
