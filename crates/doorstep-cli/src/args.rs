//! The `doorstep` command line: its grammar, and the parsing of the field's words in it.
//!
//! The commands and flags listed in the foundation issue are a contract later issues and users
//! build on: add to them, never change them.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use doorstep_domain::*;

#[derive(Debug, Parser)]
#[command(
    name = "doorstep",
    version,
    about = "Doorstep: record door-to-door and literacy-point digital assists, offline."
)]
pub struct Cli {
    /// The device database (default: the platform's data directory).
    #[arg(long, global = true, env = "DOORSTEP_DB")]
    pub db: Option<PathBuf>,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Keep the database (the device's, or with `hub` the hub's) unencrypted. Without it a
    /// database is encrypted with a key unlocked by the PIN (`DOORSTEP_PIN`) or the hub's
    /// passphrase (`DOORSTEP_HUB_PASSPHRASE`), asked at a terminal when not set.
    #[arg(long, global = true)]
    pub plaintext: bool,
    /// Bind the device's PIN to the OS keystore (`system`: the desktop's Secret Service), so
    /// that a copy of the database and its key file cannot be opened elsewhere with the PIN
    /// alone. The app does this by itself when a keystore answers.
    #[arg(
        long,
        global = true,
        env = "DOORSTEP_KEYSTORE",
        value_enum,
        default_value = "none"
    )]
    pub keystore: KeystoreChoice,
    #[command(subcommand)]
    pub command: Command,
}

/// Which sheet `print` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SheetChoice {
    WalkList,
    FollowUps,
}

/// Which OS keystore the device's PIN is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeystoreChoice {
    None,
    System,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The ward this device works in.
    #[command(subcommand)]
    Ward(WardCommand),
    /// The PIN that unlocks this device's database.
    #[command(subcommand)]
    Pin(PinCommand),
    /// Residential groups (tổ dân phố).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Households, found by group › alley › house number.
    #[command(subcommand)]
    Household(HouseholdCommand),
    /// Visits to households.
    #[command(subcommand)]
    Visit(VisitCommand),
    /// A coordinator's reviews: "needs fix" with a comment, approved; the field answers
    /// "fixed".
    #[command(subcommand)]
    Review(ReviewCommand),
    /// Hand a household, or every household of an alley, to a volunteer (a coordinator's
    /// device); their walk list shows them first.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["household", "alley"])))]
    Assign {
        /// The volunteer's name, as their device was invited.
        #[arg(long)]
        volunteer: String,
        #[arg(long)]
        household: Option<String>,
        #[arg(long, requires = "group")]
        alley: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
    /// Literacy points (điểm Bình dân học vụ số).
    #[command(subcommand)]
    Point(PointCommand),
    /// Walk-in assists at a literacy point.
    #[command(subcommand)]
    Walkin(WalkinCommand),
    /// Save this device's work to an encrypted file (passphrase from
    /// `DOORSTEP_BACKUP_PASSPHRASE`, or asked twice), for another device of the same volunteer
    /// to restore and sync.
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into this device (passphrase from `DOORSTEP_BACKUP_PASSPHRASE`, or
    /// asked); its unsynced work then syncs from here.
    Restore { file: PathBuf },
    /// Erase this device's data and keys (refused while it holds work neither synced nor in a
    /// backup).
    Reset,
    /// A household's history at the hub: made, changed (which fields), visited, erased; by
    /// which device, when (a coordinator's device, online).
    History { id: String },
    /// The ward report: coverage, assists by service, priority groups, follow-ups due. With
    /// --from and --to: the figures of those days (Vietnam's time), per day, group or
    /// volunteer, the way a daily ward report is sent.
    Report {
        /// Count follow-ups due on this day (default: today).
        #[arg(long, value_parser = date, conflicts_with = "from")]
        today: Option<NaiveDate>,
        /// First day of the range (included).
        #[arg(long, value_parser = date, requires = "to")]
        from: Option<NaiveDate>,
        /// Last day of the range (included).
        #[arg(long, value_parser = date, requires = "from")]
        to: Option<NaiveDate>,
        /// Rows of the range report: day, group or volunteer.
        #[arg(long, value_parser = word::<ReportBy>, default_value = "day", requires = "from")]
        by: ReportBy,
        /// Also write the range report to FILE.csv or FILE.xlsx.
        #[arg(long, requires = "from")]
        out: Option<PathBuf>,
    },
    /// Paper for teams without phones and for ward meetings: a residential group's walk list
    /// or its open follow-ups as an A4 PDF (Vietnamese, fonts embedded).
    Print {
        #[arg(value_enum)]
        sheet: SheetChoice,
        /// The residential group, by name.
        #[arg(long)]
        group: String,
        /// Where to write the PDF.
        #[arg(long)]
        out: PathBuf,
    },
    /// Build a realistic demo ward in an empty database.
    Demo {
        #[arg(long)]
        households: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Residential groups (default: about 250 households each).
        #[arg(long)]
        groups: Option<u32>,
    },
    /// Check the database file and that its query tables match its documents.
    Check,
    /// Run and administer a ward hub (works while the hub serves).
    #[command(subcommand)]
    Hub(HubCommand),
    /// Join a ward hub: with the invite's link, or its hub address, code and pin.
    Join {
        /// The join link, doorstep://join?hub=https://HOST:PORT&code=CODE&pin=PIN
        #[arg(long, conflicts_with_all = ["hub", "code", "pin"])]
        link: Option<String>,
        /// The hub's address, e.g. https://192.168.1.10:7300
        #[arg(long, required_unless_present = "link")]
        hub: Option<String>,
        #[arg(long, required_unless_present = "link")]
        code: Option<String>,
        /// The pin of the hub's certificate key, from the invite (needed for https). It may
        /// start with a dash (base64url).
        #[arg(long, allow_hyphen_values = true)]
        pin: Option<String>,
    },
    /// Sync with the hub: send what it lacks, receive what changed.
    Sync {
        /// Use this hub address from now on.
        #[arg(long)]
        hub: Option<String>,
    },
    /// This device: its hub, role, outbox (changes the hub has not acknowledged), last sync.
    Status,
    /// Make an invite code through the hub (coordinator devices).
    Invite(InviteArgs),
    /// Recompute the query tables from the documents.
    Rebuild,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    #[arg(long, value_parser = word::<Role>)]
    pub role: Role,
    /// Who the invite is for.
    #[arg(long)]
    pub name: String,
    /// Residential group (volunteers; repeat for several).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Literacy point (students).
    #[arg(long)]
    pub point: Option<String>,
    /// Hours until the code expires (default 24).
    #[arg(long)]
    pub expires: Option<u32>,
}

/// Where a hub keeps its data: a directory (SQLite, the default: a ward office) or a
/// PostgreSQL database (a city deployment), and in a city's database, which ward.
#[derive(Debug, Clone, Args)]
pub struct HubPlaceArgs {
    #[command(flatten)]
    pub at: HubAt,
    /// In a city's database (`hub ward add`), the ward: its id or key (`hub ward list`).
    /// Without it, `hub serve` serves every ward of the city.
    #[arg(long, requires = "database")]
    pub ward_id: Option<String>,
}

/// Where a serving ward hub forwards its roll-up (all three, or none).
#[derive(Debug, Clone, Args)]
pub struct ForwardArgs {
    /// The city hub's address.
    #[arg(long, requires_all = ["forward_token", "forward_pin"])]
    pub forward_to: Option<String>,
    /// The forwarding token (better given as `DOORSTEP_FORWARD_TOKEN`: not seen by `ps`).
    #[arg(
        long = "forward-token",
        env = "DOORSTEP_FORWARD_TOKEN",
        requires = "forward_to",
        hide_env_values = true
    )]
    pub forward_token: Option<String>,
    /// The pin of the city hub's certificate (it may start with `-`).
    #[arg(long, requires = "forward_to", allow_hyphen_values = true)]
    pub forward_pin: Option<String>,
}

/// A data directory or a database: exactly one.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct HubAt {
    /// The hub's data directory: its SQLite file and TLS identity.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A PostgreSQL database in place of a directory (`postgres://USER@HOST/DB` or
    /// `host=… user=… dbname=…`): the ward's data and the hub's TLS identity, shared by every
    /// hub process of a city deployment.
    #[arg(long)]
    pub database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Create a hub for a ward in a data directory (or a PostgreSQL database).
    Init {
        #[command(flatten)]
        place: HubPlaceArgs,
        #[arg(long)]
        ward: String,
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
    },
    /// Serve the hub; the first line on stdout is `listening on https://HOST:PORT`.
    Serve {
        #[command(flatten)]
        place: HubPlaceArgs,
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "0.0.0.0:7300")]
        listen: String,
        /// Devices' tokens older than this are replaced at their next sync (0: every sync).
        #[arg(long, default_value_t = 168)]
        rotate_tokens_hours: u64,
        /// Requests served at once; more are answered 503 hub_busy (devices try again).
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
        max_in_flight: u32,
        /// While serving, send this ward's roll-up to its city every few minutes, whenever
        /// the city answers (a ward hub on its LAN: `hub ward add --forwarded-from` on the
        /// city's side): the same as `hub forward`.
        #[command(flatten)]
        forward: ForwardArgs,
    },
    /// Make a single-use invite code.
    Invite {
        #[command(flatten)]
        place: HubPlaceArgs,
        /// The hub's address for the join link (default: where it last served).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        invite: InviteArgs,
    },
    /// List enrolled devices.
    Devices {
        #[command(flatten)]
        place: HubPlaceArgs,
    },
    /// The retention rule: every personal field (names, phones, consents, visits' notes) is
    /// erased, history included, DAYS after the campaign ends. The serving hub applies it at
    /// start and every hour. Without flags: shows the rule.
    Retention {
        #[command(flatten)]
        place: HubPlaceArgs,
        /// The campaign's last day (YYYY-MM-DD).
        #[arg(long, requires = "days")]
        campaign_end: Option<chrono::NaiveDate>,
        #[arg(long, requires = "campaign_end")]
        days: Option<u32>,
    },
    /// Revoke a device: its next request is refused.
    Revoke {
        #[command(flatten)]
        place: HubPlaceArgs,
        #[arg(long)]
        device: String,
    },
    /// Take a consistent copy of the hub while it serves (SQLite's backup API, encrypted as
    /// the hub is, with its key file and TLS identity; `pg_dump` for a hub on PostgreSQL).
    Backup {
        #[command(flatten)]
        place: HubPlaceArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Bring a hub back from a backup (stop its `hub serve` first). The hub gets a new
    /// incarnation: devices send it what it lacks and pull anew at their next sync. What the
    /// hub held before is kept aside (a directory beside it, or a renamed schema).
    Restore {
        #[command(flatten)]
        place: HubPlaceArgs,
        file: PathBuf,
    },
    /// The roll-up: each ward's progress, aggregates only (every ward of a city, or this
    /// hub's ward); `--out FILE.csv|.xlsx` writes it as a table too.
    Rollup {
        #[command(flatten)]
        place: HubPlaceArgs,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Send this ward's roll-up to the city (a ward whose hub runs on its own LAN; the city
    /// listed it with `hub ward add --forwarded-from`).
    Forward {
        #[command(flatten)]
        place: HubPlaceArgs,
        /// The city hub's address.
        #[arg(long)]
        to: String,
        /// The forwarding token `hub ward add --forwarded-from` printed.
        #[arg(long, env = "DOORSTEP_FORWARD_TOKEN")]
        token: String,
        /// The pin of the city hub's certificate (it may start with `-`).
        #[arg(long, allow_hyphen_values = true)]
        pin: String,
    },
    /// A city deployment's wards (in one PostgreSQL database).
    Ward {
        #[command(subcommand)]
        cmd: CityWardCommand,
    },
    /// Change the hub's certificate key: make the next one, which devices learn (signed by
    /// the current key) at their next sync; then `--finish` to serve it. A serving hub
    /// follows both steps within seconds.
    RotateCert {
        #[command(flatten)]
        place: HubPlaceArgs,
        /// Serve the next certificate now (refused while a device has not learnt its pin).
        #[arg(long)]
        finish: bool,
        /// With --finish: even if some devices have not learnt the next pin (they must join
        /// again).
        #[arg(long, requires = "finish")]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CityWardCommand {
    /// Add a ward to a city deployment with its residential groups, and make its first
    /// coordinator's invite.
    Add {
        /// The city's PostgreSQL database.
        #[arg(long)]
        database: String,
        #[arg(long)]
        name: String,
        #[arg(long = "group", required_unless_present = "forwarded_from")]
        groups: Vec<String>,
        /// The ward works on its own hub (a laptop on its LAN) with this ward id: list it
        /// here, and print the token its hub forwards its roll-up with (`hub forward`).
        #[arg(long, conflicts_with = "groups")]
        forwarded_from: Option<String>,
        /// Who the coordinator's invite is for.
        #[arg(long, default_value = "Điều phối viên")]
        coordinator: String,
        /// The city hub's address for the join link (default: where it last served).
        #[arg(long)]
        url: Option<String>,
    },
    /// List the city's wards: id, key, name.
    List {
        #[arg(long)]
        database: String,
    },
    /// Make a token for someone at the city to read the roll-up page (`/city`): every
    /// ward's figures, aggregates only. Shown once.
    Viewer {
        #[arg(long)]
        database: String,
        /// Who it is for.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WardCommand {
    /// Create the ward and its residential groups.
    Init {
        #[arg(long)]
        name: String,
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the ward's residential groups with their coverage.
    List,
}

#[derive(Debug, Args)]
pub struct HouseholdFields {
    /// Household members.
    #[arg(long)]
    pub members: Option<u32>,
    /// Priority group (repeat or separate with commas).
    #[arg(long, value_delimiter = ',', value_parser = word::<Priority>)]
    pub priority: Vec<Priority>,
    /// Internet at home.
    #[arg(long, value_parser = word::<Internet>)]
    pub internet: Option<Internet>,
    /// Display name (only with --consent).
    #[arg(long)]
    pub name: Option<String>,
    /// Phone (only with --consent).
    #[arg(long)]
    pub phone: Option<String>,
    /// The household consents to its name and phone being recorded.
    #[arg(long)]
    pub consent: bool,
    /// What is at the address: lives_here, vacant, moved_away, business, temporary_residents,
    /// no_such_address (coverage counts only lives_here and temporary_residents).
    #[arg(long, value_parser = word::<HouseholdState>)]
    pub state: Option<HouseholdState>,
}

#[derive(Debug, Subcommand)]
pub enum HouseholdCommand {
    /// Record a new household.
    Add {
        #[arg(long)]
        group: String,
        #[arg(long)]
        alley: String,
        #[arg(long)]
        number: String,
        #[command(flatten)]
        fields: HouseholdFields,
    },
    /// Correct a household: only the fields given change.
    Update {
        id: String,
        #[arg(long)]
        alley: Option<String>,
        #[arg(long)]
        number: Option<String>,
        #[command(flatten)]
        fields: HouseholdFields,
        /// Clear every priority flag.
        #[arg(long, conflicts_with = "priority")]
        no_priority: bool,
        /// Withdraw consent: the name and phone are removed.
        #[arg(long, conflicts_with_all = ["consent", "name", "phone"])]
        withdraw_consent: bool,
    },
    /// List households in walk order.
    List {
        #[arg(long)]
        group: Option<String>,
    },
    /// One household with its visits.
    Show { id: String },
    /// Erase a household at its citizen's request (a coordinator's device, online): its
    /// name, phone and notes go from the hub and, as they sync, from every device, history
    /// included; its visits still count.
    Erase { id: String },
    /// Likely duplicate households within a group, each with its reason (same address once
    /// normalised, same phone, same name at a near address).
    Duplicates {
        #[arg(long)]
        group: Option<String>,
    },
    /// Merge DUPLICATE into SURVIVOR (a coordinator's device): the duplicate's visits count
    /// for the survivor, which takes what it lacked from the duplicate.
    Merge { survivor: String, duplicate: String },
    /// Remember that two households listed as duplicates are two households.
    NotDuplicate { first: String, second: String },
    /// Void a household recorded by mistake (your own; a coordinator's device: any): kept
    /// for the audit, left out of every list and count with its visits.
    Void {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Set the review of a household or visit: needs_fix or approved (a coordinator's
    /// device), fixed (the field's answer).
    Set {
        #[arg(value_enum)]
        target: ReviewTarget,
        id: String,
        state: ReviewState,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reviews not yet approved (with --all, every one), newest first.
    List {
        #[arg(long)]
        all: bool,
    },
}

/// What a review is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewTarget {
    Household,
    Visit,
}

#[derive(Debug, Subcommand)]
pub enum VisitCommand {
    /// Record a visit.
    Add {
        #[arg(long)]
        household: String,
        #[arg(long, value_parser = word::<Outcome>)]
        outcome: Outcome,
        /// SERVICE[:RESULT[:AGE_BAND[:FLAG+FLAG]]], e.g. vneid_activate:done:60_plus:elderly
        #[arg(long = "assist", value_parser = assist)]
        assists: Vec<Assist>,
        #[arg(long)]
        note: Option<String>,
        #[arg(long, value_parser = date)]
        follow_up: Option<NaiveDate>,
        #[arg(long, requires = "follow_up")]
        follow_up_reason: Option<String>,
        /// Why what the visit came for was not done: no_smartphone, sim_not_own_name,
        /// needs_level2_at_police, forgot_password_otp, no_internet, other.
        #[arg(long, value_parser = word::<NotDoneReason>)]
        not_done_reason: Option<NotDoneReason>,
        /// Who recorded the visit (a shared device). Default: the name this device joined
        /// under (its invite's); on a device not joined, "volunteer".
        #[arg(long, env = "DOORSTEP_VOLUNTEER")]
        volunteer: Option<String>,
        /// When the visit happened (RFC 3339; default: now).
        #[arg(long, value_parser = time)]
        at: Option<DateTime<Utc>>,
    },
    /// List visits, newest first.
    List {
        #[arg(long)]
        household: Option<String>,
    },
    /// Void a mis-tapped visit (your own; a coordinator's device: any): kept for the audit,
    /// left out of every count.
    Void {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Voided visits and households, newest first.
    Voided,
}

#[derive(Debug, Subcommand)]
pub enum PointCommand {
    /// Add a literacy point.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        place: Option<String>,
    },
    /// List literacy points.
    List,
}

#[derive(Debug, Subcommand)]
pub enum WalkinCommand {
    /// Record a walk-in assist.
    Add {
        #[arg(long)]
        point: String,
        #[arg(long, value_parser = word::<Service>)]
        service: Service,
        #[arg(long, value_parser = word::<AssistResult>)]
        result: AssistResult,
        #[arg(long, value_parser = word::<AgeBand>)]
        age_band: Option<AgeBand>,
        #[arg(long, value_delimiter = ',', value_parser = word::<Priority>)]
        priority: Vec<Priority>,
        /// When the walk-in was helped (RFC 3339; default: now).
        #[arg(long, value_parser = time)]
        at: Option<DateTime<Utc>>,
    },
}

/// Parses one of the field's words (a service, an outcome...), listing the known ones on error.
pub fn word<T>(text: &str) -> Result<T, String>
where
    T: FromStr + IntoEnumIterator + std::fmt::Display,
{
    text.trim().parse().map_err(|_| {
        let known: Vec<String> = T::iter().map(|v| v.to_string()).collect();
        format!("unknown value {text:?}; use one of {}", known.join(", "))
    })
}

fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a date like 2026-07-15"))
}

fn time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{text:?} is not a time like 2026-07-15T09:30:00+07:00"))
}

fn assist(text: &str) -> Result<Assist, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assist_parts_default_to_done_and_unknown_age() {
        let a = assist("vneid_activate").unwrap();
        assert_eq!(
            (a.service, a.result, a.age_band),
            (Service::VneidActivate, AssistResult::Done, None)
        );
        let b = assist("ihanoi:partial:60_plus:elderly+poor").unwrap();
        assert_eq!(b.result, AssistResult::Partial);
        assert_eq!(b.age_band, Some(AgeBand::Elderly));
        assert!(b.priority.elderly && b.priority.poor && !b.priority.disability);
        assert!(assist("teleport").unwrap_err().contains("vneid_install"));
        assert!(assist("ihanoi:done:60_plus:elderly:extra").is_err());
    }

    /// A pin is base64url: one in 64 starts with a dash, and must still be a value.
    #[test]
    fn a_pin_may_start_with_a_dash() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "doorstep",
            "join",
            "--hub",
            "https://h:7300",
            "--code",
            "K7P2Q-9XMTR",
            "--pin",
            "-IgtA77KKqEEL3HFzUsbi7efVTRRP1aMBE7DfZO_KiQ",
        ])
        .unwrap();
        match cli.command {
            Command::Join { pin, .. } => assert_eq!(pin.as_deref().map(|p| &p[..3]), Some("-Ig")),
            other => panic!("parsed as {other:?}"),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Change the PIN (the current one from `DOORSTEP_PIN`, the new one from
    /// `DOORSTEP_NEW_PIN`, or both asked).
    Change,
    /// Forgotten PIN: open the data with the recovery code shown when the PIN was first set,
    /// and set a new PIN (`DOORSTEP_NEW_PIN`, or asked).
    Recover {
        #[arg(long)]
        code: String,
    },
    /// Show the recovery code again (the PIN is needed), to write it down.
    RecoveryCode,
}
