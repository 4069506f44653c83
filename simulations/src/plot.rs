//! The plot of propagation latency against the number of nodes (PNG), from
//! the JSON lines the propagation scenario prints.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// Where the plot's font is looked for (Debian's `fonts-dejavu-core`,
/// `fonts-liberation`).
const FONTS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn register_font() -> Result<(), String> {
    let bytes = FONTS
        .iter()
        .find_map(|path| std::fs::read(path).ok())
        .ok_or_else(|| {
            format!(
                "no font for the plot's text: install fonts-dejavu-core (looked for {})",
                FONTS.join(", ")
            )
        })?;
    // Plotters keeps fonts for the life of the program.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| "the font could not be read".to_owned())
}

/// One line of the plot: a gossip mode and a percentile, over nodes.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Draws p50 and p95 latency against nodes, for the mesh and for flooding,
/// with the floors (hops × link latency, over the gossip mesh and over all
/// connections) of the mesh runs, into `out`.
pub fn propagation(runs: &[serde_json::Value], out: &Path) -> Result<(), String> {
    register_font()?;
    let pick = |gossip: &str, field: &str| -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = runs
            .iter()
            .filter(|run| run["scenario"] == "propagation" && run["gossip"] == gossip)
            .filter_map(|run| Some((run["nodes"].as_f64()?, run[field].as_f64()?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    };
    let series = [
        Series {
            label: "gossipsub p95".into(),
            color: RGBColor(0, 90, 181),
            points: pick("mesh", "p95_ms"),
        },
        Series {
            label: "gossipsub p50".into(),
            color: RGBColor(100, 160, 230),
            points: pick("mesh", "p50_ms"),
        },
        Series {
            label: "flooding p95".into(),
            color: RGBColor(200, 60, 20),
            points: pick("flood", "p95_ms"),
        },
        Series {
            label: "mesh floor p95 (mesh hops × latency)".into(),
            color: RGBColor(90, 90, 90),
            points: pick("mesh", "mesh_floor_p95_ms"),
        },
        Series {
            label: "floor p95 (hops over all connections × latency)".into(),
            color: RGBColor(170, 170, 170),
            points: pick("mesh", "floor_p95_ms"),
        },
    ];
    let all: Vec<&(f64, f64)> = series.iter().flat_map(|s| &s.points).collect();
    if all.is_empty() {
        return Err("no propagation results to plot".into());
    }
    let max_nodes = all.iter().map(|p| p.0).fold(0.0, f64::max) * 1.05;
    let max_ms = all.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let root = BitMapBackend::new(out, (900, 560)).into_drawing_area();
    let draw = |error: &dyn std::fmt::Display| format!("cannot draw {}: {error}", out.display());
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Time for a change to reach the nodes of a postal code (100 ms links)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_nodes, 0.0..max_ms)
        .map_err(|e| draw(&e))?;
    chart
        .configure_mesh()
        .x_desc("nodes on the topic")
        .y_desc("milliseconds after the commit")
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|nodes| format!("{nodes:.0}"))
        .y_label_formatter(&|ms| format!("{ms:.0}"))
        .draw()
        .map_err(|e| draw(&e))?;
    for line in &series {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(line.points.clone(), color.stroke_width(2)))
            .map_err(|e| draw(&e))?
            .label(line.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|point| Circle::new(*point, 4, color.filled())),
            )
            .map_err(|e| draw(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| draw(&e))?;
    root.present().map_err(|e| draw(&e))?;
    Ok(())
}
