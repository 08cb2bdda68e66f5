//! A small table layout for A4 landscape sheets: a heading repeated on every page (pages get
//! handed out one by one), a table whose cells wrap by words, heading rows for alleys (repeated
//! when a page breaks inside an alley), and "Trang i/n" at the foot. Text is measured with the
//! embedded font's own advances, so what is laid out is what krilla draws.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::Document;

use crate::Heading;

/// Why a sheet could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("the embedded font could not be read: {0}")]
    Font(&'static str),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// A sheet ready to write: the PDF's bytes, its pages and the rows it lists.
#[derive(Debug, Clone)]
pub struct Printed {
    pub pdf: Vec<u8>,
    pub pages: usize,
    pub rows: usize,
}

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// A4 landscape, in points.
const WIDTH: f32 = 841.89;
const HEIGHT: f32 = 595.28;
const MARGIN: f32 = 28.0;
const FOOT: f32 = 30.0;
const PAD: f32 = 3.0;
const BODY: f32 = 8.5;
const LEADING: f32 = 1.25;
/// Rows are at least this tall: room to write in by hand.
const MIN_ROW: f32 = 20.0;
const HEADING_ROW: f32 = 16.0;

pub(crate) enum Align {
    Left,
    Right,
}

pub(crate) struct Column {
    title: &'static str,
    title_en: &'static str,
    /// Width in points; `None` takes what the others leave.
    width: Option<f32>,
    align: Align,
}

impl Column {
    pub(crate) fn new(
        title: &'static str,
        title_en: &'static str,
        width: f32,
        align: Align,
    ) -> Self {
        Column {
            title,
            title_en,
            width: Some(width),
            align,
        }
    }

    pub(crate) fn rest(title: &'static str, title_en: &'static str) -> Self {
        Column {
            title,
            title_en,
            width: None,
            align: Align::Left,
        }
    }
}

pub(crate) struct Cell {
    text: String,
    bold: bool,
}

impl Cell {
    pub(crate) fn plain(text: String) -> Self {
        Cell { text, bold: false }
    }
    pub(crate) fn bold(text: String) -> Self {
        Cell { text, bold: true }
    }
}

pub(crate) enum Row {
    /// An alley's heading across the table.
    Heading(String),
    Cells(Vec<Cell>),
}

pub(crate) struct Sheet {
    pub title: &'static str,
    pub title_en: &'static str,
    pub summary: String,
    pub legend: Option<&'static str>,
    pub empty: &'static str,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// One embedded face: krilla's for drawing, ttf-parser's for measuring.
struct Face {
    font: Font,
    metrics: ttf_parser::Face<'static>,
}

impl Face {
    fn load(data: &'static [u8]) -> Result<Self, PrintError> {
        Ok(Face {
            font: Font::new(data.into(), 0).ok_or(PrintError::Font("not a font krilla reads"))?,
            metrics: ttf_parser::Face::parse(data, 0)
                .map_err(|_| PrintError::Font("not a font ttf-parser reads"))?,
        })
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        let em = f32::from(self.metrics.units_per_em());
        let units: u32 = text
            .chars()
            .map(|c| {
                self.metrics
                    .glyph_index(c)
                    .and_then(|g| self.metrics.glyph_hor_advance(g))
                    .map_or(u32::from(self.metrics.units_per_em()) / 2, u32::from)
            })
            .sum();
        units as f32 * size / em
    }

    fn ascent(&self, size: f32) -> f32 {
        f32::from(self.metrics.ascender()) * size / f32::from(self.metrics.units_per_em())
    }

    /// `text` broken into lines no wider than `width`: at spaces, inside a word only when the
    /// word alone is wider; explicit newlines kept.
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                for c in word.chars() {
                    line.push(c);
                    if self.width(&line, size) > width && line.chars().count() > 1 {
                        line.pop();
                        lines.push(std::mem::replace(&mut line, c.to_string()));
                    }
                }
            }
            lines.push(line);
        }
        lines
    }
}

struct Fonts {
    regular: Face,
    bold: Face,
}

impl Fonts {
    fn face(&self, bold: bool) -> &Face {
        if bold {
            &self.bold
        } else {
            &self.regular
        }
    }
}

/// A row once laid out: its cells' lines and its height.
enum Laid {
    Heading(String),
    Cells {
        lines: Vec<Vec<String>>,
        bold: Vec<bool>,
        height: f32,
    },
}

impl Laid {
    fn height(&self) -> f32 {
        match self {
            Laid::Heading(_) => HEADING_ROW,
            Laid::Cells { height, .. } => *height,
        }
    }
}

const INK: (u8, u8, u8) = (0, 0, 0);
const GREY: (u8, u8, u8) = (90, 90, 90);
const RULE: (u8, u8, u8) = (150, 150, 150);
const SHADE: (u8, u8, u8) = (232, 232, 232);

fn fill(surface: &mut Surface<'_>, (r, g, b): (u8, u8, u8)) {
    surface.set_stroke(None);
    surface.set_fill(Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        ..Fill::default()
    }));
}

impl Sheet {
    pub(crate) fn render(mut self, heading: &Heading<'_>) -> Result<Printed, PrintError> {
        let fonts = Fonts {
            regular: Face::load(REGULAR)?,
            bold: Face::load(BOLD)?,
        };
        let inner = WIDTH - 2.0 * MARGIN;
        let fixed: f32 = self.columns.iter().filter_map(|c| c.width).sum();
        let widths: Vec<f32> = self
            .columns
            .iter()
            .map(|c| c.width.unwrap_or((inner - fixed).max(40.0)))
            .collect();

        // The column titles: Vietnamese bold, English under it.
        let titles: Vec<(Vec<String>, Vec<String>)> = self
            .columns
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                (
                    fonts.bold.wrap(c.title, 7.5, w - 2.0 * PAD),
                    fonts.regular.wrap(c.title_en, 6.5, w - 2.0 * PAD),
                )
            })
            .collect();
        let title_height = titles
            .iter()
            .map(|(vi, en)| vi.len() as f32 * 7.5 * LEADING + en.len() as f32 * 6.5 * LEADING)
            .fold(0.0, f32::max)
            + 2.0 * PAD;

        let listed = self
            .rows
            .iter()
            .filter(|r| matches!(r, Row::Cells(_)))
            .count();
        let laid: Vec<Laid> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(|row| match row {
                Row::Heading(text) => Laid::Heading(text),
                Row::Cells(cells) => {
                    let lines: Vec<Vec<String>> = cells
                        .iter()
                        .zip(&widths)
                        .map(|(c, w)| fonts.face(c.bold).wrap(&c.text, BODY, w - 2.0 * PAD))
                        .collect();
                    let most = lines.iter().map(Vec::len).max().unwrap_or(1) as f32;
                    Laid::Cells {
                        height: (most * BODY * LEADING + 2.0 * PAD).max(MIN_ROW),
                        bold: cells.iter().map(|c| c.bold).collect(),
                        lines,
                    }
                }
            })
            .collect();

        // Pages: the table starts under the heading; an alley's heading never ends a page.
        let table_top = MARGIN + heading_height(self.legend.is_some());
        let room = HEIGHT - FOOT - (table_top + title_height);
        let mut pages: Vec<Vec<Laid>> = vec![Vec::new()];
        let mut used = 0.0;
        let mut alley: Option<String> = None;
        let mut rows = laid.into_iter().peekable();
        while let Some(row) = rows.next() {
            let need = match (&row, rows.peek()) {
                (Laid::Heading(_), Some(next)) => row.height() + next.height(),
                _ => row.height(),
            };
            if used + need > room && used > 0.0 {
                pages.push(Vec::new());
                used = 0.0;
                if let (Laid::Cells { .. }, Some(a)) = (&row, &alley) {
                    let again = Laid::Heading(format!("{a} (tiếp / continued)"));
                    used += again.height();
                    if let Some(page) = pages.last_mut() {
                        page.push(again);
                    }
                }
            }
            if let Laid::Heading(text) = &row {
                alley = Some(text.split(" (").next().unwrap_or(text).to_string());
            }
            used += row.height();
            if let Some(page) = pages.last_mut() {
                page.push(row);
            }
        }

        let mut document = Document::new();
        document.set_metadata(
            krilla::metadata::Metadata::new()
                .title(format!(
                    "{} / {} — {}",
                    self.title, self.title_en, heading.group
                ))
                .language("vi".to_string())
                .creator("Doorstep".to_string()),
        );
        let total = pages.len();
        for (index, page_rows) in pages.iter().enumerate() {
            let settings = PageSettings::from_wh(WIDTH, HEIGHT)
                .ok_or_else(|| PrintError::Pdf("bad page size".into()))?;
            let mut page = document.start_page_with(settings);
            let mut surface = page.surface();
            let mut y = self.draw_heading(&mut surface, &fonts, heading);
            debug_assert!((y - table_top).abs() < 0.5, "heading_height is out of step");
            draw_titles(&mut surface, &fonts, &titles, &widths, y, title_height);
            y += title_height;
            if page_rows.is_empty() {
                fill(&mut surface, GREY);
                text(
                    &mut surface,
                    &fonts.regular,
                    10.0,
                    MARGIN + PAD,
                    y + 16.0,
                    self.empty,
                );
            }
            for row in page_rows {
                let h = row.height();
                match row {
                    Laid::Heading(label) => {
                        fill(&mut surface, SHADE);
                        rect(&mut surface, MARGIN, y, inner, h);
                        fill(&mut surface, INK);
                        text(&mut surface, &fonts.bold, 9.0, MARGIN + PAD, y + PAD, label);
                    }
                    Laid::Cells { lines, bold, .. } => {
                        fill(&mut surface, INK);
                        let mut x = MARGIN;
                        for (((cell, w), column), b) in
                            lines.iter().zip(&widths).zip(&self.columns).zip(bold)
                        {
                            let face = fonts.face(*b);
                            for (i, line) in cell.iter().enumerate() {
                                let left = match column.align {
                                    Align::Left => x + PAD,
                                    Align::Right => x + w - PAD - face.width(line, BODY),
                                };
                                let top = y + PAD + i as f32 * BODY * LEADING;
                                text(&mut surface, face, BODY, left, top, line);
                            }
                            x += w;
                        }
                    }
                }
                grid(
                    &mut surface,
                    &widths,
                    y,
                    h,
                    matches!(row, Laid::Cells { .. }),
                );
                y += h;
            }
            fill(&mut surface, GREY);
            let foot = format!(
                "Trang {} / {} · Page {} of {}",
                index + 1,
                total,
                index + 1,
                total
            );
            let foot_width = fonts.regular.width(&foot, 7.5);
            let base = HEIGHT - FOOT + 10.0;
            text(
                &mut surface,
                &fonts.regular,
                7.5,
                WIDTH - MARGIN - foot_width,
                base,
                &foot,
            );
            let left = format!("Doorstep · {} · {}", heading.ward, heading.group);
            text(&mut surface, &fonts.regular, 7.5, MARGIN, base, &left);
            surface.finish();
            page.finish();
        }
        Ok(Printed {
            pdf: document
                .finish()
                .map_err(|e| PrintError::Pdf(e.to_string()))?,
            pages: total,
            rows: listed,
        })
    }

    /// The sheet's heading; returns where the table starts.
    fn draw_heading(&self, surface: &mut Surface<'_>, fonts: &Fonts, heading: &Heading<'_>) -> f32 {
        let mut y = MARGIN;
        fill(surface, INK);
        let title = format!("{} · {}", self.title, self.title_en);
        text(surface, &fonts.bold, 15.0, MARGIN, y, &title);
        y += 15.0 * LEADING + 2.0;
        let line = format!(
            "Phường / Ward: {}    Tổ dân phố / Residential group: {}    In ngày / Printed: {}",
            heading.ward,
            heading.group,
            heading.printed_on.format("%d/%m/%Y"),
        );
        text(surface, &fonts.regular, 9.5, MARGIN, y, &line);
        y += 9.5 * LEADING;
        text(surface, &fonts.bold, 9.5, MARGIN, y, &self.summary);
        y += 9.5 * LEADING + 2.0;
        fill(surface, GREY);
        for line in PRIVACY {
            text(surface, &fonts.regular, 7.5, MARGIN, y, line);
            y += 7.5 * LEADING;
        }
        if let Some(legend) = self.legend {
            text(surface, &fonts.regular, 7.5, MARGIN, y, legend);
            y += 7.5 * LEADING;
        }
        y + 6.0
    }
}

const PRIVACY: [&str; 2] = [
    "Có thông tin của người dân: chỉ dùng cho chiến dịch, không chụp ảnh hay chia sẻ, nộp lại tổ trưởng hoặc huỷ sau khi dùng.",
    "Holds residents' details: campaign use only, do not photograph or share, hand back or destroy after use.",
];

fn heading_height(legend: bool) -> f32 {
    let mut h =
        15.0 * LEADING + 2.0 + 2.0 * 9.5 * LEADING + 2.0 + PRIVACY.len() as f32 * 7.5 * LEADING;
    if legend {
        h += 7.5 * LEADING;
    }
    h + 6.0
}

fn draw_titles(
    surface: &mut Surface<'_>,
    fonts: &Fonts,
    titles: &[(Vec<String>, Vec<String>)],
    widths: &[f32],
    y: f32,
    height: f32,
) {
    fill(surface, SHADE);
    rect(surface, MARGIN, y, widths.iter().sum(), height);
    let mut x = MARGIN;
    for ((vi, en), w) in titles.iter().zip(widths) {
        let mut top = y + PAD;
        fill(surface, INK);
        for line in vi {
            text(surface, &fonts.bold, 7.5, x + PAD, top, line);
            top += 7.5 * LEADING;
        }
        fill(surface, GREY);
        for line in en {
            text(surface, &fonts.regular, 6.5, x + PAD, top, line);
            top += 6.5 * LEADING;
        }
        x += w;
    }
    grid(surface, widths, y, height, true);
}

/// Text whose top (not baseline) is at `top`, in the current fill.
fn text(surface: &mut Surface<'_>, face: &Face, size: f32, left: f32, top: f32, line: &str) {
    if line.is_empty() {
        return;
    }
    surface.draw_text(
        Point::from_xy(left, top + face.ascent(size)),
        face.font.clone(),
        size,
        line,
        false,
        TextDirection::Auto,
    );
}

fn rect(surface: &mut Surface<'_>, x: f32, y: f32, w: f32, h: f32) {
    if let Some(r) = Rect::from_xywh(x, y, w, h) {
        let mut path = PathBuilder::new();
        path.push_rect(r);
        if let Some(path) = path.finish() {
            surface.draw_path(&path);
        }
    }
}

/// The rules around one row: its box, and between its cells when `cells`.
fn grid(surface: &mut Surface<'_>, widths: &[f32], y: f32, h: f32, cells: bool) {
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        paint: rgb::Color::new(RULE.0, RULE.1, RULE.2).into(),
        width: 0.5,
        ..Stroke::default()
    }));
    let mut path = PathBuilder::new();
    let right = MARGIN + widths.iter().sum::<f32>();
    if let Some(r) = Rect::from_xywh(MARGIN, y, right - MARGIN, h) {
        path.push_rect(r);
    }
    if cells {
        let mut x = MARGIN;
        for w in &widths[..widths.len().saturating_sub(1)] {
            x += w;
            path.move_to(x, y);
            path.line_to(x, y + h);
        }
    }
    if let Some(path) = path.finish() {
        surface.draw_path(&path);
    }
}
