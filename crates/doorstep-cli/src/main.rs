//! `doorstep`: the command-line face of a device's store.
//!
//! Each command is a short call into `doorstep-store`; this file only parses, opens the
//! database and prints. Errors leave as one line on stderr with a non-zero exit code: 2 for a
//! command line that does not parse, 1 for everything else; with `--json` that line is
//! `{"error": {"code": ..., "message": ...}}`, the code the same stable word the hub and the app
//! use. A refused command changed nothing.

mod args;
mod output;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{SubsecRound, Utc};
use clap::Parser;
use doorstep_domain::clock::vietnam_date;
use doorstep_domain::demo::{generate, DemoSpec};
use doorstep_domain::*;
use doorstep_proto::pin::JoinLink;
use doorstep_store::Store;
use doorstep_vault::{Keystore, SecretService};

use args::*;
use output::Printer;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return if e.exit_code() == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(2)
                };
            }
            let message = one_line(&e.render().to_string());
            let json = std::env::args().any(|a| a == "--json");
            report(json, ErrorCode::BadRequest, &message);
            return ExitCode::from(2);
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(json, code_of(&e), &one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// A refusal of the CLI's own, with its code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Refused {
    code: ErrorCode,
    message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> anyhow::Error {
    Refused {
        code,
        message: message.into(),
    }
    .into()
}

/// The code of the first error in the chain that has one.
fn code_of(e: &anyhow::Error) -> ErrorCode {
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<Refused>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<doorstep_store::StoreError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<doorstep_sync::SyncError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<doorstep_hub::HubError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<ValidationError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<doorstep_doc::DocError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<doorstep_hub::VaultError>() {
            return e.code();
        }
    }
    ErrorCode::Internal
}

/// Prints an error as one line on stderr: JSON with its code, or text.
fn report(json: bool, code: ErrorCode, message: &str) {
    if json {
        let line = serde_json::json!({ "error": { "code": code, "message": message } });
        eprintln!("{line}");
    } else {
        eprintln!("error: {message}");
    }
}

/// Folds a multi-line message (clap's) into one line, without its usage hints.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn default_db() -> anyhow::Result<PathBuf> {
    let dir = dirs::data_dir()
        .context("no data directory on this system: pass --db PATH")?
        .join("doorstep");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    Ok(dir.join("doorstep.sqlite"))
}

/// A secret from `var`, or typed at a terminal (twice when it is being set), or a refusal
/// saying how to give it.
fn secret(var: &str, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if let Ok(value) = std::env::var(var) {
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        return Err(refuse(
            ErrorCode::PinNeeded,
            format!("set {var}, or run at a terminal to be asked; --plaintext keeps the database unencrypted"),
        ));
    }
    let typed = rpassword::prompt_password(format!("{prompt}: "))?;
    if confirm && rpassword::prompt_password(format!("{prompt} (again): "))? != typed {
        return Err(refuse(ErrorCode::WeakPin, "the two entries differ"));
    }
    Ok(typed)
}

/// Shows a new recovery code once, on stderr (stdout stays the command's answer).
fn show_recovery_code(code: Option<doorstep_hub::RecoveryCode>, what: &str) {
    if let Some(code) = code {
        eprintln!(
            "Recovery code for {what} (write it down and keep it apart; shown only now): {}",
            code.as_str()
        );
    }
}

fn unix_now() -> i64 {
    Utc::now().timestamp()
}

/// Opens the database with the PIN (or unencrypted with `--plaintext`); only commands that
/// create a ward may create the file.
fn open(
    path: &Path,
    may_create: bool,
    plaintext: bool,
    keystore: Option<&dyn Keystore>,
) -> anyhow::Result<Store> {
    if !may_create && !path.exists() {
        return Err(refuse(
            ErrorCode::NoWard,
            format!(
                "no database at {}: run `doorstep ward init` or `doorstep demo` first",
                path.display()
            ),
        ));
    }
    let context = || format!("cannot open {}", path.display());
    if plaintext {
        return Store::open(path, &doorstep_store::AtRest::Plaintext).with_context(context);
    }
    let new = !Store::has_pin(path);
    let pin = secret(
        "DOORSTEP_PIN",
        if new {
            "New PIN (at least 6 digits)"
        } else {
            "PIN"
        },
        new,
    )?;
    // A new PIN's recovery code is kept in the database: `doorstep pin recovery-code`.
    Ok(Store::unlock(path, &pin, unix_now(), keystore)
        .with_context(context)?
        .store)
}

/// The hub database's key, from its passphrase (or none with `--plaintext`).
fn hub_at_rest(dir: &Path, plaintext: bool) -> anyhow::Result<doorstep_hub::AtRest> {
    if plaintext {
        return Ok(doorstep_hub::AtRest::Plaintext);
    }
    let new = !doorstep_hub::sqlite::has_passphrase(dir);
    let passphrase = secret(
        "DOORSTEP_HUB_PASSPHRASE",
        if new {
            "New hub passphrase (at least 10 characters)"
        } else {
            "Hub passphrase"
        },
        new,
    )?;
    let (at_rest, code) = doorstep_hub::unlock(dir, &passphrase, unix_now())
        .with_context(|| format!("cannot unlock the hub in {}", dir.display()))?;
    show_recovery_code(code, "the hub's data");
    Ok(at_rest)
}

fn pin(
    out: &Printer,
    path: &Path,
    cmd: PinCommand,
    plaintext: bool,
    keystore: Option<&dyn Keystore>,
) -> anyhow::Result<()> {
    if let PinCommand::RecoveryCode = cmd {
        let store = open(path, false, plaintext, keystore)?;
        let code = store.recovery_code()?.ok_or_else(|| {
            refuse(
                ErrorCode::PinNeeded,
                "this database has no PIN (it is unencrypted)",
            )
        })?;
        return out.recovery_code(&code);
    }
    if !Store::has_pin(path) {
        return Err(refuse(
            ErrorCode::PinNeeded,
            format!(
                "{} has no PIN yet: any command run with DOORSTEP_PIN sets one",
                path.display()
            ),
        ));
    }
    let new_pin = || secret("DOORSTEP_NEW_PIN", "New PIN (at least 6 digits)", true);
    match cmd {
        PinCommand::Change => {
            let old = secret("DOORSTEP_PIN", "Current PIN", false)?;
            Store::change_pin(path, &old, &new_pin()?, unix_now(), keystore)?;
        }
        PinCommand::Recover { code } => {
            Store::recover(path, &code, &new_pin()?, unix_now(), keystore)?;
        }
        PinCommand::RecoveryCode => unreachable!("answered above"),
    }
    eprintln!("PIN changed");
    Ok(())
}

fn parse_id(text: &str, what: &str) -> anyhow::Result<Id> {
    Id::parse_str(text.trim()).map_err(|_| {
        refuse(
            ErrorCode::BadRequest,
            format!("unknown {what} {text:?}: not an id"),
        )
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Printer { json: cli.json };
    let command = match cli.command {
        Command::Hub(cmd) => return hub(&out, cmd, cli.plaintext),
        command => command,
    };
    let path = match &cli.db {
        Some(p) => p.clone(),
        None => default_db()?,
    };
    let keystore: Option<&dyn Keystore> = match cli.keystore {
        KeystoreChoice::None => None,
        KeystoreChoice::System if SecretService.available() => Some(&SecretService),
        KeystoreChoice::System => bail!(
            "--keystore system: no Secret Service answers on this session's bus (is a keyring \
             running and unlocked?)"
        ),
    };
    if let Command::Pin(cmd) = command {
        return pin(&out, &path, cmd, cli.plaintext, keystore);
    }
    if let Command::Reset = command {
        let mut store = open(&path, false, cli.plaintext, keystore)?;
        store.check_handover()?;
        drop(store);
        Store::erase_files(&path, keystore)?;
        return out.reset(&path);
    }
    let creates = matches!(
        command,
        Command::Ward(WardCommand::Init { .. }) | Command::Demo { .. } | Command::Join { .. }
    );
    let creates = creates || matches!(command, Command::Restore { .. });
    let mut store = open(&path, creates, cli.plaintext, keystore)?;
    let now = Utc::now().trunc_subsecs(3);
    match command {
        Command::Hub(_) | Command::Pin(_) | Command::Reset => unreachable!("handled above"),
        Command::Backup { out: file } => {
            let passphrase = secret(
                "DOORSTEP_BACKUP_PASSPHRASE",
                "Backup passphrase (at least 10 characters)",
                true,
            )?;
            out.backup(&store.backup(&file, &passphrase)?, &file)
        }
        Command::Restore { file } => {
            let passphrase = secret("DOORSTEP_BACKUP_PASSPHRASE", "Backup passphrase", false)?;
            out.restored(&store.restore(&file, &passphrase)?)
        }
        Command::Join {
            link,
            hub,
            code,
            pin,
        } => {
            let link = match link {
                Some(text) => JoinLink::parse(&text)
                    .ok_or_else(|| refuse(ErrorCode::BadRequest, "not a doorstep://join link"))?,
                None => JoinLink {
                    hub: hub.unwrap_or_default(),
                    code: code.unwrap_or_default(),
                    pin,
                },
            };
            let identity = runtime()?.block_on(doorstep_sync::join(
                &mut store,
                &link.hub,
                &link.code,
                link.pin.as_deref(),
            ))?;
            let groups = store.groups()?;
            let points = store.points()?;
            out.joined(&identity, &groups, &points)
        }
        Command::Sync { hub } => {
            let bar = progress_bar(&out, "{msg} {wide_bar} {bytes}/{total_bytes}");
            let shown = |p: &doorstep_sync::SyncProgress| {
                if let Some(bar) = &bar {
                    bar.set_length(p.bytes_total);
                    bar.set_position(p.bytes_done);
                    bar.set_message(format!(
                        "{}/{} documents",
                        p.documents_done, p.documents_total
                    ));
                }
            };
            let synced = runtime()?.block_on(doorstep_sync::sync_shared_with(
                &tokio::sync::Mutex::new(&mut store),
                hub.as_deref(),
                &shown,
            ));
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            match synced {
                Err(e) if e.code() == ErrorCode::DeviceRevoked => {
                    drop(store);
                    Store::erase_files(&path, keystore)?;
                    Err(refuse(
                        ErrorCode::DeviceWiped,
                        format!(
                            "{e}: this device's data and keys were erased from it ({})",
                            path.display()
                        ),
                    ))
                }
                report => {
                    let report = report?;
                    out.synced(&report)?;
                    // The rest synced; the exit status still says a document was refused.
                    match report.refused.first() {
                        Some(first) => Err(refuse(
                            first.code,
                            format!(
                                "the hub refused {} document(s), kept on this device (the rest \
                                 synced): {}",
                                report.refused.len(),
                                report
                                    .refused
                                    .iter()
                                    .map(|p| format!("{}: {}", p.name, p.message))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            ),
                        )),
                        None => Ok(()),
                    }
                }
            }
        }
        Command::Status => {
            let identity = store.identity()?;
            let outbox = store.outbox_count()?;
            let last_sync = store.last_sync()?;
            let groups = store.groups()?;
            let points = store.points()?;
            let problems = store.sync_problems()?;
            out.status(
                identity.as_ref(),
                &store.device_key().public().key_id(),
                outbox,
                last_sync,
                (&groups, &points),
                &problems,
            )
        }
        Command::Invite(args) => {
            let request = invite_request(args);
            let invite = runtime()?.block_on(doorstep_sync::invite(&store, &request))?;
            let identity = store
                .identity()?
                .ok_or(doorstep_sync::SyncError::NotJoined)?;
            out.invite(
                &invite,
                &JoinLink {
                    hub: identity.hub_url,
                    code: invite.code.clone(),
                    pin: identity.pin,
                },
            )
        }
        Command::Ward(WardCommand::Init { name, groups }) => {
            let (ward, groups) = store.init_ward(&name, &groups)?;
            out.ward(&ward, &groups)
        }
        Command::Group(GroupCommand::List) => {
            let report = store.report(vietnam_date(now))?;
            out.groups(&store.groups()?, &report)
        }
        Command::Household(cmd) => household(&mut store, &out, cmd),
        Command::Visit(cmd) => visit(&mut store, &out, cmd),
        Command::Review(ReviewCommand::Set {
            target,
            id,
            state,
            comment,
        }) => {
            let (map, what) = match target {
                ReviewTarget::Household => ("households", "household"),
                ReviewTarget::Visit => ("visits", "visit"),
            };
            let id = parse_id(&id, what)?;
            let review = store.set_review(map, id, state, comment.as_deref(), now)?;
            out.review(id, &review)
        }
        Command::Review(ReviewCommand::List { all }) => out.reviews(&store.reviews(all)?),
        Command::Assign {
            volunteer,
            household,
            alley,
            group,
        } => {
            let ids = match (household, alley, group) {
                (Some(h), _, _) => {
                    store.assign_household(parse_id(&h, "household")?, &volunteer, now)?
                }
                (None, Some(alley), Some(group)) => {
                    let group = store.group_by_name(&group)?.id;
                    store.assign_alley(group, &alley, &volunteer, now)?
                }
                _ => bail!("give --household ID, or --alley TEXT with --group NAME"),
            };
            out.assigned(&volunteer, &ids)
        }
        Command::Point(PointCommand::Add { name, place }) => {
            out.point(&store.add_point(&name, place.as_deref())?)
        }
        Command::Point(PointCommand::List) => out.points(&store.points()?),
        Command::Walkin(WalkinCommand::Add {
            point,
            service,
            result,
            age_band,
            priority,
            at,
        }) => {
            let point = store.point_by_name(&point)?;
            let walkin = WalkIn {
                id: new_id(),
                point_id: point.id,
                device_time: at.unwrap_or(now),
                service,
                result,
                age_band,
                priority: PriorityFlags::from_list(&priority),
                session: None,
            };
            out.walkin(&store.add_walkin(&walkin, now)?, &point)
        }
        Command::History { id } => {
            let id = parse_id(&id, "household")?;
            out.history(&runtime()?.block_on(doorstep_sync::history(&store, id))?)
        }
        Command::Report {
            today,
            from: Some(from),
            to: Some(to),
            by,
            out: file,
        } => {
            let _ = today;
            let report = store.range_report(from, to, by)?;
            if let Some(file) = &file {
                let (header, rows) = report.table();
                doorstep_store::export::write_table(file, "Báo cáo", &header, &rows)?;
            }
            out.range_report(&report)
        }
        Command::Report { today, .. } => {
            out.report(&store.report(today.unwrap_or(vietnam_date(now)))?)
        }
        Command::Print {
            sheet,
            group,
            out: file,
        } => {
            let group = store.group_by_name(&group)?;
            let rows = store.walk_list_of(Some(group.id))?;
            let ward = store.ward_name()?.unwrap_or_default();
            let kind = match sheet {
                SheetChoice::WalkList => doorstep_print::SheetKind::WalkList,
                SheetChoice::FollowUps => doorstep_print::SheetKind::FollowUps,
            };
            let heading = doorstep_print::Heading {
                ward: &ward,
                group: &group.name,
                printed_on: doorstep_domain::clock::vietnam_time(now).date(),
            };
            let printed = kind
                .print(&heading, &rows)
                .map_err(|e| refuse(ErrorCode::ExportFailed, e.to_string()))?;
            std::fs::write(&file, &printed.pdf).map_err(|e| {
                refuse(
                    ErrorCode::ExportFailed,
                    format!("cannot write {}: {e}", file.display()),
                )
            })?;
            out.printed(kind, &group.name, &file, &printed)
        }
        Command::Demo {
            households,
            seed,
            groups,
        } => {
            if households == 0 {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    "--households must be at least 1",
                ));
            }
            let mut spec = DemoSpec::new(households, seed, now.date_naive());
            spec.groups = groups;
            let demo = generate(&spec);
            let bar = progress_bar(&out, "{msg} {wide_bar} {pos}/{len} households");
            if let Some(bar) = &bar {
                bar.set_length(demo.households.len() as u64);
            }
            store.insert_demo(&demo, |p| match &bar {
                Some(bar) => {
                    bar.inc(p.households as u64);
                    bar.set_message(p.group.name.clone());
                }
                None => eprintln!(
                    "committed {}: {} households, {} visits",
                    p.group.name, p.households, p.visits
                ),
            })?;
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            out.demo(&demo, store.size_on_disk())
        }
        Command::Check => {
            let check = store.check()?;
            out.check(&check)?;
            if check.integrity != "ok" || !check.query_tables_match_documents {
                bail!("the database needs attention: run `doorstep rebuild`, then check again");
            }
            Ok(())
        }
        Command::Rebuild => {
            store.rebuild()?;
            out.check(&store.check()?)
        }
    }
}

fn invite_request(args: InviteArgs) -> doorstep_proto::api::InviteRequest {
    doorstep_proto::api::InviteRequest {
        role: args.role,
        name: args.name,
        groups: args.groups,
        point: args.point,
        expires_hours: args.expires,
    }
}

/// Where the hub named by `args` keeps its data; a directory is unlocked with the hub's
/// passphrase (unless `--plaintext`).
fn hub_place(args: HubPlaceArgs, plaintext: bool) -> anyhow::Result<doorstep_hub::HubPlace> {
    Ok(match (args.at.data, args.at.database) {
        (_, Some(url)) => doorstep_hub::HubPlace::Postgres {
            url,
            ward: args.ward_id,
        },
        (Some(dir), None) => {
            let at_rest = hub_at_rest(&dir, plaintext)?;
            doorstep_hub::HubPlace::Dir { dir, at_rest }
        }
        (None, None) => bail!("give the hub's --data DIR or --database URL"),
    })
}

fn hub(out: &Printer, cmd: HubCommand, plaintext: bool) -> anyhow::Result<()> {
    match cmd {
        HubCommand::Init {
            place,
            ward,
            groups,
        } => {
            let (ward, groups) = hub_place(place, plaintext)?.init(&ward, &groups)?;
            out.ward(&ward, &groups)
        }
        HubCommand::Serve {
            place,
            listen,
            rotate_tokens_hours,
            max_in_flight,
            forward,
        } => {
            use std::io::IsTerminal;
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                // Colours only for a person at a terminal, never in a log file.
                .with_ansi(std::io::stderr().is_terminal())
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,tower_http=info".into()),
                )
                .init();
            let place = hub_place(place, plaintext)?;
            let rt = runtime()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let serving = doorstep_hub::Serving {
                    rotate_tokens_after: std::time::Duration::from_secs(rotate_tokens_hours * 3600),
                    limits: doorstep_hub::http::Limits {
                        in_flight: max_in_flight as usize,
                        ..Default::default()
                    },
                };
                let forwarding = match (
                    forward.forward_to,
                    forward.forward_token,
                    forward.forward_pin,
                ) {
                    (Some(to), Some(token), Some(pin)) => {
                        let client = doorstep_sync::HubClient::new(&to, Some(&pin))?;
                        Some(keep_forwarding(place.clone(), client, token))
                    }
                    _ => None,
                };
                let serve = doorstep_hub::serve_place(place, listener, serving, |addr| {
                    println!("listening on https://{addr}");
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                });
                match forwarding {
                    Some(forwarding) => tokio::select! {
                        served = serve => served?,
                        () = forwarding => {}
                    },
                    None => serve.await?,
                }
                Ok(())
            })
        }
        HubCommand::Invite { place, url, invite } => {
            let place = hub_place(place, plaintext)?;
            let mut enrolment = place.enrolment()?;
            let answer = enrolment.invite(&invite_request(invite), Utc::now())?;
            let hub_url = match url.or(enrolment.url()?) {
                Some(url) => url,
                None => format!(
                    "https://{}",
                    doorstep_hub::advertised_addr(([0, 0, 0, 0], 7300).into())
                ),
            };
            let link = JoinLink {
                hub: hub_url,
                code: answer.code.clone(),
                pin: Some(place.tls()?.pin),
            };
            out.invite(&answer, &link)
        }
        HubCommand::Retention {
            place,
            campaign_end,
            days,
        } => {
            let mut hub = hub_place(place, plaintext)?.hub()?;
            if let (Some(campaign_end), Some(days)) = (campaign_end, days) {
                hub.set_retention(&doorstep_hub::Retention { campaign_end, days })?;
            }
            out.retention(hub.retention()?.as_ref(), Utc::now().date_naive())
        }
        HubCommand::Devices { place } => {
            out.devices(&hub_place(place, plaintext)?.enrolment()?.devices()?)
        }
        HubCommand::RotateCert {
            place,
            finish,
            force,
        } => {
            let place = hub_place(place, plaintext)?;
            let doorstep_hub::HubPlace::Dir { dir, .. } = &place else {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    "a hub on PostgreSQL keeps its certificate in the database: rotating it is \
                     not built yet",
                ));
            };
            let enrolment = place.enrolment()?;
            let tls = if finish {
                enrolment.finish_rotation(dir, force)?
            } else {
                doorstep_hub::HubTls::rotate(dir)?
            };
            out.rotation(&tls, &enrolment.devices()?)
        }
        HubCommand::Ward { cmd } => city_ward(out, cmd),
        HubCommand::Rollup { place, out: file } => {
            let place = hub_place(place, plaintext)?;
            let now = Utc::now();
            let rows = match place.city()? {
                Some(url) => {
                    let city = doorstep_hub::City::open(&url, false)?;
                    city.refresh_rollups(now)?;
                    city.rollups()?
                }
                None => {
                    let (rollup, _) = place.hub()?.cached_rollup(now)?;
                    vec![doorstep_hub::city::CityRollupRow {
                        key: String::new(),
                        rollup: Some(rollup),
                        current: true,
                        forwarded: false,
                    }]
                }
            };
            let wards: Vec<doorstep_domain::rollup::WardRollup> =
                rows.iter().filter_map(|r| r.rollup.clone()).collect();
            if let Some(file) = &file {
                let (header, table) = doorstep_domain::rollup::table(&wards);
                doorstep_store::export::write_table(file, "Tổng hợp", &header, &table)?;
            }
            out.rollup(&rows, file.as_deref())
        }
        HubCommand::Forward {
            place,
            to,
            token,
            pin,
        } => {
            let (rollup, _) = hub_place(place, plaintext)?
                .hub()?
                .cached_rollup(Utc::now())?;
            let client = doorstep_sync::HubClient::new(&to, Some(&pin))?;
            let answer = runtime()?.block_on(client.forward_rollup(&token, &rollup))?;
            out.forwarded(&rollup, &to, &answer)
        }
        HubCommand::Backup { place, out: file } => {
            out.hub_backup(&hub_place(place, plaintext)?.backup(&file)?)
        }
        HubCommand::Restore { place, file } => {
            let restored = match (place.at.data, place.at.database) {
                (Some(dir), None) => doorstep_hub::backup::restore_dir(&dir, &file, |unpacked| {
                    hub_at_rest(unpacked, plaintext).map_err(|e| {
                        doorstep_hub::HubError::refused(
                            doorstep_hub::Status::Unauthorized,
                            ErrorCode::WrongBackupPassphrase,
                            format!("{e:#}"),
                        )
                    })
                })?,
                (_, Some(url)) => doorstep_hub::HubPlace::Postgres {
                    url,
                    ward: place.ward_id,
                }
                .restore_database(&file)?,
                (None, None) => bail!("give the hub's --data DIR or --database URL"),
            };
            out.hub_restored(&restored)
        }
        HubCommand::Revoke { place, device } => {
            let id = parse_id(&device, "device")?;
            hub_place(place, plaintext)?
                .enrolment()?
                .revoke(id, Utc::now())?;
            out.revoked(id)
        }
    }
}

/// A progress bar on stderr for a person at a terminal (never with `--json`, never in a log).
fn progress_bar(out: &Printer, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if out.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    Some(bar)
}

/// How often a serving ward hub sends its roll-up to its city.
const FORWARD_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Sends the ward's roll-up to its city at start and every `FORWARD_EVERY`, whenever the city
/// answers: no connection is only logged, and tried again next time. What is sent is the
/// roll-up alone (aggregates: counts per service and per day, never a record).
async fn keep_forwarding(
    place: doorstep_hub::HubPlace,
    client: doorstep_sync::HubClient,
    token: String,
) {
    let mut interval = tokio::time::interval(FORWARD_EVERY);
    loop {
        interval.tick().await;
        let place = place.clone();
        // A connection of its own to the hub's storage, opened and closed off the async
        // threads (cached: only changes since the last time are read again).
        let computed = tokio::task::spawn_blocking(move || {
            place.hub()?.cached_rollup(Utc::now()).map(|(r, _)| r)
        })
        .await;
        let rollup = match computed {
            Ok(Ok(rollup)) => rollup,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot compute the roll-up to forward");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "the roll-up task failed");
                continue;
            }
        };
        match client.forward_rollup(&token, &rollup).await {
            Ok(_) => tracing::info!(to = client.url(), "roll-up forwarded to the city"),
            Err(e) => tracing::warn!(error = %e, "roll-up not forwarded (tried again later)"),
        }
    }
}

/// `hub ward`: a city's wards.
fn city_ward(out: &Printer, cmd: CityWardCommand) -> anyhow::Result<()> {
    match cmd {
        CityWardCommand::Add {
            database,
            name,
            groups: _,
            coordinator: _,
            url,
            forwarded_from: Some(ward_id),
        } => {
            let mut city = doorstep_hub::City::open(&database, true)?;
            let ward_id = parse_id(&ward_id, "ward")?;
            let (listed, token) = city.add_forwarded_ward(&name, ward_id)?;
            let tls = doorstep_hub::HubTls::ensure_in(city.storage())?;
            let served_at = url.or(city.served_at()?);
            out.forwarded_ward(&listed, &token, served_at.as_deref(), &tls.pin)
        }
        CityWardCommand::Viewer { database, name } => {
            let mut city = doorstep_hub::City::open(&database, false)?;
            let token = city.add_viewer(&name)?;
            let served_at = city.served_at()?;
            out.city_viewer(&name, &token, served_at.as_deref())
        }
        CityWardCommand::Add {
            database,
            name,
            groups,
            coordinator,
            url,
            forwarded_from: None,
        } => {
            let mut city = doorstep_hub::City::open(&database, true)?;
            let (listed, ward, groups) = city.add_ward(&name, &groups)?;
            let tls = doorstep_hub::HubTls::ensure_in(city.storage())?;
            let mut enrolment =
                doorstep_hub::Enrolment::with_storage(Box::new(city.ward_storage(&listed)?))?;
            let invite = enrolment.invite(
                &doorstep_proto::api::InviteRequest {
                    role: Role::Coordinator,
                    name: coordinator,
                    groups: Vec::new(),
                    point: None,
                    expires_hours: None,
                },
                Utc::now(),
            )?;
            let served_at = match url {
                Some(url) => Some(url),
                None => city.served_at()?,
            };
            let link = JoinLink {
                hub: served_at.unwrap_or_else(|| {
                    format!(
                        "https://{}",
                        doorstep_hub::advertised_addr(([0, 0, 0, 0], 7300).into())
                    )
                }),
                code: invite.code.clone(),
                pin: Some(tls.pin),
            };
            out.city_ward(&listed, &ward, &groups, &invite, &link)
        }
        CityWardCommand::List { database } => {
            out.city_wards(&doorstep_hub::City::open(&database, false)?.wards()?)
        }
    }
}

fn household(store: &mut Store, out: &Printer, cmd: HouseholdCommand) -> anyhow::Result<()> {
    let now = Utc::now().trunc_subsecs(3);
    match cmd {
        HouseholdCommand::Add {
            group,
            alley,
            number,
            fields,
        } => {
            let group = store.group_by_name(&group)?;
            let draft = HouseholdDraft {
                alley,
                number,
                members: fields.members,
                priority: PriorityFlags::from_list(&fields.priority),
                internet: fields.internet.unwrap_or_default(),
                consent: fields.consent,
                name: fields.name,
                phone: fields.phone,
            };
            let mut h = store.add_household(group.id, draft.normalized(), now)?;
            if let Some(state) = fields.state.filter(|s| *s != h.state) {
                let patch = HouseholdPatch {
                    state: Some(state),
                    ..Default::default()
                };
                h = store.update_household(h.id, &patch)?;
            }
            out.household(&h, &group.name)
        }
        HouseholdCommand::Update {
            id,
            alley,
            number,
            fields,
            no_priority,
            withdraw_consent,
        } => {
            let id = parse_id(&id, "household")?;
            let priority = if no_priority {
                Some(PriorityFlags::default())
            } else if fields.priority.is_empty() {
                None
            } else {
                Some(PriorityFlags::from_list(&fields.priority))
            };
            let consent = if withdraw_consent {
                Some(false)
            } else {
                fields.consent.then_some(true)
            };
            let patch = HouseholdPatch {
                alley: alley.map(|a| a.trim().to_string()),
                number: number.map(|n| n.trim().to_string()),
                members: fields.members,
                priority,
                internet: fields.internet,
                consent,
                name: fields.name,
                phone: fields.phone,
                state: fields.state,
            };
            let h = store.update_household(id, &patch)?;
            out.household(&h, &group_name(store, h.group_id)?)
        }
        HouseholdCommand::List { group } => {
            let group_id = match group {
                Some(name) => Some(store.group_by_name(&name)?.id),
                None => None,
            };
            let groups = store.groups()?;
            out.households(&store.households(group_id)?, &groups)
        }
        HouseholdCommand::Show { id } => {
            let id = parse_id(&id, "household")?;
            let h = store.household(id)?;
            let visits = store.visits(Some(id))?;
            out.household_with_visits(&h, &group_name(store, h.group_id)?, &visits)
        }
        HouseholdCommand::Erase { id } => {
            let id = parse_id(&id, "household")?;
            let shared = tokio::sync::Mutex::new(&mut *store);
            let (erasure, report) =
                runtime()?.block_on(doorstep_sync::erase_household(&shared, id))?;
            out.erased(&erasure, &report)
        }
        HouseholdCommand::Duplicates { group } => {
            let group_id = match group {
                Some(name) => Some(store.group_by_name(&name)?.id),
                None => None,
            };
            let pairs = store.duplicates(group_id)?;
            let households: HashMap<Id, Household> = store
                .households(group_id)?
                .into_iter()
                .map(|h| (h.id, h))
                .collect();
            out.duplicates(&pairs, &households, &store.groups()?)
        }
        HouseholdCommand::Merge {
            survivor,
            duplicate,
        } => {
            let survivor = parse_id(&survivor, "household")?;
            let duplicate = parse_id(&duplicate, "household")?;
            let h = store.merge_households(survivor, duplicate)?;
            out.household(&h, &group_name(store, h.group_id)?)
        }
        HouseholdCommand::NotDuplicate { first, second } => {
            let first = parse_id(&first, "household")?;
            let second = parse_id(&second, "household")?;
            store.mark_not_duplicate(first, second)?;
            out.done(&format!("{first} and {second} are two households"))
        }
        HouseholdCommand::Void { id, reason } => {
            let id = parse_id(&id, "household")?;
            let void = store.void_household(id, &reason, Utc::now().trunc_subsecs(3))?;
            out.voided(id, &void)
        }
    }
}

fn visit(store: &mut Store, out: &Printer, cmd: VisitCommand) -> anyhow::Result<()> {
    let now = Utc::now().trunc_subsecs(3);
    match cmd {
        VisitCommand::Add {
            household,
            outcome,
            assists,
            note,
            follow_up,
            follow_up_reason,
            not_done_reason,
            volunteer,
            at,
        } => {
            let household_id = parse_id(&household, "household")?;
            let draft = VisitDraft {
                household_id,
                device_time: at.unwrap_or(now),
                volunteer: match volunteer {
                    Some(name) => name,
                    None => store
                        .identity()?
                        .map(|i| i.name)
                        .unwrap_or_else(|| "volunteer".into()),
                },
                outcome,
                note,
                follow_up: follow_up.map(|date| FollowUp {
                    date,
                    reason: follow_up_reason,
                }),
                assists,
                not_done_reason,
            };
            let v = store.add_visit(draft, now)?;
            out.visit(&v)
        }
        VisitCommand::List { household } => {
            let household = match household {
                Some(h) => {
                    let id = parse_id(&h, "household")?;
                    store.household(id)?;
                    Some(id)
                }
                None => None,
            };
            let visits = store.visits(household)?;
            let households = store.households(None)?;
            out.visits(&visits, &households)
        }
        VisitCommand::Void { id, reason } => {
            let id = parse_id(&id, "visit")?;
            let void = store.void_visit(id, &reason, Utc::now().trunc_subsecs(3))?;
            out.voided(id, &void)
        }
        VisitCommand::Voided => out.voided_list(&store.voided()?),
    }
}

fn group_name(store: &Store, id: Id) -> anyhow::Result<String> {
    Ok(store
        .groups()?
        .into_iter()
        .find(|g| g.id == id)
        .map(|g| g.name)
        .unwrap_or_else(|| id.to_string()))
}
