// The UI's own logic, kept pure so Vitest can check it without a window: the walk list's
// items from the store's alley runs, the virtual list's window, small formatters. (A pasted join link is
// read by Rust, where the CLI reads it too.)

import type { AgeBand, AlleyRun, AssistResult, HouseholdState, Internet, NotDoneReason, Outcome, PriorityFlags, ReviewItem, Role, Service, WalkFilter, WalkRow } from './bindings'

export type { AgeBand, AlleyRun, AssistResult, HouseholdState, Internet, NotDoneReason, Outcome, PriorityFlags, Role, Service, WalkFilter, WalkRow }

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

/** The reviews that wait on this device: a fix asked of the field, or a fix done for the
 * coordinator to approve. */
export function reviewsWaiting(reviews: ReviewItem[], coordinator: boolean): ReviewItem[] {
  return reviews.filter((r) => r.review.state === (coordinator ? 'fixed' : 'needs_fix'))
}

export function isDue(row: WalkRow, today: string): boolean {
  return row.follow_up !== null && row.follow_up <= today
}

/** An item of the rendered walk list: an alley heading (a run of the store's window), or the
 * household at `offset` in what the query selects (its row fetched when it comes into view). */
export type ListItem = { kind: 'alley'; key: string; run: AlleyRun } | { kind: 'household'; offset: number }

/** The items `start..end` of a list of `runs`, each a heading followed by its households. */
export function listItems(runs: AlleyRun[], start: number, end: number): ListItem[] {
  const items: ListItem[] = []
  let at = 0 // the item index of run k's heading
  let offset = 0 // the household offset of run k's first row
  for (let k = 0; k < runs.length && at < end; k++) {
    const run = runs[k]
    for (let i = Math.max(start, at); i < Math.min(end, at + run.count + 1); i++) {
      items.push(i === at ? { kind: 'alley', key: `a:${k}`, run } : { kind: 'household', offset: offset + i - at - 1 })
    }
    at += run.count + 1
    offset += run.count
  }
  return items
}

/** How many items a list of `runs` has: a heading and the households of each. */
export function listLength(runs: AlleyRun[]): number {
  return runs.reduce((n, r) => n + r.count + 1, 0)
}

/** The pages (of `page` rows) holding the households among `items`. */
export function pagesOf(items: ListItem[], page: number): number[] {
  const pages = new Set<number>()
  for (const item of items) if (item.kind === 'household') pages.add(Math.floor(item.offset / page))
  return [...pages].sort((a, b) => a - b)
}

/** Which items of a fixed-row-height list to render for a scroll position. */
export function virtualWindow(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 6): { start: number; end: number } {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight)
  const visible = Math.ceil(viewport / rowHeight)
  return { start: Math.max(0, first - overscan), end: Math.min(count, first + visible + overscan) }
}

/** Hanoi's day (UTC+7, no daylight saving), whatever the device's own time zone: the days of
 * reports and follow-ups are Hanoi's, as the store counts them. */
export function todayIso(now: Date = new Date()): string {
  return new Date(now.getTime() + 7 * 3600 * 1000).toISOString().slice(0, 10)
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
