//! The ward report as the city asks for it: CSV (one row per residential group, and the
//! ward's total) and XLSX (summary, groups, services by result, follow-ups due), with
//! Vietnamese headers first and English after.

use std::path::Path;

use doorstep_domain::report::Report;
use doorstep_domain::{AssistResult, IntoEnumIterator};
use rust_xlsxwriter::{Format, Workbook};
use serde::Deserialize;
use ts_rs::TS;

use crate::{AppError, Result};

/// The file formats a report exports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

const GROUP_HEADER: [&str; 7] = [
    "Tổ dân phố / Residential group",
    "Số hộ / Households",
    "Đã thăm / Visited",
    "Tỷ lệ % / Coverage %",
    "Đã hỗ trợ / Assisted",
    "Hộ ưu tiên / Priority households",
    "Hộ ưu tiên đã thăm / Priority visited",
];

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (1000.0 * part as f64 / whole as f64).round() / 10.0
    }
}

fn group_rows(report: &Report) -> Vec<[String; 7]> {
    let mut rows: Vec<[String; 7]> = report
        .by_group
        .iter()
        .map(|g| {
            [
                g.group.clone(),
                g.households.to_string(),
                g.visited.to_string(),
                percent(g.visited, g.households).to_string(),
                g.assisted.to_string(),
                g.priority_households.to_string(),
                g.priority_visited.to_string(),
            ]
        })
        .collect();
    rows.push([
        format!(
            "Toàn phường / Ward total ({})",
            report.ward.as_deref().unwrap_or("")
        ),
        report.households.to_string(),
        report.households_visited.to_string(),
        percent(report.households_visited, report.households).to_string(),
        report.households_assisted.to_string(),
        report.priority_households.to_string(),
        report.priority_households_visited.to_string(),
    ]);
    rows
}

fn io<E: std::error::Error + Send + Sync + 'static>(e: E) -> AppError {
    AppError::Export(Box::new(e))
}

/// Writes `report` to `path` in `format`, creating the folder if needed.
pub fn write(report: &Report, format: ExportFormat, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_path(path).map_err(io)?;
            w.write_record(GROUP_HEADER).map_err(io)?;
            for row in group_rows(report) {
                w.write_record(&row).map_err(io)?;
            }
            w.flush().map_err(io)?;
        }
        ExportFormat::Xlsx => {
            let mut book = Workbook::new();
            let bold = Format::new().set_bold();
            let summary = book.add_worksheet().set_name("Tổng hợp").map_err(io)?;
            let facts: [(&str, u64); 9] = [
                ("Số hộ / Households", report.households),
                ("Hộ đã thăm / Households visited", report.households_visited),
                (
                    "Hộ đã hỗ trợ / Households assisted",
                    report.households_assisted,
                ),
                (
                    "Hộ có internet / Households online",
                    report.households_with_internet,
                ),
                (
                    "Hộ ưu tiên / Priority households",
                    report.priority_households,
                ),
                (
                    "Hộ ưu tiên đã thăm / Priority visited",
                    report.priority_households_visited,
                ),
                ("Lượt thăm / Visits", report.visits),
                ("Lượt hỗ trợ tại điểm / Walk-ins", report.walkins),
                (
                    "Hẹn quay lại đến hạn / Follow-ups due",
                    report.follow_ups_due,
                ),
            ];
            summary
                .write_string_with_format(0, 0, report.ward.as_deref().unwrap_or(""), &bold)
                .map_err(io)?;
            summary
                .write_string(0, 1, report.today.to_string())
                .map_err(io)?;
            for (i, (label, value)) in facts.iter().enumerate() {
                let r = i as u32 + 1;
                summary.write_string(r, 0, *label).map_err(io)?;
                summary.write_number(r, 1, *value as f64).map_err(io)?;
            }
            summary.set_column_width(0, 42).map_err(io)?;

            let groups = book.add_worksheet().set_name("Theo tổ").map_err(io)?;
            for (c, h) in GROUP_HEADER.iter().enumerate() {
                groups
                    .write_string_with_format(0, c as u16, *h, &bold)
                    .map_err(io)?;
            }
            for (r, row) in group_rows(report).iter().enumerate() {
                groups.write_string(r as u32 + 1, 0, &row[0]).map_err(io)?;
                for (c, cell) in row.iter().enumerate().skip(1) {
                    let n: f64 = cell.parse().unwrap_or(0.0);
                    groups.write_number(r as u32 + 1, c as u16, n).map_err(io)?;
                }
            }
            groups.set_column_width(0, 32).map_err(io)?;

            let services = book.add_worksheet().set_name("Theo dịch vụ").map_err(io)?;
            services
                .write_string_with_format(0, 0, "Dịch vụ / Service", &bold)
                .map_err(io)?;
            for (c, result) in AssistResult::iter().enumerate() {
                services
                    .write_string_with_format(0, c as u16 + 1, result.as_str(), &bold)
                    .map_err(io)?;
            }
            for (r, (service, results)) in report.assists_by_service_and_result.iter().enumerate() {
                services
                    .write_string(r as u32 + 1, 0, service.as_str())
                    .map_err(io)?;
                for (c, result) in AssistResult::iter().enumerate() {
                    let n = results.get(&result).copied().unwrap_or(0);
                    services
                        .write_number(r as u32 + 1, c as u16 + 1, n as f64)
                        .map_err(io)?;
                }
            }
            services.set_column_width(0, 26).map_err(io)?;

            let follow = book.add_worksheet().set_name("Hẹn quay lại").map_err(io)?;
            for (c, h) in [
                "Ngày / Date",
                "Tổ / Group",
                "Ngõ / Alley",
                "Số nhà / No.",
                "Lý do / Reason",
            ]
            .iter()
            .enumerate()
            {
                follow
                    .write_string_with_format(0, c as u16, *h, &bold)
                    .map_err(io)?;
            }
            for (r, f) in report.follow_ups.iter().enumerate() {
                let r = r as u32 + 1;
                follow.write_string(r, 0, f.date.to_string()).map_err(io)?;
                follow.write_string(r, 1, &f.group).map_err(io)?;
                follow.write_string(r, 2, &f.alley).map_err(io)?;
                follow.write_string(r, 3, &f.number).map_err(io)?;
                follow
                    .write_string(r, 4, f.reason.as_deref().unwrap_or(""))
                    .map_err(io)?;
            }
            book.save(path).map_err(io)?;
        }
    }
    // An export is the exporting user's to share, not every account's on the machine.
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(io)?;
    Ok(())
}
