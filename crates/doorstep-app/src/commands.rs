// The app's commands: the one list. Each is `name(argument: Type, ...) -> Answer;` and is one
// call of the same name on `App`. From this list come the Tauri commands and their handler
// (src-tauri), the permission each command needs (src-tauri/build.rs includes this file), and
// the typed TypeScript functions the UI calls (`bindings`). A command is added here and
// nowhere else; `for_each_command!(m)` hands the whole list to macro `m`.
//
// The types are named as `doorstep_app::command_types` exports them.

#[macro_export]
macro_rules! for_each_command {
    ($then:ident) => {
        $then! {
            lock_state() -> LockState;
            unlock(pin: String) -> Unlocked;
            recover_pin(code: String, new_pin: String) -> Unlocked;
            change_pin(pin: String, new_pin: String) -> ();
            lock() -> ();
            set_idle_lock(minutes: u32) -> LockState;
            overview() -> Overview;
            join(hub_url: String, code: String, pin: Option<String>) -> Overview;
            try_demo() -> Overview;
            status() -> SyncStatus;
            sync() -> SyncReport;
            progress() -> Option<Progress>;
            walk_list() -> Vec<WalkRow>;
            walk_window(query: WalkQuery, offset: u32, limit: u32) -> WalkWindow;
            household_card(id: Id) -> HouseholdCard;
            consent_purpose() -> ConsentPurpose;
            erase_household(id: Id) -> Erasure;
            household_history(id: Id) -> Vec<HistoryEntry>;
            duplicates() -> Vec<DuplicateView>;
            merge_households(survivor: Id, duplicate: Id) -> Household;
            mark_not_duplicate(first: Id, second: Id) -> ();
            void_visit(id: Id, reason: String) -> ();
            void_household(id: Id, reason: String) -> ();
            reviews() -> Vec<ReviewItem>;
            set_review(map: String, id: Id, state: ReviewState, comment: Option<String>) -> Review;
            assign(volunteer: String, household: Id, whole_alley: bool) -> Vec<Id>;
            record_visit(input: VisitInput) -> Visit;
            save_household(input: HouseholdInput) -> Household;
            open_session(point_id: Id) -> Session;
            session() -> Option<Session>;
            close_session() -> ();
            record_walkin(input: WalkInInput) -> Option<Session>;
            dashboard() -> Dashboard;
            set_targets(targets: Targets) -> Targets;
            invite(request: InviteRequest) -> InviteView;
            devices() -> Vec<DeviceInfo>;
            revoke(device: Id) -> Vec<DeviceInfo>;
            export_report(format: ExportFormat) -> String;
            range_report(from: NaiveDate, to: NaiveDate, by: ReportBy) -> RangeReport;
            export_range_report(from: NaiveDate, to: NaiveDate, by: ReportBy, format: ExportFormat) -> String;
            print_sheet(sheet: SheetKind, group_id: Id) -> String;
        }
    };
}
