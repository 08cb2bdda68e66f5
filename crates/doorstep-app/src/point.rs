//! A literacy point's sessions and walk-ins: open a session, record walk-ins, and the counts
//! for the session and the day. Which session is open is this device's own setting; each
//! walk-in names its session (an id) in the point's document, so the session's count is the
//! same on every device that holds the point.

use chrono::{DateTime, Utc};
use doorstep_domain::clock::vietnam_date;
use doorstep_domain::*;
use doorstep_store::StoreError;

use crate::{now, App, Result, Session, WalkInInput};

impl App {
    /// Opens a session at a literacy point (replacing any open one).
    pub async fn open_session(&self, point_id: Id) -> Result<Session> {
        let started_at = now();
        {
            let store = self.store().await?;
            if !store.points()?.iter().any(|p| p.id == point_id) {
                return Err(StoreError::UnknownPoint(point_id.to_string()).into());
            }
            store.set_setting(
                "session",
                &format!("{point_id} {} {}", started_at.timestamp_millis(), new_id()),
            )?;
        }
        Ok(self
            .session()
            .await?
            .ok_or_else(|| StoreError::UnknownPoint(point_id.to_string()))?)
    }

    /// The open session and its counts, if any.
    pub async fn session(&self) -> Result<Option<Session>> {
        let value = self.store().await?.setting("session")?.unwrap_or_default();
        // "POINT STARTED_MS SESSION_ID" (a session opened before sessions had ids: none).
        let mut parts = value.split(' ');
        let (Some(point), Some(started), Some(session)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let (Ok(point_id), Some(started_at)) = (
            Id::parse_str(point),
            started
                .parse::<i64>()
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_millis),
        ) else {
            return Ok(None);
        };
        Ok(Some(
            self.session_counts(point_id, started_at, session.to_string())
                .await?,
        ))
    }

    async fn session_counts(
        &self,
        point_id: Id,
        started_at: DateTime<Utc>,
        id: String,
    ) -> Result<Session> {
        let walkins = self.store().await?.walkins(Some(point_id))?;
        let today = vietnam_date(now());
        Ok(Session {
            point_id,
            started_at,
            session_count: walkins
                .iter()
                .filter(|w| w.session.as_deref() == Some(id.as_str()))
                .count() as u64,
            id,
            day_count: walkins
                .iter()
                .filter(|w| vietnam_date(w.device_time) == today)
                .count() as u64,
        })
    }

    pub async fn close_session(&self) -> Result<()> {
        self.store().await?.set_setting("session", "")?;
        Ok(())
    }

    /// Records a walk-in and returns the session's counts.
    pub async fn record_walkin(&self, input: WalkInInput) -> Result<Option<Session>> {
        let session = self
            .session()
            .await?
            .filter(|s| s.point_id == input.point_id)
            .map(|s| s.id);
        {
            let mut store = self.store().await?;
            let t = now();
            store.add_walkin(
                &WalkIn {
                    id: new_id(),
                    point_id: input.point_id,
                    device_time: t,
                    service: input.service,
                    result: input.result,
                    age_band: input.age_band,
                    priority: input.priority,
                    session,
                },
                t,
            )?;
        }
        self.session().await
    }
}
