//! Paper from the app: a residential group's walk list or follow-up list written as an A4 PDF
//! into the exports directory, for a team without phones or a ward meeting. The sheet lists
//! what this device holds, so a volunteer's device prints only its own groups.

use doorstep_domain::clock::vietnam_date;
use doorstep_domain::duplicates::fold;
use doorstep_domain::Id;
use doorstep_print::{Heading, SheetKind};
use doorstep_store::StoreError;

use crate::{now, App, AppError, Result};

impl App {
    /// Writes `sheet` of group `group_id` and says where.
    pub async fn print_sheet(&self, sheet: SheetKind, group_id: Id) -> Result<String> {
        let store = self.store().await?;
        let group = store
            .groups()?
            .into_iter()
            .find(|g| g.id == group_id)
            .ok_or_else(|| StoreError::UnknownGroup(group_id.to_string()))?;
        let rows = store.walk_list_of(Some(group.id))?;
        let ward = store.ward_name()?.unwrap_or_default();
        drop(store);
        let today = vietnam_date(now());
        let printed = sheet
            .print(
                &Heading {
                    ward: &ward,
                    group: &group.name,
                    printed_on: today,
                },
                &rows,
            )
            .map_err(|e| AppError::Export(Box::new(e)))?;
        let slug: String = fold(&group.name)
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let path = self.export_file(&format!("doorstep-{}-{slug}-{today}.pdf", sheet.word()))?;
        std::fs::write(&path, &printed.pdf).map_err(|e| AppError::Export(Box::new(e)))?;
        Ok(path.display().to_string())
    }
}
