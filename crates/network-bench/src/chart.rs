//! The chart: p50 and p99 latency (log scale) against offered rate, one
//! colour per configuration, drawn with plotters into a PNG.

use std::path::Path;

use anyhow::{bail, Context};
use plotters::prelude::*;

use crate::report::Report;

/// Where a TrueType font usually is (Debian's fonts-dejavu-core first).
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system font for the chart's text (plotters draws text with
/// ab_glyph from font bytes, so no font library is needed at build time).
pub fn load_font() -> anyhow::Result<()> {
    let Some(bytes) = FONT_PATHS.iter().find_map(|path| std::fs::read(path).ok()) else {
        bail!("no TrueType font for the chart: install one (Debian: apt-get install fonts-dejavu-core)");
    };
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("the font file is not a usable TrueType font"))?;
    Ok(())
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draws the chart of every configuration that has at least one open-loop run.
pub fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let series: Vec<_> = report.configs.iter().filter(|c| !c.open.is_empty()).collect();
    let points = series.iter().flat_map(|c| c.open.iter());
    let (mut max_rate, mut min_ms, mut max_ms) = (1.0f64, f64::MAX, 0.0f64);
    for p in points {
        max_rate = max_rate.max(p.offered);
        min_ms = min_ms.min(p.outcome.p50_ms);
        max_ms = max_ms.max(p.outcome.p99_ms);
    }
    if series.is_empty() {
        bail!("no open-loop run to chart");
    }
    let (low, high) = ((min_ms * 0.5).max(0.01), (max_ms * 2.0).max(0.1));
    let root = BitMapBackend::new(path, (1200, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("updateCustomer latency against offered rate (open loop; {})", report.date);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..max_rate * 1.05, (low..high).log_scale())
        .context("chart axes")?;
    chart
        .configure_mesh()
        .x_desc("offered rate (requests/s)")
        .y_desc("latency (ms, log scale): p99 solid, p50 dashed")
        .label_style(("sans-serif", 15))
        .draw()?;
    for (index, config) in series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let p99: Vec<(f64, f64)> =
            config.open.iter().map(|p| (p.offered, p.outcome.p99_ms)).collect();
        let p50: Vec<(f64, f64)> =
            config.open.iter().map(|p| (p.offered, p.outcome.p50_ms)).collect();
        chart
            .draw_series(LineSeries::new(p99.clone(), color.stroke_width(3)))?
            .label(config.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart.draw_series(p99.iter().map(|&(x, y)| Circle::new((x, y), 4, color.filled())))?;
        chart.draw_series(DashedLineSeries::new(p50.clone(), 6, 4, color.stroke_width(1)))?;
        chart
            .draw_series(p50.iter().map(|&(x, y)| Circle::new((x, y), 3, color.stroke_width(1))))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present().context("write the chart")?;
    Ok(())
}
