//! The plots: one panel per chain length, CRAQ and CR in each (median with
//! min–max bars, the bound dashed), the run's caption below; PNG and SVG.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::OnceLock;

/// The font text is drawn in (Debian package fonts-dejavu-core).
pub const FONT_FILE: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const PANEL_WIDTH: u32 = 420;
const HEIGHT: u32 = 460;
const CAPTION_HEIGHT: u32 = 46;
/// The family plotters measures text with once `register_dejavu` ran.
pub const FONT: &str = "sans-serif";

/// Which of the poster's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Fig. 3: each host's reads/s against its node's distance from the tail, at 100 % reads.
    DistanceFromTail,
    /// Fig. 4: all hosts' reads/s against the share of reads.
    ReadFraction,
}

impl Figure {
    pub fn stem(self) -> &'static str {
        match self {
            Figure::DistanceFromTail => "fig3",
            Figure::ReadFraction => "fig4",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Figure::DistanceFromTail => "Fig. 3: read throughput vs distance from tail (100 % reads)",
            Figure::ReadFraction => "Fig. 4: read throughput with mixed reads and writes",
        }
    }

    pub fn x_label(self) -> &'static str {
        match self {
            Figure::DistanceFromTail => "distance from the tail of the node read from (hops)",
            Figure::ReadFraction => "read fraction",
        }
    }

    pub fn y_label(self) -> &'static str {
        match self {
            Figure::DistanceFromTail => "reads/s of that client",
            Figure::ReadFraction => "reads/s, all clients",
        }
    }
}

/// One chain length.
#[derive(Debug, Clone)]
pub struct Panel {
    pub nodes: u8,
    pub series: Vec<Series>,
}

/// One mode's points.
#[derive(Debug, Clone)]
pub struct Series {
    pub mode: &'static str,
    pub points: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesPoint {
    pub x: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub bound: f64,
}

/// Writes `path_stem`.png and `path_stem`.svg.
pub fn render(figure: Figure, panels: &[Panel], caption: &str, path_stem: &Path) -> Result<(), String> {
    register_dejavu()?;
    let size = (PANEL_WIDTH * panels.len().max(1) as u32, HEIGHT);
    let png = path_stem.with_extension("png");
    draw(BitMapBackend::new(&png, size).into_drawing_area(), figure, panels, caption)
        .map_err(|e| format!("drawing {}: {e}", png.display()))?;
    let svg = path_stem.with_extension("svg");
    draw(SVGBackend::new(&svg, size).into_drawing_area(), figure, panels, caption)
        .map_err(|e| format!("drawing {}: {e}", svg.display()))
}

/// plotters draws text with the font registered for "sans-serif", read once.
pub fn register_dejavu() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT_FILE).map_err(|e| {
                format!("{FONT_FILE}: {e}: the plots need DejaVu Sans (`apt-get install -y fonts-dejavu-core`)")
            })?;
            register_font(FONT, FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| format!("{FONT_FILE} is not a font plotters can read"))
        })
        .clone()
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    figure: Figure,
    panels: &[Panel],
    caption: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let root = root.titled(figure.title(), (FONT, 20))?;
    let (plots, footer) = root.split_vertically(HEIGHT - CAPTION_HEIGHT - 30);
    for (index, (area, panel)) in plots.split_evenly((1, panels.len().max(1))).into_iter().zip(panels).enumerate() {
        draw_panel(&area, figure, panel, index == 0)?;
    }
    let text = (FONT, 12).into_font().color(&BLACK);
    for (line, part) in wrap(caption, (PANEL_WIDTH as usize * panels.len().max(1)) / 7).iter().enumerate() {
        footer.draw_text(part, &text, (10, 6 + 16 * line as i32))?;
    }
    root.present()
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    panel: &Panel,
    with_legend: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let points = || panel.series.iter().flat_map(|s| &s.points);
    let y_max = points().map(|p| p.max.max(p.bound)).fold(1.0, f64::max) * 1.12;
    let x_range = match figure {
        Figure::DistanceFromTail => -0.5..(f64::from(panel.nodes) - 0.5),
        Figure::ReadFraction => {
            let lowest = points().map(|p| p.x).fold(1.0, f64::min);
            (lowest - 0.05)..1.03
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} nodes", panel.nodes), (FONT, 16))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(62)
        .build_cartesian_2d(x_range, 0.0..y_max)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(figure.x_label()).y_desc(figure.y_label()).label_style((FONT, 12)).axis_desc_style((FONT, 13));
    if figure == Figure::DistanceFromTail {
        mesh.x_labels(usize::from(panel.nodes)).x_label_formatter(&|x| format!("{:.0}", x));
    }
    mesh.y_label_formatter(&|y| format!("{:.0}", y)).draw()?;
    for (series, color) in panel.series.iter().zip([BLUE, RED]) {
        let style = color.stroke_width(2);
        let line = series.points.iter().map(|p| (p.x, p.median));
        chart
            .draw_series(LineSeries::new(line, style))?
            .label(series.mode)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart
            .draw_series(series.points.iter().map(|p| ErrorBar::new_vertical(p.x, p.min, p.median, p.max, style, 8)))?;
        let bound = series.points.iter().map(|p| (p.x, p.bound));
        chart
            .draw_series(DashedLineSeries::new(bound, 6, 4, color.mix(0.6).stroke_width(1)))?
            .label(format!("{} bound", series.mode))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.mix(0.6).stroke_width(1)));
    }
    if with_legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleLeft)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
    }
    Ok(())
}

/// Splits `text` at spaces into lines of at most about `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("starts with a line");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_captions_wrap_at_spaces() {
        assert_eq!(wrap("aa bb cc dd", 5), vec!["aa bb", "cc dd"]);
        assert_eq!(wrap("short", 40), vec!["short"]);
    }
}
