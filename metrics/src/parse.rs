//! Reading the text exposition format back: what `netcraq ctl top` and the
//! tests make of a scraped `/metrics` (etcd's, the proxy's, a node's).

/// One sample line: name, labels, value (a timestamp, if any, is dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A scrape's samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// The samples named `name` whose labels include every one of `labels`.
    pub fn matching<'s>(&'s self, name: &'s str, labels: &'s [(&str, &str)]) -> impl Iterator<Item = &'s Sample> + 's {
        self.0
            .iter()
            .filter(move |s| s.name == name && labels.iter().all(|(label, value)| s.label(label) == Some(*value)))
    }

    /// The sum of the samples [`Samples::matching`] gives; `None` when there are none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels).map(|s| s.value).reduce(|a, b| a + b)
    }
}

/// Parses the text format; a malformed line is an error naming it.
pub fn parse(text: &str) -> Result<Samples, String> {
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(parse_line(line).map_err(|e| format!("line {}: {e}: {line:?}", number + 1))?);
    }
    Ok(Samples(samples))
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ', '\t']).ok_or("no value")?;
    let name = line[..name_end].to_string();
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(after) => parse_labels(after)?,
        None => (Vec::new(), &line[name_end..]),
    };
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().map_err(|_| format!("{other:?} is not a number"))?,
    };
    Ok(Sample { name, labels, value })
}

/// The labels after `{`, and what follows the closing `}`.
fn parse_labels(mut text: &str) -> Result<(Vec<(String, String)>, &str), String> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([' ', ',']);
        if let Some(rest) = text.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let (name, after) = text.split_once("=\"").ok_or("a label without =\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (at, '"') => break at,
                (_, '\\') => match chars.next().ok_or("an unterminated escape")?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((name.trim().to_string(), value));
        text = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_labels_escapes_and_timestamps_parse() {
        let text = "# HELP x X.\n# TYPE x counter\nx 3\n\
                    grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\"} 12 1700000000\n\
                    y{k=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} +Inf\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.0.len(), 3);
        assert_eq!(samples.sum("x", &[]), Some(3.0));
        assert_eq!(samples.sum("grpc_server_handled_total", &[("grpc_method", "Range")]), Some(12.0));
        assert_eq!(samples.sum("grpc_server_handled_total", &[("grpc_method", "Put")]), None);
        assert_eq!(samples.0[2].label("k"), Some("a\"b\\c\nd"));
        assert_eq!(samples.0[2].value, f64::INFINITY);
    }

    #[test]
    fn what_the_exposition_writes_parses_back() {
        let mut out = crate::Exposition::new();
        out.family("m", crate::Kind::Gauge, "M.").sample("m", &[("key", "/registry/\"x\"")], 2.5);
        let samples = parse(&out.finish()).unwrap();
        assert_eq!(
            samples.0,
            [Sample { name: "m".into(), labels: vec![("key".into(), "/registry/\"x\"".into())], value: 2.5 }]
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        assert!(parse("x{a=\"1\" 3").unwrap_err().contains("line 1"));
        assert!(parse("ok 1\nx abc").unwrap_err().contains("line 2"));
    }
}
