//! The coordinator's picture: the ward report with targets and progress, the groups that most
//! need a literacy point, and the report's exports (CSV, XLSX).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use doorstep_domain::clock::vietnam_date;
use doorstep_domain::*;

use crate::{
    export, now, App, AppError, Dashboard, ExportFormat, PointNeed, Result, Targets,
    VolunteerOverdue,
};

impl App {
    /// The ward's targets, from the ward document (every coordinator device sees the same).
    pub async fn targets(&self) -> Result<Targets> {
        Ok(match self.store().await?.ward_targets()? {
            Some([online, vneid, visited]) => Targets {
                online_percent: f64::from(online),
                vneid_activated_percent: f64::from(vneid),
                visited_percent: f64::from(visited),
            },
            None => Targets::default(),
        })
    }

    /// Sets the ward's targets (whole percents, 0–100) in the ward document.
    pub async fn set_targets(&self, targets: Targets) -> Result<Targets> {
        let whole = |p: f64| p.round().clamp(0.0, 100.0) as u32;
        self.store().await?.set_ward_targets([
            whole(targets.online_percent),
            whole(targets.vneid_activated_percent),
            whole(targets.visited_percent),
        ])?;
        self.targets().await
    }

    /// The dashboard as of today.
    pub async fn dashboard(&self) -> Result<Dashboard> {
        self.dashboard_on(vietnam_date(now())).await
    }

    /// The dashboard with follow-ups counted as due on `today`.
    pub async fn dashboard_on(&self, today: NaiveDate) -> Result<Dashboard> {
        let targets = self.targets().await?;
        let mut store = self.store().await?;
        let report = store.report(today)?;
        let rows = store.walk_list()?;
        let overdue_by_volunteer = store
            .overdue_by_volunteer(today)?
            .into_iter()
            .map(|(volunteer, overdue)| VolunteerOverdue { volunteer, overdue })
            .collect();
        drop(store);
        let pct = |part: u64| {
            if report.households == 0 {
                0.0
            } else {
                100.0 * part as f64 / report.households as f64
            }
        };
        let activated = report
            .assists_by_service
            .get(&Service::VneidActivate)
            .copied()
            .unwrap_or(0);
        let progress = Targets {
            online_percent: pct(report.households_with_internet),
            vneid_activated_percent: pct(activated.min(report.households)),
            visited_percent: pct(report.households_visited),
        };
        Ok(Dashboard {
            overdue_by_volunteer,
            needs_point: needs_point(&rows),
            progress,
            targets,
            report,
        })
    }

    /// Writes the ward report to `path` (CSV or XLSX) and returns the path.
    pub async fn export(&self, format: ExportFormat, path: &Path) -> Result<PathBuf> {
        let report = self.store().await?.report(vietnam_date(now()))?;
        export::write(&report, format, path)?;
        Ok(path.to_path_buf())
    }

    /// Writes the ward report where exports go (`exports/` in the data directory) and says
    /// where.
    pub async fn export_report(&self, format: ExportFormat) -> Result<String> {
        let path = self.export(format, &self.export_path(format)).await?;
        Ok(path.display().to_string())
    }

    /// The figures of `from`–`to` (Vietnam's days), per day, group or volunteer.
    pub async fn range_report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: ReportBy,
    ) -> Result<doorstep_domain::report::RangeReport> {
        Ok(self.store().await?.range_report(from, to, by)?)
    }

    /// Writes the range report where exports go, as a daily ward report, and says where.
    pub async fn export_range_report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: ReportBy,
        format: ExportFormat,
    ) -> Result<String> {
        let report = self.range_report(from, to, by).await?;
        let path =
            self.export_file(&format!("doorstep-{from}-{to}-{by}.{}", format.extension()))?;
        let (header, rows) = report.table();
        doorstep_store::export::write_table(&path, "Báo cáo", &header, &rows)?;
        Ok(path.display().to_string())
    }

    /// `name` in the exports directory (`exports/` in the data directory), made if missing.
    pub(crate) fn export_file(&self, name: &str) -> Result<PathBuf> {
        let dir = self.data_dir.join("exports");
        std::fs::create_dir_all(&dir).map_err(|source| AppError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(dir.join(name))
    }

    /// Where exports go by default.
    pub fn export_path(&self, format: ExportFormat) -> PathBuf {
        let name = format!(
            "doorstep-report-{}.{}",
            now().format("%Y-%m-%d"),
            format.extension()
        );
        self.data_dir.join("exports").join(name)
    }
}

/// Groups ranked by need for a literacy point: unvisited households, weighted up for
/// priority households and homes without internet.
pub fn needs_point(rows: &[WalkRow]) -> Vec<PointNeed> {
    let mut by_group: Vec<PointNeed> = Vec::new();
    for r in rows {
        let i = match by_group.iter().position(|g| g.group == r.group) {
            Some(i) => i,
            None => {
                by_group.push(PointNeed {
                    group: r.group.clone(),
                    households: 0,
                    unvisited: 0,
                    priority_unvisited: 0,
                    without_internet: 0,
                    score: 0.0,
                });
                by_group.len() - 1
            }
        };
        let g = &mut by_group[i];
        g.households += 1;
        if r.visits == 0 {
            g.unvisited += 1;
            if r.priority.any() {
                g.priority_unvisited += 1;
            }
        }
        if r.internet == Internet::No {
            g.without_internet += 1;
        }
    }
    for g in &mut by_group {
        g.score = if g.households == 0 {
            0.0
        } else {
            (g.unvisited as f64 + 2.0 * g.priority_unvisited as f64 + g.without_internet as f64)
                / g.households as f64
        };
    }
    by_group.sort_by(|a, b| b.score.total_cmp(&a.score));
    by_group
}
