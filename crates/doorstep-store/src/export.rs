//! A table written as the ward's offices read it: CSV (UTF-8 with a byte-order mark, so that
//! Excel shows Vietnamese) or XLSX, chosen by the file's extension; 0600, like every file that
//! may hold the ward's figures.

use std::path::Path;

use rust_xlsxwriter::{Format, Workbook};

use crate::{Result, StoreError};

fn failed(path: &Path, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Export {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Writes `header` and `rows` to `path` (`.csv` or `.xlsx`); numbers stay numbers in XLSX.
pub fn write_table(
    path: &Path,
    sheet: &str,
    header: &[String],
    rows: &[Vec<String>],
) -> Result<()> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let bytes = match extension.to_ascii_lowercase().as_str() {
        "csv" => {
            let mut out = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
            out.write_record(header).map_err(|e| failed(path, e))?;
            for row in rows {
                out.write_record(row).map_err(|e| failed(path, e))?;
            }
            out.into_inner().map_err(|e| failed(path, e))?
        }
        "xlsx" => {
            let mut book = Workbook::new();
            let ws = book.add_worksheet();
            ws.set_name(sheet).map_err(|e| failed(path, e))?;
            let bold = Format::new().set_bold().set_text_wrap();
            for (c, h) in header.iter().enumerate() {
                ws.write_with_format(0, c as u16, h.as_str(), &bold)
                    .map_err(|e| failed(path, e))?;
            }
            for (r, row) in rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (r as u32 + 1, c as u16);
                    match cell.parse::<f64>() {
                        Ok(n) if c > 0 => ws.write(r, c, n),
                        _ => ws.write(r, c, cell.as_str()),
                    }
                    .map_err(|e| failed(path, e))?;
                }
            }
            book.save_to_buffer().map_err(|e| failed(path, e))?
        }
        other => return Err(failed(path, format!("write .csv or .xlsx, not .{other}"))),
    };
    doorstep_vault::write_private(path, &bytes).map_err(|e| failed(path, e))
}
