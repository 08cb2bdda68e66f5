// The app's frame: the lock screen until the PIN opens the data (and again after the idle
// time), then first run or home screen by role, the always-visible sync bar, the language
// switch, and the tabs.
import { html } from 'htm/preact'
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api, errorText, type LockState, type Overview, type SyncProblem, type SyncStatus, type Unlocked } from './api'
import { lang, onLangChange, setLang, t, type Key } from './i18n'
import { FirstRun } from './first-run'
import { WalkList } from './walk-list'
import { PointScreen } from './point'
import { DashboardScreen, type DashboardLinks } from './dashboard'
import { DevicesScreen } from './devices'
import { LockScreen, RecoveryCode } from './lock'
import { idleExpired, unreachable } from './logic'
import { ProgressBar, useProgress } from './progress'
import { SyncQueue, type SyncQueueState } from './sync-queue'

const IDLE_CHECK_MS = 10_000

type Tab = 'walk' | 'point' | 'dashboard' | 'devices'

function tabsFor(o: Overview): Tab[] {
  switch (o.role) {
    case 'volunteer':
      return ['walk']
    case 'student':
      return ['point']
    default:
      return ['dashboard', 'walk', 'point', 'devices']
  }
}

const TAB_LABEL: Record<Tab, Key> = { walk: 'tab_walk', point: 'tab_point', dashboard: 'tab_dashboard', devices: 'tab_devices' }
const AUTO_SYNC_MS = 60_000

function timeOf(iso: string): string {
  return new Date(iso).toLocaleString(lang() === 'vi' ? 'vi-VN' : 'en-GB', { hour: '2-digit', minute: '2-digit', day: '2-digit', month: '2-digit' })
}

/** What the last sync found: the hub answered (`on`), could not be reached (`off`), or answered
 * with a refusal (`refused`: a token revoked or expired, a hub that does not know the device). */
type Link = 'on' | 'off' | 'refused'

const LINK_LABEL: Record<Link, Key> = { on: 'online', off: 'offline', refused: 'sync_refused' }

/** Documents the hub refused: which, why, that their changes are kept, what to do. */
function SyncProblems({ problems }: { problems: SyncProblem[] }) {
  if (problems.length === 0) return null
  return html`<div class="sync-problems" data-testid="sync-problems">
    <b>${t('sync_problems', { n: problems.length })}</b>
    <ul>${problems.map((p) => html`<li data-testid="sync-problem"><b>${p.name}</b>: ${errorText(p)} ${t('sync_problem_kept', { n: p.changes })}</li>`)}</ul>
    <p>${t('sync_problem_todo')}</p>
  </div>`
}

/** The sync bar. Its button is never disabled: a tap while a sync runs queues one more, and
 * the button says so. */
function SyncBar({ status, link, syncing, synced, note, onSync }: { status: SyncStatus | null; link: Link | null; syncing: SyncQueueState; synced: number; note: string; onSync: () => void }) {
  const progress = useProgress(syncing.running)
  if (!status) return null
  const shown = link ?? 'off'
  // What a test (or an assistive tool) waits on: syncs ended so far, and whether one runs or waits.
  const state = syncing.queued ? 'queued' : syncing.running ? 'running' : 'idle'
  return html`<div class="syncbar" data-testid="syncbar" data-syncs=${synced} data-sync-state=${state}>
    <span class=${'dot ' + shown} data-testid="online">${t(LINK_LABEL[shown])}</span>
    <span data-testid="outbox">${t('outbox', { n: status.outbox })}</span>
    <span class="muted">${status.last_sync ? t('last_sync', { t: timeOf(status.last_sync) }) : t('never_synced')}</span>
    ${status.joined && html`<button class="small" data-testid="sync" aria-busy=${syncing.running} onClick=${onSync}>${syncing.running ? t('syncing') : t('sync')}</button>`}
    ${syncing.queued && html`<span class="muted small-text" data-testid="sync-queued">${t('sync_queued')}</span>`}
    <${ProgressBar} progress=${progress} />
    ${note && html`<div class="note" data-testid="sync-note">${note}</div>`}
    <${SyncProblems} problems=${status.problems} />
  </div>`
}

export function App() {
  const [, rerender] = useState(0)
  const [overview, setOverview] = useState<Overview | null>(null)
  const [error, setError] = useState('')
  const [tab, setTab] = useState<Tab | null>(null)
  // The walk list opens on its review list when the dashboard's reviews card sent it there.
  const [walkStart, setWalkStart] = useState<'list' | 'reviews'>('list')
  const [status, setStatus] = useState<SyncStatus | null>(null)
  const [link, setLink] = useState<Link | null>(null)
  const [syncing, setSyncing] = useState<SyncQueueState>({ running: false, queued: false })
  const [synced, setSynced] = useState(0)
  const [note, setNote] = useState('')
  const [version, setVersion] = useState(0)
  const [lock, setLock] = useState<LockState | null>(null)
  const [recovery, setRecovery] = useState<string | null>(null)

  useEffect(() => onLangChange(() => rerender((n) => n + 1)), [])
  useEffect(() => {
    api
      .lockState()
      .then(async (s) => {
        setLock(s)
        if (!s.locked) setOverview(await api.overview())
      })
      .catch((e) => setError(errorText(e)))
  }, [])

  const unlocked = useCallback((u: Unlocked) => {
    setRecovery(u.recovery_code)
    setOverview(u.overview)
    api.lockState().then(setLock).catch((e) => setError(errorText(e)))
  }, [])

  const lockNow = useCallback(async () => {
    await api.lock()
    setOverview(null)
    setStatus(null)
    setLock(await api.lockState())
  }, [])

  // Locks after the idle time: any touch or key counts as activity.
  useEffect(() => {
    if (!lock || lock.locked || lock.idle_lock_minutes <= 0) return
    let last = Date.now()
    const active = () => {
      last = Date.now()
    }
    const events = ['pointerdown', 'keydown', 'wheel', 'touchstart']
    events.forEach((e) => document.addEventListener(e, active, { capture: true, passive: true }))
    const timer = setInterval(() => {
      if (idleExpired(last, Date.now(), lock.idle_lock_minutes)) void lockNow()
    }, IDLE_CHECK_MS)
    return () => {
      clearInterval(timer)
      events.forEach((e) => document.removeEventListener(e, active, { capture: true }))
    }
  }, [lock, lockNow])

  // The outbox shown is never older than the last save: answers to status requests may come
  // back out of order (a save's while a sync ends), so an answer is shown only when no later
  // request's answer has been (one that fails leaves the earlier answers their turn).
  const statusAsked = useRef(0)
  const statusShown = useRef(0)
  const refreshStatus = useCallback(() => {
    const asked = ++statusAsked.current
    api
      .status()
      .then((s) => {
        if (asked < statusShown.current) return
        statusShown.current = asked
        setStatus(s)
      })
      .catch(() => undefined)
  }, [])

  const doSync = useCallback(
    async (quiet: boolean) => {
      try {
        const r = await api.sync()
        setLink('on')
        if (r.erased_edits_dropped.length > 0) setNote(t('erased_edits_dropped', { n: r.erased_edits_dropped.length }))
        else if (!quiet) setNote(t('synced', { sent: r.docs_sent, received: r.docs_received }))
        // The hub answers again: a failure shown by an earlier automatic sync is over.
        else setNote('')
        if (r.docs_received > 0) setVersion((v) => v + 1)
        // The ward's idle lock is set by a coordinator and arrives by sync.
        const fresh = await api.lockState()
        setLock((old) => (old && old.idle_lock_minutes === fresh.idle_lock_minutes ? old : fresh))
      } catch (e) {
        // Out of reach is normal in an alley; a refusal is not, and is shown even when the
        // automatic sync met it.
        const away = unreachable(e)
        setLink(away ? 'off' : 'refused')
        if (!quiet || !away) setNote(t('sync_failed', { error: errorText(e) }))
      } finally {
        setSynced((n) => n + 1)
        refreshStatus()
      }
    },
    [refreshStatus],
  )

  // Every sync goes through one queue: the app opening, the minute timer (the retry while the
  // hub is out of reach), saves and taps.
  const queue = useMemo(() => new SyncQueue(doSync, setSyncing), [doSync])
  useEffect(() => () => queue.dispose(), [queue])

  useEffect(() => {
    if (!overview?.has_ward) return
    refreshStatus()
    if (!overview.role) return
    queue.request('start')
    const timer = setInterval(() => queue.request('timer'), AUTO_SYNC_MS)
    return () => {
      clearInterval(timer)
      // Locked (or another ward): what was waiting to sync waits for the next unlock.
      queue.clear()
    }
  }, [overview, queue, refreshStatus])

  // A record was saved: the outbox count now, and a sync soon while the hub answered the last.
  const changed = useCallback(() => {
    refreshStatus()
    if (overview?.role) queue.saved(link === 'on')
  }, [refreshStatus, queue, overview, link])

  const langButton = html`<button class="small ghost" data-testid="lang" onClick=${() => setLang(lang() === 'vi' ? 'en' : 'vi')}>${t('language')}</button>`

  if (error) return html`<main class="page"><p class="error">${t('error', { error })}</p></main>`
  if (lock?.locked) {
    return html`<main class="page"><header class="top"><h1>${t('app_name')}</h1>${langButton}</header>
      <${LockScreen} state=${lock} onUnlocked=${unlocked} /></main>`
  }
  if (recovery) {
    return html`<main class="page"><header class="top"><h1>${t('app_name')}</h1>${langButton}</header>
      <${RecoveryCode} code=${recovery} onDone=${() => setRecovery(null)} /></main>`
  }
  if (!overview) return html`<main class="page"><p class="muted">…</p></main>`
  const lockButton = html`<button class="small ghost" data-testid="lock-now" onClick=${() => void lockNow()}>${t('lock_now')}</button>`
  if (!overview.has_ward) {
    return html`<main class="page"><header class="top"><h1>${t('app_name')}</h1><div class="row">${lockButton}${langButton}</div></header>
      <${FirstRun} onJoined=${(o: Overview) => setOverview(o)} /></main>`
  }
  const links: DashboardLinks = {
    syncProblems: status?.problems.length ?? 0,
    openReviews: () => {
      setWalkStart('reviews')
      setTab('walk')
    },
    showSyncProblems: () => document.querySelector<HTMLElement>('[data-testid="sync-problems"]')?.scrollIntoView({ block: 'start' }),
  }
  const tabs = tabsFor(overview)
  const current = tab && tabs.includes(tab) ? tab : tabs[0]
  return html`<main class="page">
    <header class="top">
      <div><h1>${t('app_name')}</h1><div class="muted small-text" data-testid="ward">${overview.ward}${overview.device_name ? ' · ' + overview.device_name : ''}</div></div>
      <div class="row">${lockButton}${langButton}</div>
    </header>
    <${SyncBar} status=${status} link=${link} syncing=${syncing} synced=${synced} note=${note} onSync=${() => queue.request('tap')} />
    ${tabs.length > 1 &&
    html`<nav class="tabs">${tabs.map(
      (tb) => html`<button class=${tb === current ? 'tab active' : 'tab'} data-testid=${'tab-' + tb} aria-current=${tb === current ? 'page' : undefined} onClick=${() => { setWalkStart('list'); setTab(tb) }}>${t(TAB_LABEL[tb])}</button>`,
    )}</nav>`}
    <section class="content">
      ${current === 'walk' && html`<${WalkList} overview=${overview} version=${version} start=${walkStart} onChange=${changed} />`}
      ${current === 'point' && html`<${PointScreen} overview=${overview} onChange=${changed} />`}
      ${current === 'dashboard' && html`<${DashboardScreen} overview=${overview} version=${version} links=${links} />`}
      ${current === 'devices' && html`<${DevicesScreen} overview=${overview} />`}
    </section>
  </main>`
}
