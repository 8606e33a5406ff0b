//! The latency distribution of a run as an SVG percentile plot (latency against
//! percentile on a "nines" scale: 0, 90, 99, 99.9 % ... evenly spaced), the usual picture
//! of an HDR histogram: the tail is where a payment platform's users feel it. Integer
//! arithmetic only (the workspace warns on floats), in pixels and microseconds.

use std::fmt::Write as _;

use super::load::Report;

const WIDTH: u64 = 720;
const HEIGHT: u64 = 400;
const LEFT: u64 = 70;
const RIGHT: u64 = 20;
const TOP: u64 = 40;
const BOTTOM: u64 = 50;
/// Points per decade of nines (1/(1-q) from 1 to 10, 10 to 100, ...).
const STEPS: u64 = 20;
/// 10^(j/20) × 1000 for j = 0..20: the points inside one decade, without floats.
const DECADE: [u64; STEPS as usize] = [
    1000, 1122, 1259, 1413, 1585, 1778, 1995, 2239, 2512, 2818, 3162, 3548, 3981, 4467, 5012, 5623,
    6310, 7079, 7943, 8913,
];

/// 1/(1-q) × 1000 at point k (k/20 nines).
fn odds_x1000(k: u64) -> u64 {
    let decades = u32::try_from(k / STEPS).unwrap_or(u32::MAX);
    10u64
        .saturating_pow(decades)
        .saturating_mul(DECADE[(k % STEPS) as usize])
}

/// The quantile at point k, in parts per million.
fn ppm_at(k: u64) -> u64 {
    1_000_000 - 1_000_000_000 / odds_x1000(k)
}

/// The least "round" value (1, 2 or 5 times a power of ten) at or above `v`.
fn round_up(v: u64) -> u64 {
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            if unit * m >= v {
                return unit * m;
            }
        }
        unit *= 10;
    }
}

/// A latency label: microseconds below a millisecond, else milliseconds with a tenth below
/// ten (the grid's steps are a fifth of a round number, so labels never repeat).
fn ms_label(us: u64) -> String {
    if (1..1000).contains(&us) {
        format!("{us} µs")
    } else if us >= 10_000 || us.is_multiple_of(1000) {
        format!("{} ms", us / 1000)
    } else {
        format!("{}.{} ms", us / 1000, (us % 1000) / 100)
    }
}

/// The plot of `report`'s latencies, titled `title` (the run's summary line).
pub fn svg(report: &Report, title: &str) -> String {
    let count = report.latency.len().max(1);
    // Up to the nines the samples can show: past 1/(1-q) = count every point is the max.
    let mut last = 0;
    while odds_x1000(last + 1) <= count.saturating_mul(1000) && last < 6 * STEPS {
        last += 1;
    }
    let last = last.max(STEPS);
    let top_us = round_up(report.latency.max().max(1));
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |k: u64| LEFT + k * plot_w / last;
    let y = |us: u64| TOP + plot_h - us.min(top_us) * plot_h / top_us;

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"20\">{}</text>\n",
        escape(title)
    );
    // Axes, with a grid line at every decade of nines and every fifth of the latency range.
    for k in (0..=last).step_by(STEPS as usize) {
        let label = match k / STEPS {
            0 => "0%".to_owned(),
            1 => "90%".to_owned(),
            n => format!("99.{}%", "9".repeat(usize::try_from(n - 2).unwrap_or(0)))
                .replace("99.%", "99%"),
        };
        let _ = writeln!(
            out,
            "<line x1=\"{0}\" y1=\"{TOP}\" x2=\"{0}\" y2=\"{1}\" stroke=\"#ddd\"/>\
             <text x=\"{0}\" y=\"{2}\" text-anchor=\"middle\">{label}</text>",
            x(k),
            TOP + plot_h,
            TOP + plot_h + 18
        );
    }
    for i in 0..=5u64 {
        let us = top_us * i / 5;
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#ddd\"/>\
             <text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{4}</text>",
            y(us),
            WIDTH - RIGHT,
            LEFT - 6,
            y(us) + 4,
            ms_label(us)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">percentile</text>",
        LEFT + plot_w / 2,
        HEIGHT - 8
    );
    let points: Vec<String> = (0..=last)
        .map(|k| {
            let us = report.quantile_ppm_us(ppm_at(k));
            format!("{},{}", x(k), y(us))
        })
        .collect();
    let _ = writeln!(
        out,
        "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>\n</svg>",
        points.join(" ")
    );
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nines_scale_is_exact_at_each_decade() {
        assert_eq!(ppm_at(0), 0);
        assert_eq!(ppm_at(STEPS), 900_000);
        assert_eq!(ppm_at(2 * STEPS), 990_000);
        assert_eq!(ppm_at(3 * STEPS), 999_000);
        assert_eq!(ppm_at(STEPS / 2), 683_745, "half a nine: q = 1 - 1/3.162");
        assert_eq!(round_up(1), 1);
        assert_eq!(round_up(130_001), 200_000);
        assert_eq!(round_up(400_000), 500_000);
        assert_eq!(ms_label(40), "40 µs");
        assert_eq!(ms_label(1_600), "1.6 ms");
        assert_eq!(ms_label(40_000), "40 ms");
    }

    #[test]
    fn the_plot_rises_with_the_percentile_and_ends_at_the_slowest_sample() {
        let mut r = Report::new();
        for v in 1..=10_000u64 {
            r.latency.record(v * 10).unwrap();
        }
        let svg = svg(&r, "scenario=x <1>");
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("scenario=x &lt;1&gt;"), "the title is escaped");
        let top = ms_label(round_up(r.latency.max()));
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "0 ms", top.as_str()] {
            assert!(svg.contains(&format!(">{label}<")), "axis label {label}");
        }
        let points = svg
            .split("points=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let ys: Vec<u64> = points
            .split(' ')
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            ys.len(),
            4 * STEPS as usize + 1,
            "four decades for 10,000 samples"
        );
        assert!(ys.windows(2).all(|w| w[1] <= w[0]), "latency never falls");
        let slowest = TOP + (HEIGHT - TOP - BOTTOM)
            - r.latency.max() * (HEIGHT - TOP - BOTTOM) / round_up(r.latency.max());
        assert_eq!(
            *ys.last().unwrap(),
            slowest,
            "the line ends at the slowest sample"
        );
        assert!(
            ys[0] > ys[STEPS as usize],
            "the fastest sample is below p90"
        );
    }
}
