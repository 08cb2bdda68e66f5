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

use crate::postgres::PgStorage;
use crate::storage::{HubStorage, StorageError};
use crate::{Hub, HubError, Status};
use doorstep_domain::ErrorCode;

/// The catalogue's schema.
pub const CITY_SCHEMA: &str = "doorstep_city";
/// The ward setting holding its key (read by its enrolment to make codes and tokens).
pub const WARD_KEY_SETTING: &str = "city.ward_key";
/// How long a ward key is.
pub const WARD_KEY_LEN: usize = 4;

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
        storage.client().batch_execute(
            "CREATE TABLE IF NOT EXISTS wards (
                 key        TEXT PRIMARY KEY,
                 ward_id    TEXT NOT NULL UNIQUE,
                 name       TEXT NOT NULL,
                 schema     TEXT NOT NULL UNIQUE,
                 created_at BIGINT NOT NULL
             )",
        )?;
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

    /// The storage of a ward of the catalogue.
    pub fn ward_storage(&self, ward: &CityWard) -> Result<PgStorage, HubError> {
        Ok(PgStorage::open_in(&self.url, &ward.schema)?)
    }

    /// Adds a ward with its residential groups: a new key and schema, the ward made there.
    pub fn add_ward(
        &mut self,
        name: &str,
        groups: &[String],
    ) -> Result<(CityWard, Ward, Vec<ResidentialGroup>), HubError> {
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
        let key = loop {
            let key = crate::enrolment::new_symbols::<WARD_KEY_LEN>()?;
            if self.ward(&key)?.is_none() {
                break key;
            }
        };
        let schema = format!("ward_{}", key.to_lowercase());
        let mut storage = PgStorage::open_in(&self.url, &schema)?;
        let (ward, made) = Hub::init_in(&mut storage, name, groups)?;
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
        let listed = CityWard {
            key,
            ward_id: ward.id,
            name: ward.name.clone(),
            schema,
            created_at: crate::storage::time(now.timestamp_millis()),
        };
        Ok((listed, ward, made))
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
