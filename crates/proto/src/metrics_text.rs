//! The metrics wire format. `prometheus-client` writes OpenMetrics, where a
//! counter family `x` has samples `x_total`; the classic Prometheus text
//! format (what `promtool check metrics` and older scrapers read) names the
//! family `x_total` too. Both services serve the classic format.

/// Rewrites OpenMetrics text into the Prometheus text format 0.0.4.
pub fn to_prometheus(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// A registry in the Prometheus text format: what both services' `/metrics` answer.
pub fn render(registry: &prometheus_client::registry::Registry) -> Result<String, std::fmt::Error> {
    let mut openmetrics = String::new();
    prometheus_client::encoding::text::encode(&mut openmetrics, registry)?;
    Ok(to_prometheus(&openmetrics))
}

/// The content type of [`to_prometheus`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_name() {
        let om = "# HELP a_frames Frames.\n# TYPE a_frames counter\na_frames_total 3\n# HELP a_g G.\n# TYPE a_g gauge\na_g 1\n# EOF\n";
        assert_eq!(
            to_prometheus(om),
            "# HELP a_frames_total Frames.\n# TYPE a_frames_total counter\na_frames_total 3\n# HELP a_g G.\n# TYPE a_g gauge\na_g 1\n"
        );
    }
}
