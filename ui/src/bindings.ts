// Generated from the Rust types and the app's one list of commands (crates/doorstep-app/src/bindings.rs):
// do not edit; run `bash scripts/bindings.sh` after changing them.
import { invoke } from '@tauri-apps/api/core'

/**
 * The age band of the person helped: never a birth date.
 */
export type AgeBand = "0_17" | "18_59" | "60_plus";

/**
 * Consecutive households of one alley in the list: shown under one heading.
 */
export type AlleyRun = { group_id: string, group: string, alley: string, count: number, };

/**
 * A household handed by a coordinator to a named volunteer (its alley's round, a follow-up).
 */
export type Assignment = { 
/**
 * The volunteer's name, as their device was invited.
 */
to: string, by: string, at: string, };

/**
 * One person helped with one service.
 */
export type Assist = { service: Service, result: AssistResult, age_band: AgeBand | null, priority: PriorityFlags, };

/**
 * How far one assist got.
 */
export type AssistResult = "done" | "partial" | "needs_follow_up";

/**
 * One version of the purpose a household consents to.
 */
export type ConsentPurpose = { version: string, vi: string, en: string, };

/**
 * When a household's consent was given and withdrawn, by whom, for which purpose.
 */
export type ConsentRecord = { 
/**
 * The purpose version consented to.
 */
purpose: string | null, given_at: string | null, 
/**
 * The volunteer who asked.
 */
given_by: string | null, withdrawn_at: string | null, withdrawn_by: string | null, };

/**
 * The coordinator's dashboard.
 */
export type Dashboard = { report: Report, targets: Targets, progress: Targets, needs_point: Array<PointNeed>, 
/**
 * Overdue follow-ups per volunteer (the household's assignee, else who asked for it).
 */
overdue_by_volunteer: Array<VolunteerOverdue>, };

/**
 * A device enrolled at the hub.
 */
export type DeviceInfo = { device_id: string, name: string, role: Role, groups: Array<string>, points: Array<string>, joined_at: string, last_seen_at: string | null, revoked_at: string | null, 
/**
 * During a rotation of the hub's certificate: the next pin this device was told of.
 * A device without it must join again once the rotation is finished.
 */
next_pin: string | null, 
/**
 * The device's Ed25519 public key (base64url), which its changes are signed with; none
 * for a device that joined before changes were signed (it must join again).
 */
key: string | null, 
/**
 * The key's fingerprint (base64url of 9 bytes of its SHA-256), short enough to compare
 * by eye with the device's own `doorstep status`.
 */
key_id: string | null, };

/**
 * Why two households look like one.
 */
export type DuplicateReason = "same_address" | "same_phone" | "same_name_near_address";

/**
 * Two households of one group that look like one, as the walk list shows each, with why.
 */
export type DuplicateView = { 
/**
 * The older record: the one kept by default.
 */
first: WalkRow, second: WalkRow, reasons: Array<DuplicateReason>, };

/**
 * `POST /v1/households/{id}/erase`: a household erased at its citizen's request.
 */
export type Erasure = { household: string, 
/**
 * The residential group whose document was written anew without its history.
 */
group: string, 
/**
 * That document's new epoch: devices adopt it at their next sync.
 */
epoch: number, erased_at: string, };

/**
 * What went wrong, as a snake_case word.
 */
export type ErrorCode = "empty_text" | "text_too_long" | "id_number" | "name_without_consent" | "invalid_phone" | "members_out_of_range" | "visit_in_future" | "walkin_in_future" | "assists_without_assisted_outcome" | "no_volunteer" | "household_erased" | "unknown_consent_purpose" | "root_changed" | "schema_too_new" | "unknown_field" | "nested_object" | "wrong_type" | "field_deleted" | "record_deleted" | "bad_record_id" | "invalid_record" | "wrong_document" | "bad_change" | "missing_history" | "actor_not_yours" | "bad_signature" | "old_epoch" | "change_too_large" | "value_out_of_range" | "record_exists" | "not_your_record" | "wrong_group" | "unknown_document" | "unknown_group" | "unknown_point" | "unknown_household" | "unknown_device" | "unknown_endpoint" | "token_missing" | "token_unknown" | "token_expired" | "device_revoked" | "token_rotating" | "invite_code_invalid" | "too_many_attempts" | "device_rate_limited" | "out_of_scope" | "coordinator_only" | "bad_request" | "bad_sync_body" | "body_too_large" | "invalid_invite" | "push_too_large" | "request_timeout" | "hub_busy" | "no_ward" | "ward_exists" | "no_groups" | "duplicate_group" | "duplicate_point" | "empty_update" | "cannot_merge" | "other_ward" | "database_too_new" | "not_joined" | "no_hub" | "hub_exists" | "unknown_ward" | "ward_needed" | "hub_listen_failed" | "export_failed" | "no_rotation" | "devices_not_repinned" | "bad_hub_url" | "pin_missing" | "hub_pin_mismatch" | "hub_unreachable" | "bad_hub_answer" | "too_many_rounds" | "hub_failed" | "locked" | "pin_needed" | "wrong_pin" | "wait_before_retry" | "weak_pin" | "wrong_recovery_code" | "keystore_unavailable" | "wrong_database_key" | "database_encrypted" | "device_wiped" | "unsynced_work" | "wrong_backup_passphrase" | "bad_backup" | "internal";

/**
 * The file formats a report exports to.
 */
export type ExportFormat = "csv" | "xlsx";

/**
 * Something the team must come back for, e.g. "L2 at police station on Friday".
 */
export type FollowUp = { date: string, reason: string | null, };

/**
 * An open follow-up (no later visit to the household) whose date has come.
 */
export type FollowUpDue = { household_id: string, visit_id: string, group: string, alley: string, number: string, date: string, reason: string | null, };

/**
 * Households and coverage in one residential group.
 */
export type GroupCoverage = { group: string, households: number, 
/**
 * Households with at least one visit, whatever its outcome (the door was knocked on).
 */
visited: number, 
/**
 * Households with at least one visit whose outcome was `assisted`.
 */
assisted: number, priority_households: number, priority_visited: number, };

/**
 * One line of `GET /v1/households/{id}/history`, from the hub's audit log (which keeps who
 * changed which fields when, never a value).
 */
export type HistoryEntry = { 
/**
 * When the hub received it.
 */
at: string, 
/**
 * `created`, `changed`, `visit`, `erased`, `history_erased` (a consent withdrawn: its
 * document written anew) or `retention`.
 */
what: string, 
/**
 * The device's holder (or `hub`).
 */
by: string, fields: Array<string>, 
/**
 * For a visit: its id.
 */
visit: string | null, 
/**
 * The device whose signature the change carries (none for the hub's own entries, or a
 * change from before changes were signed): who made it, whatever the record says.
 */
signed_by: string | null, 
/**
 * Whether that signature verifies, now, against the signer's key and the change's hash.
 */
verified: boolean, };

/**
 * A household, found by its address path (group › alley › house number), never by GPS.
 */
export type Household = { id: string, group_id: string, alley: string, number: string, members: number | null, priority: PriorityFlags, internet: Internet, 
/**
 * The household agreed that its display name and phone may be recorded.
 */
consent: boolean, name: string | null, phone: string | null, created_at: string, 
/**
 * Erased at the citizen's request, the consent's withdrawal or the end of the retention
 * period: its name, phone and history are gone; its visits still count.
 */
erased_at: string | null, 
/**
 * When consent was given and withdrawn, by whom, for which purpose.
 */
consent_record: ConsentRecord, 
/**
 * Merged by a coordinator into this household (a duplicate): it is no longer counted,
 * its visits count for the survivor. Set once, never undone.
 */
merged_into: string | null, 
/**
 * Households a coordinator said are not duplicates of this one (not listed again).
 */
not_duplicate_of: Array<string>, 
/**
 * Voided (not a household: recorded by mistake): kept, never listed or counted.
 */
voided: Void | null, review: Review | null, assignment: Assignment | null, state: HouseholdState, };

/**
 * A household with its group's name and its visits, newest first.
 */
export type HouseholdCard = { household: Household, group: string, visits: Array<Visit>, 
/**
 * Reviews of the household and of its visits.
 */
reviews: Array<ReviewItem>, };

/**
 * A household as the household form sends it (no id: a new household).
 */
export type HouseholdInput = { id: string | null, group_id: string, 
/**
 * What is at the address (`lives_here` when not given).
 */
state: HouseholdState | null, alley: string, number: string, members: number | null, priority: PriorityFlags, internet: Internet, consent: boolean, name: string | null, phone: string | null, };

/**
 * What is at an address. Coverage counts only addresses where people live
 * (`lives_here`, `temporary_residents`); the others are addresses checked, not households
 * to reach, and are reported apart.
 */
export type HouseholdState = "lives_here" | "vacant" | "moved_away" | "business" | "temporary_residents" | "no_such_address";

/**
 * Whether a household has internet at home.
 */
export type Internet = "yes" | "no" | "unknown";

/**
 * `POST /v1/invites` (coordinator devices): make an invite code.
 */
export type InviteRequest = { role: Role, 
/**
 * Who the invite is for, e.g. "Tổ 3 – Nguyễn Thu Trang".
 */
name: string, 
/**
 * Residential group names (volunteers).
 */
groups: Array<string>, 
/**
 * Literacy point name (students).
 */
point: string | null, 
/**
 * Hours until the code expires (default 24, at most 168).
 */
expires_hours: number | null, };

/**
 * A new invite code. It is shown once: the hub keeps only its hash.
 */
export type InviteResponse = { code: string, expires_at: string, role: Role, name: string, groups: Array<Named>, points: Array<Named>, };

/**
 * An invite with what to show: the code, a join link and its QR code.
 */
export type InviteView = { invite: InviteResponse, link: string, qr_svg: string, };

/**
 * What the lock screen shows.
 */
export type LockState = { 
/**
 * A PIN was set (otherwise the lock screen asks for a new one, twice).
 */
has_pin: boolean, locked: boolean, 
/**
 * Wrong PINs in a row, kept across restarts.
 */
failed: number, 
/**
 * Seconds before another try is accepted.
 */
wait_seconds: number, 
/**
 * Minutes of no touch before the app locks (0: never).
 */
idle_lock_minutes: number, };

/**
 * A residential group or literacy point a device works in.
 */
export type Named = { id: string, name: string, };

/**
 * Why what a visit came for was not done.
 */
export type NotDoneReason = "no_smartphone" | "sim_not_own_name" | "needs_level2_at_police" | "forgot_password_otp" | "no_internet" | "other";

/**
 * What happened at the door.
 */
export type Outcome = "assisted" | "not_home" | "declined" | "revisit";

/**
 * Who this device is and what it holds: decides the home screen.
 */
export type Overview = { has_ward: boolean, ward: string | null, 
/**
 * `None` before joining a hub (a device with a local ward acts as coordinator).
 */
role: Role | null, device_name: string | null, groups: Array<Named>, points: Array<Named>, 
/**
 * The groups and points this device works in (all of them for a coordinator).
 */
my_groups: Array<string>, my_points: Array<string>, hub_url: string | null, 
/**
 * The address this device serves the ward hub on, when it hosts it.
 */
hosting: string | null, };

/**
 * Walk-ins counted at one literacy point.
 */
export type PointCount = { point: string, walkins: number, };

/**
 * A group ranked by how much it needs a literacy point.
 */
export type PointNeed = { group: string, households: number, unvisited: number, priority_unvisited: number, without_internet: number, score: number, };

/**
 * One priority group of the campaign ("no one left behind").
 */
export type Priority = "elderly" | "disability" | "poor" | "near_poor";

/**
 * The priority groups a household or a person helped belongs to.
 */
export type PriorityFlags = { elderly: boolean, disability: boolean, poor: boolean, near_poor: boolean, };

/**
 * What a long task has done so far (`App::progress`): a sync counts bytes (and documents),
 * building the demo ward counts households.
 */
export type Progress = { task: ProgressTask, done: number, total: number, documents_done: number, documents_total: number, };

export type ProgressTask = "sync" | "demo";

/**
 * A report over a date range (days in Vietnam's time, UTC+7), row by row.
 */
export type RangeReport = { from: string, to: string, by: ReportBy, rows: Array<RangeRow>, total: RangeRow, };

/**
 * The figures of one row of a range report: one day, one residential group (or literacy
 * point), or one volunteer (or literacy point).
 */
export type RangeRow = { 
/**
 * The day (`2026-11-25`), the group's or volunteer's name, or `Điểm: NAME` for a
 * literacy point's walk-ins.
 */
key: string, visits: number, 
/**
 * Distinct households visited.
 */
households_reached: number, 
/**
 * Distinct households visited in each priority group.
 */
priority_households_reached: { [key in Priority]?: number }, 
/**
 * People assisted (one assist is one person helped with one service), door to door and
 * at literacy points, whatever the result.
 */
people_assisted: number, 
/**
 * Assists by service and result.
 */
assists_by_service_and_result: { [key in Service]?: { [key in AssistResult]?: number } }, 
/**
 * People assisted by age band (`unknown` when not recorded).
 */
people_by_age_band: { [key in string]: number }, 
/**
 * People assisted in each priority group.
 */
people_by_priority: { [key in Priority]?: number }, 
/**
 * VNeID accounts activated (`vneid_activate` done).
 */
vneid_activations: number, 
/**
 * Level-2 VNeID guides done (`vneid_level2_guide` done).
 */
level2_guides: number, walkins: number, };

/**
 * The merged picture of the ward as this device holds it.
 */
export type Report = { ward: string | null, 
/**
 * The day follow-ups are counted as due against.
 */
today: string, 
/**
 * Households coverage counts: people live there (`lives_here`, `temporary_residents`).
 */
households: number, 
/**
 * Addresses checked where no household is to be reached, by what was found there.
 */
addresses_not_households: { [key in HouseholdState]?: number }, 
/**
 * Visits by why what they came for was not done.
 */
not_done_reasons: { [key in NotDoneReason]?: number }, households_visited: number, households_assisted: number, households_with_internet: number, priority_households: number, priority_households_visited: number, visits: number, visits_by_outcome: { [key in Outcome]?: number }, 
/**
 * Assists of every result, door to door and at literacy points.
 */
assists: number, 
/**
 * Service → number of assists done (result `done`), door to door and at literacy points.
 */
assists_by_service: { [key in Service]?: number }, 
/**
 * Service → result → number of assists, door to door and at literacy points.
 */
assists_by_service_and_result: { [key in Service]?: { [key in AssistResult]?: number } }, walkins: number, walkins_by_point: Array<PointCount>, by_group: Array<GroupCoverage>, follow_ups_due: number, follow_ups: Array<FollowUpDue>, };

/**
 * How a range report is broken down: per day, per residential group, per volunteer.
 */
export type ReportBy = "day" | "group" | "volunteer";

/**
 * A coordinator's review of a household or visit, and the volunteer's answer.
 */
export type Review = { state: ReviewState, comment: string | null, 
/**
 * Who set the state, and when.
 */
by: string, at: string, };

/**
 * A review as the lists show it: what it is on (`households` or `visits`), where, its state.
 */
export type ReviewItem = { id: string, map: string, group_id: string, household_id: string, 
/**
 * The household's alley and number.
 */
address: string, review: Review, };

/**
 * Where a coordinator's review of a record stands.
 */
export type ReviewState = "needs_fix" | "fixed" | "approved";

/**
 * What a device may do in its ward: decides which documents it receives and may change.
 */
export type Role = "volunteer" | "student" | "coordinator";

/**
 * A service a team or a literacy point helps someone with.
 */
export type Service = "vneid_install" | "vneid_activate" | "vneid_level2_guide" | "ihanoi" | "public_service_portal" | "mps_portal" | "etax" | "vssid" | "cashless_payment" | "internet_access" | "other";

/**
 * An open literacy-point session and its running counts.
 */
export type Session = { 
/**
 * Named by every walk-in recorded in it.
 */
id: string, point_id: string, started_at: string, session_count: number, day_count: number, };

/**
 * The two sheets.
 */
export type SheetKind = "walk_list" | "follow_ups";

/**
 * A document the hub refused at the last sync, kept on the device (its changes stay in the
 * outbox and are offered again at every sync) and shown with the hub's reason until a sync
 * takes it. The rest of the outbox syncs around it.
 */
export type SyncProblem = { 
/**
 * The document, as `group/<id>`, `point/<id>` or `ward/<id>`.
 */
doc: string, 
/**
 * What it holds, as people name it: the residential group's or literacy point's name, or
 * the ward's.
 */
name: string, code: ErrorCode, 
/**
 * The hub's own words (for the log and the coordinator; the UI shows the code's text).
 */
message: string, 
/**
 * Changes of this document still waiting.
 */
changes: number, at: string, };

/**
 * What one sync did, in bytes on the wire (bodies, HTTP headers aside) and documents.
 */
export type SyncReport = { sent_bytes: number, received_bytes: number, docs_sent: number, docs_received: number, docs_unchanged: number, rounds: number, 
/**
 * Transactions the rounds were written in: fewer than the rounds when a long pull's
 * rounds are written a few at a time.
 */
writes: number, 
/**
 * Changes the hub has still not acknowledged (0 after a complete sync).
 */
outbox: number, 
/**
 * Documents the hub had rewritten to erase personal data, taken in place of this
 * device's copies.
 */
epochs_adopted: number, 
/**
 * Erased households whose edits on this device (not synced before the erasure) were
 * dropped, never sent.
 */
erased_edits_dropped: Array<string>, 
/**
 * Documents the hub refused: kept on this device, the rest synced without them.
 */
refused: Array<SyncProblem>, 
/**
 * The hub had been restored from a backup: this device sent it what it lacked.
 */
hub_restored: boolean, };

/**
 * The sync bar: always visible.
 */
export type SyncStatus = { joined: boolean, outbox: number, last_sync: string | null, hub_url: string | null, 
/**
 * Documents the hub refused at the last sync, kept here with its reason; the rest synced.
 */
problems: Array<SyncProblem>, };

/**
 * Campaign targets the coordinator sets, in percent of households.
 */
export type Targets = { online_percent: number, vneid_activated_percent: number, visited_percent: number, };

/**
 * What an unlock gives: the home screen, and the recovery code when this unlock set the PIN.
 */
export type Unlocked = { overview: Overview, 
/**
 * Shown once, to be written down and kept apart from the phone.
 */
recovery_code: string | null, };

/**
 * A knock on a household's door and what came of it. Visits are only ever added.
 */
export type Visit = { id: string, household_id: string, group_id: string, 
/**
 * The device's clock when the visit was recorded (devices lie: see the sync issue).
 */
device_time: string, volunteer: string, outcome: Outcome, note: string | null, follow_up: FollowUp | null, assists: Array<Assist>, 
/**
 * When the hub first received the visit, by the hub's clock; `None` until then. Not
 * part of what the volunteer records: a device learns it from the hub.
 */
received_at: string | null, 
/**
 * Voided by its volunteer or a coordinator: kept, never counted.
 */
voided: Void | null, review: Review | null, 
/**
 * Why what the visit came for was not done (when it was not).
 */
not_done_reason: NotDoneReason | null, };

/**
 * A visit as the visit form sends it.
 */
export type VisitInput = { household_id: string, outcome: Outcome, assists: Array<Assist>, note: string | null, follow_up: FollowUp | null, 
/**
 * Why what the visit came for was not done.
 */
not_done_reason: NotDoneReason | null, };

/**
 * A record voided by a mistake (a mis-tapped visit, a household that is not one): kept, for
 * the audit, and left out of every list and count. A void is final.
 */
export type Void = { at: string, 
/**
 * Who voided it (the name the device was invited under).
 */
by: string, reason: string, };

/**
 * One volunteer's overdue follow-ups.
 */
export type VolunteerOverdue = { volunteer: string, overdue: number, };

/**
 * Which households the list shows.
 */
export type WalkFilter = "all" | "not_visited" | "priority" | "follow_up" | "mine";

/**
 * A walk-in as the literacy-point screen sends it.
 */
export type WalkInInput = { point_id: string, service: Service, result: AssistResult, age_band: AgeBand | null, priority: PriorityFlags, };

/**
 * A volunteer's question to the walk list.
 */
export type WalkQuery = { 
/**
 * Words of an alley and number, a name, or three digits or more of a phone; accents,
 * case and spacing do not matter.
 */
search: string, filter: WalkFilter, 
/**
 * The device's day (follow-ups due).
 */
today: string, 
/**
 * Only these residential groups (the device's own); `None`: every group it holds.
 */
groups: Array<string> | null, 
/**
 * The volunteer this device records as: what was handed to them comes first.
 */
me: string | null, };

/**
 * One line of a volunteer's walk list: a household and where its visits stand.
 */
export type WalkRow = { id: string, group_id: string, group: string, alley: string, number: string, members: number | null, priority: PriorityFlags, internet: Internet, name: string | null, visits: number, last_outcome: Outcome | null, last_visit: string | null, 
/**
 * The open follow-up's date (the latest visit asked for one).
 */
follow_up: string | null, 
/**
 * What the open follow-up is for, as the volunteer wrote it.
 */
follow_up_reason: string | null, 
/**
 * The volunteer a coordinator handed this household to.
 */
assigned_to: string | null, 
/**
 * Recorded only with the household's consent: searched and called from the list.
 */
phone: string | null, };

/**
 * What the screen shows of the walk list: how many households the query selects, their
 * alley runs in order, the rows `offset..offset + rows.len()` of them, and the counts the
 * toolbar shows (of the device's groups, whatever the query).
 */
export type WalkWindow = { total: number, runs: Array<AlleyRun>, offset: number, rows: Array<WalkRow>, 
/**
 * Follow-ups due today or earlier.
 */
due: number, 
/**
 * Households handed to this device's volunteer.
 */
handed: number, };

/** Every code a refusal can carry, in the order Rust declares them. */
export const ERROR_CODES: readonly ErrorCode[] = [
  'empty_text',
  'text_too_long',
  'id_number',
  'name_without_consent',
  'invalid_phone',
  'members_out_of_range',
  'visit_in_future',
  'walkin_in_future',
  'assists_without_assisted_outcome',
  'no_volunteer',
  'household_erased',
  'unknown_consent_purpose',
  'root_changed',
  'schema_too_new',
  'unknown_field',
  'nested_object',
  'wrong_type',
  'field_deleted',
  'record_deleted',
  'bad_record_id',
  'invalid_record',
  'wrong_document',
  'bad_change',
  'missing_history',
  'actor_not_yours',
  'bad_signature',
  'old_epoch',
  'change_too_large',
  'value_out_of_range',
  'record_exists',
  'not_your_record',
  'wrong_group',
  'unknown_document',
  'unknown_group',
  'unknown_point',
  'unknown_household',
  'unknown_device',
  'unknown_endpoint',
  'token_missing',
  'token_unknown',
  'token_expired',
  'device_revoked',
  'token_rotating',
  'invite_code_invalid',
  'too_many_attempts',
  'device_rate_limited',
  'out_of_scope',
  'coordinator_only',
  'bad_request',
  'bad_sync_body',
  'body_too_large',
  'invalid_invite',
  'push_too_large',
  'request_timeout',
  'hub_busy',
  'no_ward',
  'ward_exists',
  'no_groups',
  'duplicate_group',
  'duplicate_point',
  'empty_update',
  'cannot_merge',
  'other_ward',
  'database_too_new',
  'not_joined',
  'no_hub',
  'hub_exists',
  'unknown_ward',
  'ward_needed',
  'hub_listen_failed',
  'export_failed',
  'no_rotation',
  'devices_not_repinned',
  'bad_hub_url',
  'pin_missing',
  'hub_pin_mismatch',
  'hub_unreachable',
  'bad_hub_answer',
  'too_many_rounds',
  'hub_failed',
  'locked',
  'pin_needed',
  'wrong_pin',
  'wait_before_retry',
  'weak_pin',
  'wrong_recovery_code',
  'keystore_unavailable',
  'wrong_database_key',
  'database_encrypted',
  'device_wiped',
  'unsynced_work',
  'wrong_backup_passphrase',
  'bad_backup',
  'internal',
]

/** What a failed command rejects with. */
export type CommandError = { code: ErrorCode, message: string };

/** The app's commands, one typed function each. */
export const commands = {
  lockState: () => invoke<LockState>('lock_state'),
  unlock: (pin: string) => invoke<Unlocked>('unlock', { pin }),
  recoverPin: (code: string, newPin: string) => invoke<Unlocked>('recover_pin', { code, newPin }),
  changePin: (pin: string, newPin: string) => invoke<null>('change_pin', { pin, newPin }),
  lock: () => invoke<null>('lock'),
  setIdleLock: (minutes: number) => invoke<LockState>('set_idle_lock', { minutes }),
  overview: () => invoke<Overview>('overview'),
  join: (hubUrl: string, code: string, pin: string | null) => invoke<Overview>('join', { hubUrl, code, pin }),
  tryDemo: () => invoke<Overview>('try_demo'),
  status: () => invoke<SyncStatus>('status'),
  sync: () => invoke<SyncReport>('sync'),
  progress: () => invoke<Progress | null>('progress'),
  walkList: () => invoke<Array<WalkRow>>('walk_list'),
  walkWindow: (query: WalkQuery, offset: number, limit: number) => invoke<WalkWindow>('walk_window', { query, offset, limit }),
  householdCard: (id: string) => invoke<HouseholdCard>('household_card', { id }),
  consentPurpose: () => invoke<ConsentPurpose>('consent_purpose'),
  eraseHousehold: (id: string) => invoke<Erasure>('erase_household', { id }),
  householdHistory: (id: string) => invoke<Array<HistoryEntry>>('household_history', { id }),
  duplicates: () => invoke<Array<DuplicateView>>('duplicates'),
  mergeHouseholds: (survivor: string, duplicate: string) => invoke<Household>('merge_households', { survivor, duplicate }),
  markNotDuplicate: (first: string, second: string) => invoke<null>('mark_not_duplicate', { first, second }),
  voidVisit: (id: string, reason: string) => invoke<null>('void_visit', { id, reason }),
  voidHousehold: (id: string, reason: string) => invoke<null>('void_household', { id, reason }),
  reviews: () => invoke<Array<ReviewItem>>('reviews'),
  setReview: (map: string, id: string, state: ReviewState, comment: string | null) => invoke<Review>('set_review', { map, id, state, comment }),
  assign: (volunteer: string, household: string, wholeAlley: boolean) => invoke<Array<string>>('assign', { volunteer, household, wholeAlley }),
  recordVisit: (input: VisitInput) => invoke<Visit>('record_visit', { input }),
  saveHousehold: (input: HouseholdInput) => invoke<Household>('save_household', { input }),
  openSession: (pointId: string) => invoke<Session>('open_session', { pointId }),
  session: () => invoke<Session | null>('session'),
  closeSession: () => invoke<null>('close_session'),
  recordWalkin: (input: WalkInInput) => invoke<Session | null>('record_walkin', { input }),
  dashboard: () => invoke<Dashboard>('dashboard'),
  setTargets: (targets: Targets) => invoke<Targets>('set_targets', { targets }),
  invite: (request: InviteRequest) => invoke<InviteView>('invite', { request }),
  devices: () => invoke<Array<DeviceInfo>>('devices'),
  revoke: (device: string) => invoke<Array<DeviceInfo>>('revoke', { device }),
  exportReport: (format: ExportFormat) => invoke<string>('export_report', { format }),
  rangeReport: (from: string, to: string, by: ReportBy) => invoke<RangeReport>('range_report', { from, to, by }),
  exportRangeReport: (from: string, to: string, by: ReportBy, format: ExportFormat) => invoke<string>('export_range_report', { from, to, by, format }),
  printSheet: (sheet: SheetKind, groupId: string) => invoke<string>('print_sheet', { sheet, groupId }),
}
