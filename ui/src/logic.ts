// The UI's own logic, kept pure so Vitest can check it without a window: walk-list
// filtering and grouping, the virtual list's window, small formatters. (A pasted join link is
// read by Rust, where the CLI reads it too.)

import type { AgeBand, AssistResult, HouseholdState, Internet, NotDoneReason, Outcome, PriorityFlags, Role, Service, WalkRow } from './bindings'

export type { AgeBand, AssistResult, HouseholdState, Internet, NotDoneReason, Outcome, PriorityFlags, Role, Service, WalkRow }

export type Filter = 'all' | 'not_visited' | 'priority' | 'follow_up' | 'mine'

export const SERVICES: readonly Service[] = [
  'vneid_install', 'vneid_activate', 'vneid_level2_guide', 'ihanoi', 'public_service_portal',
  'mps_portal', 'etax', 'vssid', 'cashless_payment', 'internet_access', 'other',
]
export const OUTCOMES: Outcome[] = ['assisted', 'not_home', 'declined', 'revisit']
export const RESULTS: AssistResult[] = ['done', 'partial', 'needs_follow_up']
export const AGE_BANDS: AgeBand[] = ['0_17', '18_59', '60_plus']
export const PRIORITIES: (keyof PriorityFlags)[] = ['elderly', 'disability', 'poor', 'near_poor']
export const HOUSEHOLD_STATES: HouseholdState[] = ['lives_here', 'temporary_residents', 'vacant', 'moved_away', 'business', 'no_such_address']
export const NOT_DONE_REASONS: NotDoneReason[] = ['no_smartphone', 'sim_not_own_name', 'needs_level2_at_police', 'forgot_password_otp', 'no_internet', 'other']

export function noPriority(): PriorityFlags {
  return { elderly: false, disability: false, poor: false, near_poor: false }
}

export function anyPriority(p: PriorityFlags): boolean {
  return p.elderly || p.disability || p.poor || p.near_poor
}

/** Vietnamese-insensitive search text: lowercase, accents and đ folded. */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/đ/gi, 'd').toLowerCase()
}

export function isDue(row: WalkRow, today: string): boolean {
  return row.follow_up !== null && row.follow_up <= today
}

/** The rows a volunteer asked for: search by alley or house number, then a filter. */
/** Whether a row matches a folded query: its alley and number, its name, or (three digits or
 * more) its phone, whatever the spacing; name and phone are there only with consent. */
function matches(r: WalkRow, q: string): boolean {
  if (fold(`${r.alley} ${r.number} ${r.alley} số ${r.number} ${r.name ?? ''}`).includes(q) || fold(r.number).startsWith(q)) return true
  const digits = q.replace(/\D/g, '')
  return digits.length >= 3 && digits.length === q.replace(/[\s.+-]/g, '').length && !!r.phone && r.phone.replace(/\D/g, '').includes(digits)
}

/** The households a coordinator handed to `me` first (each part keeps walk order). */
export function assignedFirst(rows: WalkRow[], me: string | null): WalkRow[] {
  if (!me) return rows
  const mine = rows.filter((r) => r.assigned_to === me)
  return mine.length === 0 ? rows : [...mine, ...rows.filter((r) => r.assigned_to !== me)]
}

export function filterRows(rows: WalkRow[], search: string, filter: Filter, today: string, groups?: Set<string>, me?: string | null): WalkRow[] {
  const q = fold(search.trim())
  return rows.filter((r) => {
    if (groups && !groups.has(r.group_id)) return false
    if (q && !matches(r, q)) return false
    switch (filter) {
      case 'not_visited':
        return r.visits === 0
      case 'priority':
        return anyPriority(r.priority)
      case 'follow_up':
        return isDue(r, today)
      case 'mine':
        return !!me && r.assigned_to === me
      default:
        return true
    }
  })
}

/** A row of the rendered walk list: an alley heading, or a household. */
export type ListItem = { kind: 'alley'; key: string; group: string; alley: string; count: number } | { kind: 'household'; key: string; row: WalkRow }

/** Rows grouped under alley headings, in walk order. */
export function withAlleyHeadings(rows: WalkRow[]): ListItem[] {
  const items: ListItem[] = []
  let heading: Extract<ListItem, { kind: 'alley' }> | null = null
  for (const row of rows) {
    if (!heading || heading.alley !== row.alley || heading.group !== row.group) {
      heading = { kind: 'alley', key: `a:${row.group_id}:${row.alley}:${items.length}`, group: row.group, alley: row.alley, count: 0 }
      items.push(heading)
    }
    heading.count += 1
    items.push({ kind: 'household', key: row.id, row })
  }
  return items
}

/** Which items of a fixed-row-height list to render for a scroll position. */
export function virtualWindow(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 6): { start: number; end: number } {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight)
  const visible = Math.ceil(viewport / rowHeight)
  return { start: Math.max(0, first - overscan), end: Math.min(count, first + visible + overscan) }
}

export function todayIso(now: Date = new Date()): string {
  const local = new Date(now.getTime() - now.getTimezoneOffset() * 60000)
  return local.toISOString().slice(0, 10)
}

export function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((1000 * part) / whole) / 10
}

/** Why a PIN being set is refused (an i18n key), or null: at least 6 digits, typed twice alike. */
export function pinProblem(pin: string, again: string): 'pin_too_short' | 'pin_mismatch' | null {
  if (!/^[0-9]{6,}$/.test(pin)) return 'pin_too_short'
  if (pin !== again) return 'pin_mismatch'
  return null
}

/** Whether an app idle since `lastActive` (ms) locks at `now` after `minutes` (0: never). */
export function idleExpired(lastActive: number, now: number, minutes: number): boolean {
  return minutes > 0 && now - lastActive >= minutes * 60_000
}

/** Whether a failed sync means the hub was not reached (normal in an alley: try later) rather
 * than reached and refused (a revoked or expired token, a hub that does not know the device). */
export function unreachable(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code
  return code === 'hub_unreachable' || code === 'request_timeout' || code === 'hub_busy'
}

/** Bytes as megabytes with one decimal, the way a progress bar says them ("1.2"). */
export function megabytes(bytes: number): string {
  return (bytes / 1_000_000).toFixed(1)
}
