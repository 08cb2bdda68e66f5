//! The façade end to end on a real demo ward, hub and SQLite files: what the app's screens do.

use doorstep_app::*;
use doorstep_domain::*;
use doorstep_proto::api::InviteRequest;

#[tokio::test]
async fn the_demo_ward_is_hosted_joined_and_recorded_in() {
    let dir = tempfile::TempDir::new().unwrap();
    let hosting = Hosting {
        listen: "127.0.0.1:0".into(),
        demo_households: 300,
    };
    let app = App::open(dir.path(), hosting).unwrap();
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
        assert!(std::fs::metadata(path).unwrap().len() > 100);
    }
    let added = app
        .save_household(HouseholdInput {
            id: None,
            group_id: rows[0].group_id,
            household: HouseholdDraft {
                alley: " Ngõ 9 ".into(),
                number: "4".into(),
                ..Default::default()
            },
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
        })
        .await
        .unwrap();
    assert_eq!(
        (corrected.alley.as_str(), corrected.members),
        ("Ngõ 9", Some(3))
    );
    app.sync().await.unwrap();
    app.stop_hub().await;
}
