// The Tauri commands the UI calls, typed. Each is one call into the `doorstep-app` crate.
import { invoke } from '@tauri-apps/api/core'
import type { AgeBand, AssistResult, Internet, Outcome, PriorityFlags, Role, Service, WalkRow } from './logic'

export interface Named { id: string; name: string }
export interface Overview {
  has_ward: boolean; ward: string | null; role: Role | null; device_name: string | null
  groups: Named[]; points: Named[]; my_groups: string[]; my_points: string[]
  hub_url: string | null; hosting: string | null
}
export interface SyncStatus { joined: boolean; outbox: number; last_sync: string | null; hub_url: string | null }
export interface SyncReport { sent_bytes: number; received_bytes: number; docs_sent: number; docs_received: number; docs_unchanged: number; outbox: number }
export interface Assist { service: Service; result: AssistResult; age_band: AgeBand | null; priority: PriorityFlags }
export interface Visit {
  id: string; household_id: string; device_time: string; volunteer: string; outcome: Outcome
  note: string | null; follow_up: { date: string; reason: string | null } | null; assists: Assist[]; received_at: string | null
}
export interface Household {
  id: string; group_id: string; alley: string; number: string; members: number | null; priority: PriorityFlags
  internet: Internet; consent: boolean; name: string | null; phone: string | null
}
export interface HouseholdCard { household: Household; group: string; visits: Visit[] }
export interface Session { point_id: string; started_at: string; session_count: number; day_count: number }
export interface Targets { online_percent: number; vneid_activated_percent: number; visited_percent: number }
export interface GroupCoverage { group: string; households: number; visited: number; assisted: number; priority_households: number; priority_visited: number }
export interface Report {
  ward: string | null; households: number; households_visited: number; households_with_internet: number
  priority_households: number; priority_households_visited: number; visits: number; walkins: number
  follow_ups_due: number; assists_by_service: Record<string, number>; by_group: GroupCoverage[]
  walkins_by_point: { point: string; walkins: number }[]
}
export interface PointNeed { group: string; households: number; unvisited: number; priority_unvisited: number; without_internet: number; score: number }
export interface Dashboard { report: Report; targets: Targets; progress: Targets; needs_point: PointNeed[] }
export interface InviteView { invite: { code: string; expires_at: string; role: Role; name: string }; link: string; qr_svg: string }
export interface DeviceInfo { device_id: string; name: string; role: Role; joined_at: string; last_seen_at: string | null; revoked_at: string | null }

export const api = {
  overview: () => invoke<Overview>('overview'),
  join: (hubUrl: string, code: string) => invoke<Overview>('join', { hubUrl, code }),
  tryDemo: () => invoke<Overview>('try_demo'),
  status: () => invoke<SyncStatus>('status'),
  sync: () => invoke<SyncReport>('sync'),
  walkList: () => invoke<WalkRow[]>('walk_list'),
  householdCard: (id: string) => invoke<HouseholdCard>('household_card', { id }),
  recordVisit: (input: { household_id: string; outcome: Outcome; assists: Assist[]; note: string | null; follow_up: { date: string; reason: string | null } | null }) =>
    invoke<Visit>('record_visit', { input }),
  saveHousehold: (input: Omit<Household, 'id'> & { id: string | null }) => invoke<Household>('save_household', { input }),
  openSession: (pointId: string) => invoke<Session>('open_session', { pointId }),
  session: () => invoke<Session | null>('session'),
  closeSession: () => invoke<void>('close_session'),
  recordWalkin: (input: { point_id: string; service: Service; result: AssistResult; age_band: AgeBand | null; priority: PriorityFlags }) =>
    invoke<Session | null>('record_walkin', { input }),
  dashboard: () => invoke<Dashboard>('dashboard'),
  setTargets: (targets: Targets) => invoke<Targets>('set_targets', { targets }),
  invite: (request: { role: Role; name: string; groups: string[]; point: string | null; expires_hours: number | null }) =>
    invoke<InviteView>('invite', { request }),
  devices: () => invoke<DeviceInfo[]>('devices'),
  revoke: (device: string) => invoke<DeviceInfo[]>('revoke', { device }),
  exportReport: (format: 'csv' | 'xlsx') => invoke<string>('export_report', { format }),
}

/** An error from a command, as one readable line. */
export function message(e: unknown): string {
  return typeof e === 'string' ? e : e instanceof Error ? e.message : JSON.stringify(e)
}
