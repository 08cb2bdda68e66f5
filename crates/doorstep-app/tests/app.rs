//! The façade end to end on a real demo ward, hub and SQLite files: what the app's screens do.

use doorstep_app::*;
use doorstep_domain::*;
use doorstep_proto::api::InviteRequest;

/// A file's permission bits.
fn mode(path: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
}

#[tokio::test]
async fn the_demo_ward_is_hosted_joined_and_recorded_in() {
    let dir = tempfile::TempDir::new().unwrap();
    let hosting = Hosting {
        listen: "127.0.0.1:0".into(),
        demo_households: 300,
        demo_on_first_run: false,
    };
    let app = App::open(dir.path(), hosting).unwrap();
    // Locked until a PIN is set: nothing answers.
    assert_eq!(app.walk_list().await.unwrap_err().code(), ErrorCode::Locked);
    let state = app.lock_state().await.unwrap();
    assert!(state.locked && !state.has_pin);
    assert_eq!(
        app.unlock("12".into()).await.unwrap_err().code(),
        ErrorCode::WeakPin
    );
    let unlocked = app.unlock("246810".into()).await.unwrap();
    assert!(unlocked.recovery_code.is_some());
    let overview = app.try_demo().await.unwrap();
    assert_eq!(overview.role, Some(Role::Coordinator));
    assert!(overview.hosting.is_some());
    let rows = app.walk_list().await.unwrap();
    assert_eq!(rows.len(), 300);
    let visit = app
        .record_visit(VisitInput {
            household_id: rows[0].id,
            outcome: Outcome::Assisted,
            assists: vec!["vneid_activate:done:60_plus".parse().unwrap()],
            note: None,
            follow_up: None,
            not_done_reason: None,
        })
        .await
        .unwrap();
    assert_eq!(app.status().await.unwrap().outbox, 1);
    app.sync().await.unwrap();
    assert_eq!(app.status().await.unwrap().outbox, 0);
    let card = app.household_card(rows[0].id).await.unwrap();
    assert!(card.visits.iter().any(|v| v.id == visit.id));
    let point = overview.points[0].id;
    app.open_session(point).await.unwrap();
    let s = app
        .record_walkin(WalkInInput {
            point_id: point,
            service: Service::Etax,
            result: AssistResult::Done,
            age_band: None,
            priority: PriorityFlags::default(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.session_count, 1);
    let dash = app.dashboard().await.unwrap();
    assert_eq!(dash.report.households, 300);
    assert!(!dash.needs_point.is_empty());
    let invite = app
        .invite(InviteRequest {
            role: Role::Volunteer,
            name: "Lan".into(),
            groups: vec![overview.groups[0].name.clone()],
            point: None,
            expires_hours: None,
        })
        .await
        .unwrap();
    assert!(invite.link.contains(&invite.invite.code));
    assert_eq!(app.devices().await.unwrap().len(), 1);
    for format in [ExportFormat::Csv, ExportFormat::Xlsx] {
        let path = app.export(format, &app.export_path(format)).await.unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 100);
        assert_eq!(mode(&path), 0o600, "an export is its user's only");
    }
    // The app's data (its database, its hub's, the hub's key) is its user's only.
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.path().join("device.sqlite")), 0o600);
    let added = app
        .save_household(HouseholdInput {
            id: None,
            group_id: rows[0].group_id,
            household: HouseholdDraft {
                alley: " Ngõ 9 ".into(),
                number: "4".into(),
                ..Default::default()
            },
            state: None,
        })
        .await
        .unwrap();
    assert_eq!(added.alley, "Ngõ 9");
    let corrected = app
        .save_household(HouseholdInput {
            id: Some(added.id),
            group_id: added.group_id,
            household: HouseholdDraft {
                alley: "Ngõ 9".into(),
                number: "4".into(),
                members: Some(3),
                ..Default::default()
            },
            state: None,
        })
        .await
        .unwrap();
    assert_eq!(
        (corrected.alley.as_str(), corrected.members),
        ("Ngõ 9", Some(3))
    );
    app.sync().await.unwrap();

    // Locked again: closed; a wrong PIN is counted; the right one opens it and serves the hub.
    let named = app
        .walk_list()
        .await
        .unwrap()
        .into_iter()
        .find_map(|r| r.name)
        .expect("the demo ward has named households");
    app.lock().await.unwrap();
    assert_eq!(app.walk_list().await.unwrap_err().code(), ErrorCode::Locked);
    assert_eq!(
        app.unlock("135790".into()).await.unwrap_err().code(),
        ErrorCode::WrongPin
    );
    assert_eq!(app.lock_state().await.unwrap().failed, 1);
    let again = app.unlock("246810".into()).await.unwrap();
    assert!(again.recovery_code.is_none() && again.overview.hosting.is_some());
    assert_eq!(app.walk_list().await.unwrap().len(), 301);
    assert_eq!(app.set_idle_lock(90).await.unwrap().idle_lock_minutes, 60);
    app.stop_hub().await;
    // No file the app keeps (its database, its hub's) holds a household's name in clear.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        let needle = named.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{named:?} found in {}",
            entry.display()
        );
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A sync waiting on a hub that never answers does not hold up recording a visit: the store
/// is locked only around the sync's own work, never while it waits on the network.
#[tokio::test]
async fn a_visit_is_recorded_while_a_sync_waits_on_a_silent_hub() {
    use doorstep_store::{DeviceIdentity, Store};
    use std::sync::Arc;
    use std::time::Duration;

    // A hub that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });

    let dir = tempfile::TempDir::new().unwrap();
    let household = {
        let mut store = Store::unlock(&dir.path().join("device.sqlite"), "246810", 0, None)
            .unwrap()
            .store;
        let (ward, groups) = store.init_ward("Phường Thử", &["Tổ 1".into()]).unwrap();
        let draft = HouseholdDraft {
            alley: "Ngõ 1".into(),
            number: "1".into(),
            ..Default::default()
        };
        let household = store
            .add_household(groups[0].id, draft, chrono::Utc::now())
            .unwrap();
        store
            .set_identity(&DeviceIdentity {
                hub_url: silent_url,
                pin: None,
                next_pin: None,
                device_id: new_id(),
                name: "Lan".into(),
                token: "dst_test".into(),
                role: Role::Coordinator,
                ward_id: ward.id,
                groups: vec![],
                points: vec![],
            })
            .unwrap();
        household
    };
    let app = Arc::new(App::open(dir.path(), Hosting::default()).unwrap());
    app.unlock("246810".into()).await.unwrap();
    let syncing = tokio::spawn({
        let app = app.clone();
        async move { app.sync().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !syncing.is_finished(),
        "the sync should be waiting on the hub"
    );

    let recorded = tokio::time::timeout(
        Duration::from_secs(5),
        app.record_visit(VisitInput {
            household_id: household.id,
            outcome: Outcome::NotHome,
            assists: vec![],
            note: None,
            follow_up: None,
            not_done_reason: None,
        }),
    )
    .await;
    assert!(
        matches!(recorded, Ok(Ok(_))),
        "recording waited on the sync: {recorded:?}"
    );
    assert!(!syncing.is_finished(), "the sync is still waiting");
    let card = app.household_card(household.id).await.unwrap();
    assert_eq!(card.visits.len(), 1);
    syncing.abort();
}

/// The ward's idle lock reaches every device; a device revoked by its coordinator erases its
/// data, keys and exports at its next sync, says so (`device_wiped`), and starts again at the
/// lock screen with no PIN and no ward.
#[tokio::test]
async fn the_idle_lock_reaches_every_device_and_a_revoked_one_wipes_itself() {
    let coordinator_dir = tempfile::TempDir::new().unwrap();
    let hosting = Hosting {
        listen: "127.0.0.1:0".into(),
        demo_households: 50,
        demo_on_first_run: true,
    };
    let coordinator = App::open(coordinator_dir.path(), hosting).unwrap();
    let overview = coordinator.unlock("246810".into()).await.unwrap().overview;
    let invite = coordinator
        .invite(InviteRequest {
            role: Role::Volunteer,
            name: "Lan".into(),
            groups: vec![overview.groups[0].name.clone()],
            point: None,
            expires_hours: None,
        })
        .await
        .unwrap();

    let dir = tempfile::TempDir::new().unwrap();
    let volunteer = App::open(dir.path(), Hosting::default()).unwrap();
    volunteer.unlock("135790".into()).await.unwrap();
    volunteer
        .join(String::new(), invite.link.clone(), None)
        .await
        .unwrap();
    let lan = coordinator
        .devices()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.name == "Lan")
        .unwrap();
    // The ward's idle lock, set on the coordinator's device, reaches the volunteer's by sync;
    // a volunteer cannot set it.
    assert_eq!(volunteer.lock_state().await.unwrap().idle_lock_minutes, 5);
    assert_eq!(
        coordinator
            .set_idle_lock(15)
            .await
            .unwrap()
            .idle_lock_minutes,
        15
    );
    coordinator.sync().await.unwrap();
    volunteer.sync().await.unwrap();
    assert_eq!(volunteer.lock_state().await.unwrap().idle_lock_minutes, 15);
    assert_eq!(
        volunteer.set_idle_lock(30).await.unwrap_err().code(),
        ErrorCode::CoordinatorOnly
    );
    // So do the campaign targets: set on one device, the same on every device after sync.
    let targets = Targets {
        online_percent: 90.0,
        vneid_activated_percent: 70.0,
        visited_percent: 95.0,
    };
    assert_eq!(
        coordinator.set_targets(targets.clone()).await.unwrap(),
        targets
    );
    coordinator.sync().await.unwrap();
    volunteer.sync().await.unwrap();
    assert_eq!(volunteer.targets().await.unwrap(), targets);
    assert!(volunteer.set_targets(Targets::default()).await.is_err());

    coordinator.revoke(lan.device_id).await.unwrap();

    let refused = volunteer.sync().await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::DeviceWiped);
    assert!(walk(dir.path()).is_empty(), "{:?}", walk(dir.path()));
    let state = volunteer.lock_state().await.unwrap();
    assert!(state.locked && !state.has_pin);
    assert_eq!(
        volunteer.walk_list().await.unwrap_err().code(),
        ErrorCode::Locked
    );
    coordinator.stop_hub().await;
}

/// A literacy point's sessions: every walk-in names its session, so a session's count comes
/// from the point's document (the same wherever it is read), and a new session starts at 0.
#[tokio::test]
async fn walk_ins_are_counted_per_session() {
    let dir = tempfile::TempDir::new().unwrap();
    let hosting = Hosting {
        listen: "127.0.0.1:0".into(),
        demo_households: 50,
        demo_on_first_run: true,
    };
    let app = App::open(dir.path(), hosting).unwrap();
    app.unlock("246810".into()).await.unwrap();
    let point = app.overview().await.unwrap().points[0].id;
    let walkin = || WalkInInput {
        point_id: point,
        service: Service::VneidActivate,
        result: AssistResult::Done,
        age_band: None,
        priority: PriorityFlags::default(),
    };
    let first = app.open_session(point).await.unwrap();
    assert_eq!(first.session_count, 0);
    app.record_walkin(walkin()).await.unwrap();
    let counted = app.record_walkin(walkin()).await.unwrap().unwrap();
    assert_eq!(
        (counted.id.clone(), counted.session_count),
        (first.id.clone(), 2)
    );
    let second = app.open_session(point).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(second.session_count, 0);
    let third = app.record_walkin(walkin()).await.unwrap().unwrap();
    assert_eq!(third.session_count, 1);
    assert!(third.day_count >= 3);
    app.stop_hub().await;
}
