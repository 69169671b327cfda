//! Line and scatter charts written as PNG and SVG, with an embedded font so that no system font library
//! (fontconfig, freetype) is needed.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// Points joined by a line.
    Line,
    /// Unjoined small translucent dots, for many samples.
    Points,
    /// Unjoined large rings, for few events (rings, so that what lies under them stays visible).
    Markers,
    /// A dashed line, for thresholds and reference curves, visible even inside a band of data.
    Reference,
    /// Separate thick segments, one per pair of points, with a tick at each end so that a very short
    /// interval still shows (intervals on a timeline).
    Segments,
    /// Separate thin segments, one per pair of points (markers such as scan windows).
    ThinSegments,
}

/// One named series of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text; empty for no legend entry.
    pub label: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// How to draw them.
    pub kind: SeriesKind,
}

impl Series {
    /// A series drawn as a line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            kind: SeriesKind::Line,
        }
    }

    /// A series drawn as dots.
    pub fn points(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            kind: SeriesKind::Points,
        }
    }

    /// A series drawn as large dots.
    pub fn markers(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            kind: SeriesKind::Markers,
        }
    }

    /// Separate segments from consecutive pairs of points; `thick` for intervals, thin for markers.
    pub fn segments(
        label: impl Into<String>,
        pairs: Vec<((f64, f64), (f64, f64))>,
        thick: bool,
    ) -> Self {
        let kind = if thick {
            SeriesKind::Segments
        } else {
            SeriesKind::ThinSegments
        };
        Self {
            label: label.into(),
            points: pairs.into_iter().flat_map(|(a, b)| [a, b]).collect(),
            kind,
        }
    }

    /// A thin reference line.
    pub fn reference(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            kind: SeriesKind::Reference,
        }
    }
}

/// A chart with axes, series and a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Caption above the chart.
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// Names of the whole-number y values, from 1 up (a timeline's rows); empty: numbers.
    pub y_names: Vec<String>,
    /// Visible x range.
    pub x_range: Range<f64>,
    /// Visible y range.
    pub y_range: Range<f64>,
    /// What to draw.
    pub series: Vec<Series>,
    /// Where the legend goes.
    pub legend: Legend,
}

/// Corner of the legend box.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Legend {
    /// Top left.
    UpperLeft,
    /// Top right.
    #[default]
    UpperRight,
    /// Bottom right.
    LowerRight,
}

/// Why a chart could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlotError {
    /// The embedded font could not be loaded.
    Font,
    /// Drawing or writing a file failed.
    Draw {
        /// The file being written.
        path: PathBuf,
        /// The backend's message.
        message: String,
    },
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Font => write!(f, "the embedded plot font could not be loaded"),
            Self::Draw { path, message } => {
                write!(f, "cannot write plot {}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for PlotError {}

const SIZE: (u32, u32) = (960, 600);

/// Ten well-separated colours (the "tab10" set), readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// Writes `chart` to `<stem>.png` and `<stem>.svg` and returns both paths.
pub fn render(chart: &Chart, stem: &Path) -> Result<[PathBuf; 2], PlotError> {
    ensure_font()?;
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| PlotError::Draw { path, message }
    };
    let mut pixels = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, chart).map_err(err(&png))?;
        root.present()
            .map_err(|e| e.to_string())
            .map_err(err(&png))?;
    }
    write_png(&png, &pixels).map_err(err(&png))?;
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw(&root, chart).map_err(err(&svg))?;
        root.present()
            .map_err(|e| e.to_string())
            .map_err(err(&svg))?;
    }
    Ok([png, svg])
}

/// A tick's number as people write it: `1200`, not `1200.0`; `0.25`, not `0.250`.
fn tick(value: &f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.3}");
    text.trim_end_matches('0').to_owned()
}

/// Encodes an RGB buffer of [`SIZE`] as a PNG file.
fn write_png(path: &Path, pixels: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Plots are written once and committed: spend the time on small files.
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let names = &chart.y_names;
    // Room for the longest name at about 7.5 pixels a character, up to a third of the width.
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let y_area = (80 + longest * 15 / 2).min(SIZE.0 as usize / 3) as u32;
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(y_area)
        .build_cartesian_2d(chart.x_range.clone(), chart.y_range.clone())
        .map_err(e)?;
    let name_of = |y: &f64| {
        let row = y.round();
        if (y - row).abs() > 1e-6 || row < 1.0 {
            return String::new();
        }
        names.get(row as usize - 1).cloned().unwrap_or_default()
    };
    let mut mesh = ctx.configure_mesh();
    mesh.x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&tick);
    if names.is_empty() {
        mesh.y_label_formatter(&tick);
    } else {
        // One tick per whole number, so that every row gets its name.
        let span = (chart.y_range.end - chart.y_range.start).ceil() as usize + 1;
        mesh.y_labels(span).y_label_formatter(&name_of);
    }
    mesh.draw().map_err(e)?;
    let mut has_legend = false;
    for (i, series) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()].to_rgba();
        let drawn = match series.kind {
            SeriesKind::Line => ctx
                .draw_series(LineSeries::new(
                    series.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(e)?,
            SeriesKind::Reference => ctx
                .draw_series(DashedLineSeries::new(
                    series.points.iter().copied(),
                    10,
                    6,
                    color.stroke_width(2),
                ))
                .map_err(e)?,
            SeriesKind::Segments | SeriesKind::ThinSegments => {
                let width = if series.kind == SeriesKind::Segments {
                    6
                } else {
                    1
                };
                let style = if width == 1 {
                    color.mix(0.5).stroke_width(1)
                } else {
                    color.stroke_width(width)
                };
                if width > 1 {
                    let tick = 0.06 * (chart.y_range.end - chart.y_range.start);
                    let ends = series.points.iter().map(|&(x, y)| {
                        PathElement::new(vec![(x, y - tick), (x, y + tick)], color.stroke_width(2))
                    });
                    ctx.draw_series(ends).map_err(e)?;
                }
                ctx.draw_series(
                    series
                        .points
                        .chunks_exact(2)
                        .map(|p| PathElement::new(vec![p[0], p[1]], style)),
                )
                .map_err(e)?
            }
            SeriesKind::Points => ctx
                .draw_series(
                    series
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 2, color.mix(0.35).filled())),
                )
                .map_err(e)?,
            SeriesKind::Markers => ctx
                .draw_series(
                    series
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 6, color.stroke_width(2))),
                )
                .map_err(e)?,
        };
        if !series.label.is_empty() {
            has_legend = true;
            drawn.label(series.label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
    }
    if has_legend {
        ctx.configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(match chart.legend {
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_drop_needless_decimals() {
        assert_eq!(tick(&1200.0), "1200");
        assert_eq!(tick(&-5.0), "-5");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&0.5), "0.5");
        assert_eq!(tick(&2.125), "2.125");
    }

    #[test]
    fn writes_png_and_svg_with_text() {
        let dir = std::env::temp_dir().join(format!("warnkit-sim-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let chart = Chart {
            title: "Test chart".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            y_names: Vec::new(),
            x_range: 0.0..10.0,
            y_range: 0.0..1.0,
            series: vec![
                Series::line(
                    "rising",
                    (0..10).map(|i| (i as f64, i as f64 / 10.0)).collect(),
                ),
                Series::points("", vec![(5.0, 0.5)]),
            ],
            legend: Legend::LowerRight,
        };
        let [png, svg] = render(&chart, &dir.join("chart")).unwrap();
        let png_bytes = std::fs::read(&png).unwrap();
        assert_eq!(&png_bytes[1..4], b"PNG");
        let svg_text = std::fs::read_to_string(&svg).unwrap();
        assert!(svg_text.contains("Test chart") && svg_text.contains("rising"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
