//! Line charts with confidence bands, written as PNG and SVG (plotters; text drawn with the DejaVu Sans
//! font embedded in this crate, so no system font library is needed).
//!
//! ```no_run
//! use ctssl_study::plot::{LineChart, Series};
//! let chart = LineChart {
//!     title: "lung: fine-tuning".into(),
//!     x_label: "label fraction (%)".into(),
//!     y_label: "ROC-AUC".into(),
//!     log_x: true,
//!     series: vec![Series { name: "spark".into(), points: vec![(5.0, 0.8, Some((0.75, 0.85))), (100.0, 0.9, None)] }],
//! };
//! chart.save(std::path::Path::new("runs/plot")).unwrap(); // runs/plot.png and runs/plot.svg
//! ```

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Result, StudyError};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` font (once; later calls do nothing).
/// [`LineChart::save`] calls it; other plotters code of the workspace calls it before drawing text.
pub fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font shipped with the crate; a failure would only mean text is
        // missing from plots, which the drawing calls then report as an error.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One point of a [`Series`]: `(x, y, optional (low, high) band)`.
pub type Point = (f64, f64, Option<(f64, f64)>);

/// One line: points `(x, y, optional (low, high) band)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points in increasing x.
    pub points: Vec<Point>,
}

/// A chart of several series with shaded bands.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic x axis (label fractions, steps).
    pub log_x: bool,
    /// The lines.
    pub series: Vec<Series>,
}

fn plot_error(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> StudyError {
    StudyError::Plot { path: path.to_path_buf(), source: Box::new(e) }
}

/// A palette that stays distinguishable for up to ten lines.
fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
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
    C[i % C.len()]
}

impl LineChart {
    fn ranges(&self) -> Option<((f64, f64), (f64, f64))> {
        let pts = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y, band) in pts {
            if !x.is_finite() || !y.is_finite() || (self.log_x && x <= 0.0) {
                continue;
            }
            x0 = x0.min(x);
            x1 = x1.max(x);
            let (lo, hi) = band.unwrap_or((y, y));
            y0 = y0.min(lo.min(y));
            y1 = y1.max(hi.max(y));
        }
        if !x0.is_finite() || !y0.is_finite() {
            return None;
        }
        let (x0, x1) = if self.log_x {
            (x0 / 1.3, x1 * 1.3)
        } else if x0 == x1 {
            (x0 - 1.0, x1 + 1.0)
        } else {
            (x0, x1)
        };
        let pad = ((y1 - y0) * 0.08).max(0.01);
        Some(((x0, x1), (y0 - pad, y1 + pad)))
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>, path: &Path) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        register_font();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let ((x0, x1), (y0, y1)) = self
            .ranges()
            .ok_or_else(|| StudyError::InvalidArgument(format!("{}: no finite point to plot", path.display())))?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(&self.title, ("sans-serif", 22)).margin(12).x_label_area_size(42).y_label_area_size(58);
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .light_line_style(WHITE)
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .x_desc(&self.x_label)
                    .y_desc(&self.y_label)
                    .label_style(("sans-serif", 14))
                    .axis_desc_style(("sans-serif", 16))
                    .draw()
                    .map_err(|e| plot_error(path, e))?;
                for (i, s) in self.series.iter().enumerate() {
                    // A baseline named `random` is drawn in black so the methods stand out against it.
                    let c = if s.name == "random" { BLACK } else { color(i) };
                    let band: Vec<(f64, f64, f64)> =
                        s.points.iter().filter_map(|&(x, _, b)| b.map(|(lo, hi)| (x, lo, hi))).collect();
                    if band.len() >= 2 {
                        let mut poly: Vec<(f64, f64)> = band.iter().map(|&(x, _, hi)| (x, hi)).collect();
                        poly.extend(band.iter().rev().map(|&(x, lo, _)| (x, lo)));
                        chart
                            .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.15))))
                            .map_err(|e| plot_error(path, e))?;
                    }
                    let line: Vec<(f64, f64)> =
                        s.points.iter().map(|&(x, y, _)| (x, y)).filter(|p| p.1.is_finite()).collect();
                    chart
                        .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
                        .map_err(|e| plot_error(path, e))?
                        .label(s.name.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
                    chart
                        .draw_series(line.iter().map(|&p| Circle::new(p, 3, c.filled())))
                        .map_err(|e| plot_error(path, e))?;
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .label_font(("sans-serif", 14))
                    .draw()
                    .map_err(|e| plot_error(path, e))?;
            }};
        }
        if self.log_x {
            body!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(|e| plot_error(path, e))?);
        } else {
            body!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| plot_error(path, e))?);
        }
        root.present().map_err(|e| plot_error(path, e))?;
        Ok(())
    }

    /// Writes `<stem>.png` (900×600) and `<stem>.svg` and returns both paths.
    pub fn save(&self, stem: &Path) -> Result<(PathBuf, PathBuf)> {
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
        }
        self.draw(BitMapBackend::new(&png, (900, 600)).into_drawing_area(), &png)?;
        self.draw(SVGBackend::new(&svg, (900, 600)).into_drawing_area(), &svg)?;
        Ok((png, svg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_and_svg_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let chart = LineChart {
            title: "lung: fine-tuning".into(),
            x_label: "label fraction (%)".into(),
            y_label: "ROC-AUC".into(),
            log_x: true,
            series: vec![
                Series {
                    name: "spark".into(),
                    points: vec![(5.0, 0.8, Some((0.7, 0.9))), (100.0, 0.9, Some((0.85, 0.95)))],
                },
                Series { name: "random".into(), points: vec![(5.0, 0.6, None), (100.0, f64::NAN, None)] },
            ],
        };
        let (png, svg) = chart.save(&dir.path().join("curve")).unwrap();
        let img = image_size(&png);
        assert_eq!(img, (900, 600));
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(text.contains("label fraction") && text.contains("spark"), "axis and legend text in the SVG");
        let empty = LineChart { series: vec![], ..chart };
        assert!(empty.save(&dir.path().join("empty")).is_err());
    }

    fn image_size(png: &Path) -> (u32, u32) {
        let bytes = std::fs::read(png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        (w, h)
    }
}
