//! Many wards in one PostgreSQL database: a city deployment. A catalogue (schema
//! `doorstep_city`) lists the wards; each ward lives in a schema of its own (`ward_<key>`),
//! with its own devices, invites, documents and hub secret, exactly as a single-ward hub keeps
//! them, so nothing of one ward is reachable through another's storage.
//!
//! A ward's **key** (4 symbols of the invite-code alphabet) routes a request to its ward: every
//! invite code of a city ward starts with it (`K7QM-XXXXX-XXXXX`) and every token carries it
//! (`dst_K7QM.…`). A code or token whose key names no ward is refused exactly as a wrong code
//! or token of a real ward is, so a key says nothing about which wards exist. The catalogue
//! also keeps the deployment's TLS identity (one address, one certificate for every ward).

use chrono::Utc;
use doorstep_domain::{Id, ResidentialGroup, Ward};

use crate::hub::{CachedRollup, ROLLUP};
use crate::postgres::PgStorage;
use crate::storage::{HubStorage, StorageError};
use crate::{Hub, HubError, Status};
use doorstep_domain::rollup::WardRollup;
use doorstep_domain::ErrorCode;

/// The catalogue's schema.
pub const CITY_SCHEMA: &str = "doorstep_city";
/// The ward setting holding its key (read by its enrolment to make codes and tokens).
pub const WARD_KEY_SETTING: &str = "city.ward_key";
/// How long a ward key is.
pub const WARD_KEY_LEN: usize = 4;

/// The catalogue's tables. A ward kept on its own LAN hub has no schema (`''`) and a
/// forwarding token.
const CATALOGUE: &str = "
    CREATE TABLE IF NOT EXISTS wards (
        key                  TEXT PRIMARY KEY,
        ward_id              TEXT NOT NULL UNIQUE,
        name                 TEXT NOT NULL,
        schema               TEXT NOT NULL,
        created_at           BIGINT NOT NULL,
        forwarded_token_hash TEXT UNIQUE
    );
    CREATE TABLE IF NOT EXISTS viewers (
        token_hash TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS forwarded (
        key         TEXT PRIMARY KEY REFERENCES wards(key),
        rollup      TEXT NOT NULL,
        received_at BIGINT NOT NULL
    );";

/// A ward of the city, as the catalogue lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CityWard {
    pub key: String,
    pub ward_id: Id,
    pub name: String,
    pub schema: String,
    pub created_at: chrono::DateTime<Utc>,
}

/// The city's catalogue of wards.
pub struct City {
    url: String,
    /// The catalogue schema's own storage: its settings hold the deployment's TLS identity.
    storage: PgStorage,
}

/// The key of the ward a typed invite code routes to (a city code is 14 symbols).
pub fn ward_key_of_code(code: &str) -> Option<String> {
    let normalized = crate::enrolment::normalize_code(code);
    (normalized.len() == WARD_KEY_LEN + 10).then(|| normalized[..WARD_KEY_LEN].to_string())
}

/// The key of the ward a bearer token routes to (`dst_KEY.…`).
pub fn ward_key_of_token(token: &str) -> Option<String> {
    let (key, _) = token.strip_prefix("dst_")?.split_once('.')?;
    (key.len() == WARD_KEY_LEN && key.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| key.to_string())
}

impl City {
    /// Whether the database at `url` is a city deployment (has a catalogue).
    pub fn exists(url: &str) -> Result<bool, HubError> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        let found = client
            .query_opt(
                "SELECT 1 FROM information_schema.tables
                 WHERE table_schema = $1 AND table_name = 'wards'",
                &[&CITY_SCHEMA],
            )?
            .is_some();
        Ok(found)
    }

    /// Opens the catalogue at `url`, making it when `create` (a first `hub ward add`).
    pub fn open(url: &str, create: bool) -> Result<City, HubError> {
        if !create && !Self::exists(url)? {
            return Err(HubError::refused(
                Status::NotFound,
                ErrorCode::NoWard,
                "this database holds no city wards: add one with `hub ward add`",
            ));
        }
        if create {
            let mut client = postgres::Client::connect(url, postgres::NoTls)?;
            let single = client
                .query_opt(
                    "SELECT 1 FROM information_schema.tables
                     WHERE table_schema = 'doorstep' AND table_name = 'meta'",
                    &[],
                )?
                .is_some()
                && client
                    .query_opt("SELECT 1 FROM doorstep.meta WHERE key = 'ward_id'", &[])?
                    .is_some();
            if single {
                return Err(HubError::refused(
                    Status::Conflict,
                    ErrorCode::HubExists,
                    "this database holds one ward's hub (`hub init`): a city needs a database \
                     of its own",
                ));
            }
        }
        let storage = PgStorage::open_in(url, CITY_SCHEMA)?;
        if storage.ward()?.is_some() {
            return Err(HubError::refused(
                Status::Conflict,
                ErrorCode::HubExists,
                "the catalogue schema holds a ward",
            ));
        }
        // The catalogue's tables, made by the first `hub ward add` only: opening it (every
        // city-ward command, every serving process) takes no DDL lock.
        if create {
            storage.client().batch_execute(CATALOGUE)?;
        }
        Ok(City {
            url: url.to_string(),
            storage,
        })
    }

    /// The address a hub process of the city last served at (for invite links).
    pub fn served_at(&self) -> Result<Option<String>, HubError> {
        Ok(self.storage.url()?)
    }

    /// The catalogue's own settings (the deployment's TLS identity).
    pub fn storage(&mut self) -> &mut PgStorage {
        &mut self.storage
    }

    /// Every ward, by name.
    pub fn wards(&self) -> Result<Vec<CityWard>, HubError> {
        let rows = self.storage.client().query(
            "SELECT key, ward_id, name, schema, created_at FROM wards ORDER BY name, key",
            &[],
        )?;
        rows.iter().map(city_ward).collect()
    }

    /// The ward with this key or id.
    pub fn ward(&self, key_or_id: &str) -> Result<Option<CityWard>, HubError> {
        let wanted = key_or_id.trim();
        let row = self.storage.client().query_opt(
            "SELECT key, ward_id, name, schema, created_at FROM wards
             WHERE key = upper($1) OR ward_id = lower($1)",
            &[&wanted],
        )?;
        row.as_ref().map(city_ward).transpose()
    }

    /// The storage of a ward of the catalogue (none for a ward kept on its own LAN hub).
    pub fn ward_storage(&self, ward: &CityWard) -> Result<PgStorage, HubError> {
        if ward.schema.is_empty() {
            return Err(HubError::refused(
                Status::NotFound,
                ErrorCode::UnknownWard,
                format!(
                    "ward {} is kept by its own hub and forwards its roll-up",
                    ward.name
                ),
            ));
        }
        Ok(PgStorage::open_in(&self.url, &ward.schema)?)
    }

    /// Adds a ward that exists as documents already (moved from a ward's own hub, or the
    /// bench's demo wards), every document checked as a push would be.
    pub fn import_ward(
        &mut self,
        ward: &Ward,
        documents: &[doorstep_doc::DocumentBytes],
    ) -> Result<CityWard, HubError> {
        self.refuse_taken(&ward.name)?;
        let key = self.new_key()?;
        let schema = format!("ward_{}", key.to_lowercase());
        let mut storage = PgStorage::open_in(&self.url, &schema)?;
        Hub::import_in(&mut storage, ward, documents)?;
        self.list(&mut storage, key, ward, schema)
    }

    /// Lists the ward just made in `storage` (schema `schema`) under `key`.
    fn list(
        &mut self,
        storage: &mut PgStorage,
        key: String,
        ward: &Ward,
        schema: String,
    ) -> Result<CityWard, HubError> {
        storage.set_setting(WARD_KEY_SETTING, &key)?;
        let now = Utc::now();
        self.storage.client().execute(
            "INSERT INTO wards (key, ward_id, name, schema, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &key,
                &ward.id.to_string(),
                &ward.name,
                &schema,
                &now.timestamp_millis(),
            ],
        )?;
        Ok(CityWard {
            key,
            ward_id: ward.id,
            name: ward.name.clone(),
            schema,
            created_at: crate::storage::time(now.timestamp_millis()),
        })
    }

    /// Lists a ward that works on its own hub (a laptop on its LAN) so that it appears in the
    /// roll-up from what that hub forwards (`hub forward`): its id as that hub holds it, and
    /// the forwarding token (shown once).
    pub fn add_forwarded_ward(
        &mut self,
        name: &str,
        ward_id: Id,
    ) -> Result<(CityWard, String), HubError> {
        doorstep_domain::validate::check_text("ward name", name, true)?;
        self.refuse_taken(name)?;
        if self.ward(&ward_id.to_string())?.is_some() {
            return Err(HubError::refused(
                Status::Conflict,
                ErrorCode::WardExists,
                format!("the city lists ward {ward_id} already"),
            ));
        }
        let key = self.new_key()?;
        let now = Utc::now();
        self.storage.client().execute(
            "INSERT INTO wards (key, ward_id, name, schema, created_at)
             VALUES ($1, $2, $3, '', $4)",
            &[
                &key,
                &ward_id.to_string(),
                &name.trim(),
                &now.timestamp_millis(),
            ],
        )?;
        let listed = self.ward(&key)?.ok_or_else(|| StorageError::Corrupt {
            what: "ward just listed",
            value: key.clone(),
        })?;
        let token = self.forwarding_token(&listed)?;
        Ok((listed, token))
    }

    fn refuse_taken(&self, name: &str) -> Result<(), HubError> {
        let taken = self
            .wards()?
            .into_iter()
            .any(|w| w.name.trim().eq_ignore_ascii_case(name.trim()));
        if taken {
            return Err(HubError::refused(
                Status::Conflict,
                ErrorCode::WardExists,
                format!("the city has a ward named {:?} already", name.trim()),
            ));
        }
        Ok(())
    }

    fn new_key(&self) -> Result<String, HubError> {
        loop {
            let key = crate::enrolment::new_symbols::<WARD_KEY_LEN>()?;
            if self.ward(&key)?.is_none() {
                return Ok(key);
            }
        }
    }

    /// Adds a ward with its residential groups: a new key and schema, the ward made there.
    pub fn add_ward(
        &mut self,
        name: &str,
        groups: &[String],
    ) -> Result<(CityWard, Ward, Vec<ResidentialGroup>), HubError> {
        self.refuse_taken(name)?;
        let key = self.new_key()?;
        let schema = format!("ward_{}", key.to_lowercase());
        let mut storage = PgStorage::open_in(&self.url, &schema)?;
        let (ward, made) = Hub::init_in(&mut storage, name, groups)?;
        let listed = self.list(&mut storage, key, &ward, schema)?;
        Ok((listed, ward, made))
    }
}

/// A ward's line in the city roll-up: its roll-up as last computed (or forwarded), and
/// whether that is current (no change stored since).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CityRollupRow {
    pub key: String,
    pub rollup: Option<WardRollup>,
    pub current: bool,
    /// Sent by the ward's own hub on its LAN (`hub forward`), not computed here.
    pub forwarded: bool,
}

fn token_hash(token: &str) -> String {
    crate::enrolment::sha256_hex(token.trim())
}

fn new_secret_token(prefix: &str) -> Result<String, HubError> {
    Ok(format!("{prefix}_{}", crate::enrolment::random_text()?))
}

impl City {
    /// Every ward's roll-up as cached in its schema (or forwarded), in one query: what the
    /// city's page shows, without loading a document.
    pub fn rollups(&self) -> Result<Vec<CityRollupRow>, HubError> {
        let wards = self.wards()?;
        if wards.is_empty() {
            return Ok(Vec::new());
        }
        let parts: Vec<String> = wards
            .iter()
            .map(|w| {
                if w.schema.is_empty() {
                    // A ward kept by its own hub on its LAN: only what it forwards.
                    format!("SELECT '{}' AS key, NULL::text, NULL::bigint", w.key)
                } else {
                    // Schema names are the catalogue's own (`ward_` and the key's symbols).
                    format!(
                        "SELECT '{key}' AS key,
                        (SELECT value FROM {schema}.meta WHERE key = 'setting.{ROLLUP}'),
                        (SELECT value FROM {schema}.sequence WHERE name = 'changes')",
                        key = w.key,
                        schema = w.schema,
                    )
                }
            })
            .collect();
        let mut client = self.storage.client();
        let rows = client.query(&parts.join(" UNION ALL "), &[])?;
        let forwarded: std::collections::HashMap<String, String> = client
            .query("SELECT key, rollup FROM forwarded", &[])?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, ::postgres::Error>>()?;
        drop(client);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get(0)?;
            let cached: Option<String> = row.try_get(1)?;
            let seq: i64 = row.try_get::<_, Option<i64>>(2)?.unwrap_or(0);
            let cached = cached.and_then(|c| serde_json::from_str::<CachedRollup>(&c).ok());
            let current = cached
                .as_ref()
                .is_some_and(|c| i64::try_from(c.seq).ok() == Some(seq));
            let from_lan = forwarded
                .get(&key)
                .and_then(|json| serde_json::from_str::<WardRollup>(json).ok());
            let forwarded = from_lan.is_some();
            out.push(CityRollupRow {
                key,
                rollup: from_lan.or(cached.map(|c| c.rollup)),
                current: current || forwarded,
                forwarded,
            });
        }
        Ok(out)
    }

    /// Computes again the roll-up of every ward whose cached one is not current; how many.
    pub fn refresh_rollups(&self, now: chrono::DateTime<Utc>) -> Result<usize, HubError> {
        let stale: Vec<String> = self
            .rollups()?
            .into_iter()
            .filter(|r| !r.current)
            .map(|r| r.key)
            .collect();
        for key in &stale {
            if let Some(ward) = self.ward(key)?.filter(|w| !w.schema.is_empty()) {
                let mut hub = Hub::with_storage(Box::new(self.ward_storage(&ward)?))?;
                hub.cached_rollup(now)?;
            }
        }
        Ok(stale.len())
    }

    /// A token for someone at the city who reads the roll-up (`/city`): aggregates of every
    /// ward, nothing else. Shown once; only its hash is kept.
    pub fn add_viewer(&mut self, name: &str) -> Result<String, HubError> {
        doorstep_domain::validate::check_text("viewer name", name, true)?;
        let token = new_secret_token("dsv")?;
        self.storage.client().execute(
            "INSERT INTO viewers (token_hash, name, created_at) VALUES ($1, $2, $3)",
            &[
                &token_hash(&token),
                &name.trim(),
                &Utc::now().timestamp_millis(),
            ],
        )?;
        Ok(token)
    }

    /// The viewer a token belongs to.
    pub fn viewer(&self, token: &str) -> Result<Option<String>, HubError> {
        Ok(self
            .storage
            .client()
            .query_opt(
                "SELECT name FROM viewers WHERE token_hash = $1",
                &[&token_hash(token)],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    /// A token a ward's own hub (on its LAN) forwards its roll-up with: the ward is then
    /// shown from what its hub sends. A new token replaces the previous one.
    pub fn forwarding_token(&mut self, ward: &CityWard) -> Result<String, HubError> {
        let token = new_secret_token("dsf")?;
        self.storage.client().execute(
            "UPDATE wards SET forwarded_token_hash = $2 WHERE key = $1",
            &[&ward.key, &token_hash(&token)],
        )?;
        Ok(token)
    }

    /// Takes a roll-up forwarded with `token`: refused unless the token is a ward's and the
    /// roll-up is of that ward.
    pub fn take_forwarded(&mut self, token: &str, rollup: &WardRollup) -> Result<(), HubError> {
        let unknown = || {
            HubError::refused(
                Status::Unauthorized,
                ErrorCode::TokenUnknown,
                "unknown forwarding token",
            )
        };
        let row = self
            .storage
            .client()
            .query_opt(
                "SELECT key, ward_id FROM wards WHERE forwarded_token_hash = $1",
                &[&token_hash(token)],
            )?
            .ok_or_else(unknown)?;
        let key: String = row.try_get(0)?;
        let ward_id: String = row.try_get(1)?;
        if rollup.ward_id.to_string() != ward_id {
            return Err(HubError::refused(
                Status::Forbidden,
                ErrorCode::OtherWard,
                "this roll-up is of another ward than the token's",
            ));
        }
        let json = serde_json::to_string(rollup).map_err(|e| StorageError::Corrupt {
            what: "roll-up",
            value: e.to_string(),
        })?;
        self.storage.client().execute(
            "INSERT INTO forwarded (key, rollup, received_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET rollup = EXCLUDED.rollup,
                 received_at = EXCLUDED.received_at",
            &[&key, &json, &Utc::now().timestamp_millis()],
        )?;
        Ok(())
    }
}

fn city_ward(row: &postgres::Row) -> Result<CityWard, HubError> {
    let id: String = row.try_get(1).map_err(StorageError::from)?;
    Ok(CityWard {
        key: row.try_get(0).map_err(StorageError::from)?,
        ward_id: Id::parse_str(&id).map_err(|_| StorageError::Corrupt {
            what: "ward id",
            value: id.clone(),
        })?,
        name: row.try_get(2).map_err(StorageError::from)?,
        schema: row.try_get(3).map_err(StorageError::from)?,
        created_at: crate::storage::time(row.try_get(4).map_err(StorageError::from)?),
    })
}
