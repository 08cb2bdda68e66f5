// The volunteer's screens: the walk list (virtualized, grouped by alley, searchable and
// filterable; the device's store selects and sends only the rows in view), a household's card with its visits, the visit form (outcome, services,
// save: three taps for the common case) and the household form.
import { html } from 'htm/preact'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api, errorText, type ConsentPurpose, type HistoryEntry, type HouseholdCard, type Overview, type ReviewItem, type WalkQuery, type WalkWindow } from './api'

function locale(): string {
  return lang() === 'vi' ? 'vi-VN' : 'en-GB'
}
import { lang, t, type Key } from './i18n'
import {
  AGE_BANDS, HOUSEHOLD_STATES, NOT_DONE_REASONS, OUTCOMES, PRIORITIES, RESULTS, SERVICES, anyPriority, isDue, listItems, listLength, noPriority, pagesOf, reviewsWaiting, todayIso,
  virtualWindow, type AgeBand, type AssistResult, type WalkFilter as Filter, type Internet, type Outcome,
  type HouseholdState, type NotDoneReason, type PriorityFlags, type Service, type WalkRow,
} from './logic'

const ROW = 64
/** Rows asked of the store at once, as the list scrolls. */
const PAGE = 100
const FILTERS: Exclude<Filter, 'mine'>[] = ['all', 'not_visited', 'priority', 'follow_up']
const FILTER_LABEL: Record<Exclude<Filter, 'mine'>, Key> = { all: 'filter_all', not_visited: 'filter_not_visited', priority: 'filter_priority', follow_up: 'filter_follow_up' }

export const outcomeKey = (o: Outcome) => `outcome_${o}` as Key
export const serviceKey = (s: Service) => `s_${s}` as Key
export const resultKey = (r: AssistResult) => `result_${r}` as Key
export const ageKey = (a: AgeBand) => `age_${a}` as Key
export const priorityKey = (p: keyof PriorityFlags) => `p_${p}` as Key

type View = { kind: 'list' } | { kind: 'reviews' } | { kind: 'card'; id: string } | { kind: 'visit'; card: HouseholdCard } | { kind: 'edit'; card: HouseholdCard | null }

export function WalkList({ overview, version, start = 'list', onChange }: { overview: Overview; version: number; start?: 'list' | 'reviews'; onChange: () => void }) {
  const [search, setSearch] = useState('')
  const [filter, setFilter] = useState<Filter>('all')
  const [view, setView] = useState<View>({ kind: start })
  const [reload, setReload] = useState(0)
  const [error, setError] = useState('')
  const today = todayIso()

  const me = overview.device_name ?? null
  // Kept the same object across reloads of the overview (after each sync), so that the list
  // stays where it was scrolled to; another search or filter starts at the top.
  const groups = overview.my_groups.join(' ')
  const query = useMemo<WalkQuery>(() => ({ search, filter, today, groups: groups ? groups.split(' ') : [], me }), [search, filter, today, groups, me])
  // The store's answer for this query (alley runs, counts, the first page) and the pages of
  // rows fetched since; a late answer to an earlier query is dropped.
  const [win, setWin] = useState<WalkWindow | null>(null)
  const [pages, setPages] = useState<Map<number, WalkRow[]>>(new Map())
  const asked = useRef(0)
  useEffect(() => {
    const ask = ++asked.current
    api.walkWindow(query, 0, PAGE).then((w) => {
      if (ask !== asked.current) return
      setWin(w)
      setPages(new Map([[0, w.rows]]))
      setError('')
    }).catch((e) => setError(errorText(e)))
  }, [query, version, reload])
  const loadPage = (page: number) => {
    const ask = asked.current
    api.walkWindow(query, page * PAGE, PAGE).then((w) => {
      if (ask === asked.current) setPages((p) => new Map(p).set(page, w.rows))
    }).catch((e) => setError(errorText(e)))
  }

  const [reviews, setReviews] = useState<ReviewItem[]>([])
  useEffect(() => {
    api.reviews().then(setReviews).catch(() => undefined)
  }, [version, reload])
  const coordinator = overview.role === 'coordinator'
  const waiting = reviewsWaiting(reviews, coordinator)

  const due = win?.due ?? 0
  const handed = win?.handed ?? 0

  const done = () => {
    setReload((n) => n + 1)
    onChange()
  }

  if (view.kind === 'reviews') return html`<${ReviewList} items=${waiting} onBack=${() => setView({ kind: 'list' })} onOpen=${(id: string) => setView({ kind: 'card', id })} />`
  if (view.kind === 'card') return html`<${Card} id=${view.id} coordinator=${overview.role === 'coordinator'} onBack=${() => setView({ kind: 'list' })} onChange=${done} onVisit=${(card: HouseholdCard) => setView({ kind: 'visit', card })} onEdit=${(card: HouseholdCard) => setView({ kind: 'edit', card })} />`
  if (view.kind === 'visit') return html`<${VisitForm} card=${view.card} onDone=${(saved: boolean) => { if (saved) done(); setView({ kind: 'card', id: view.card.household.id }) }} />`
  if (view.kind === 'edit') return html`<${HouseholdForm} overview=${overview} card=${view.card} onDone=${(id: string | null, saved: boolean) => { if (saved) done(); setView(id ? { kind: 'card', id } : { kind: 'list' }) }} />`

  return html`<div class="walk" data-testid="walk-list">
    <div class="toolbar">
      <input type="search" data-testid="search" aria-label=${t('search')} placeholder=${t('search')} value=${search} onInput=${(e: Event) => setSearch((e.target as HTMLInputElement).value)} />
      <div class="chips">${FILTERS.map((f) => html`<button class=${f === filter ? 'chip active' : 'chip'} data-testid=${'filter-' + f} onClick=${() => setFilter(f)}>${t(FILTER_LABEL[f])}</button>`)}</div>
      <div class="row-between"><span class="muted" data-testid="count">${t('households_count', { n: win?.total ?? 0 })}</span>
        ${due > 0 && html`<button class="chip warn" data-testid="due-today" onClick=${() => setFilter('follow_up')}>${t('follow_ups_today', { n: due })}</button>`}
        ${handed > 0 && html`<button class=${filter === 'mine' ? 'chip active' : 'chip'} data-testid="filter-mine" onClick=${() => setFilter(filter === 'mine' ? 'all' : 'mine')}>${t('assigned_to_me', { n: handed })}</button>`}
        ${waiting.length > 0 && html`<button class="chip warn" data-testid="reviews-badge" onClick=${() => setView({ kind: 'reviews' })}>${t('reviews_badge', { n: waiting.length })}</button>`}
        <button class="small" data-testid="add-household" onClick=${() => setView({ kind: 'edit', card: null })}>+ ${t('add_household')}</button></div>
    </div>
    ${error && html`<p class="error">${error}</p>`}
    ${win && win.total === 0 && html`<p class="muted">${t('no_households')}</p>`}
    <${Virtual} query=${query} win=${win} pages=${pages} loadPage=${loadPage} onOpen=${(id: string) => setView({ kind: 'card', id })} today=${today} />
  </div>`
}

function Virtual({ query, win, pages, loadPage, onOpen, today }: { query: WalkQuery; win: WalkWindow | null; pages: Map<number, WalkRow[]>; loadPage: (page: number) => void; onOpen: (id: string) => void; today: string }) {
  const box = useRef<HTMLDivElement>(null)
  const [scroll, setScroll] = useState(0)
  const [height, setHeight] = useState(600)
  useEffect(() => {
    const el = box.current
    if (!el) return
    // The box's own height, whenever it changes (the window, the toolbar wrapping).
    const measure = () => setHeight(el.clientHeight || 600)
    measure()
    const observer = new ResizeObserver(measure)
    observer.observe(el)
    return () => observer.disconnect()
  }, [])
  // Another search or filter starts at the top of what it selects.
  useEffect(() => {
    if (box.current) box.current.scrollTop = 0
    setScroll(0)
  }, [query])
  const runs = win?.runs ?? []
  const length = listLength(runs)
  const { start, end } = virtualWindow(scroll, height, ROW, length)
  const items = listItems(runs, start, end)
  const missing = pagesOf(items, PAGE).filter((p) => !pages.has(p))
  // Each page is asked for once per answer to the query (`pages` starts anew with it).
  const requested = useRef<{ win: WalkWindow | null; pages: Set<number> }>({ win: null, pages: new Set() })
  useEffect(() => {
    if (requested.current.win !== win) requested.current = { win, pages: new Set([0]) }
    for (const p of missing) {
      if (requested.current.pages.has(p)) continue
      requested.current.pages.add(p)
      loadPage(p)
    }
  }, [missing.join(','), win])
  return html`<div class="virtual" ref=${box} data-testid="virtual" onScroll=${(e: Event) => setScroll((e.target as HTMLElement).scrollTop)}>
    <div style=${`height:${length * ROW}px;position:relative`}>
      ${items.map((item, i) => {
        const top = (start + i) * ROW
        if (item.kind === 'alley') return html`<div key=${item.key} class="alley" style=${`top:${top}px`}>${item.run.alley} <span class="muted">· ${item.run.group} · ${item.run.count}</span></div>`
        const r = pages.get(Math.floor(item.offset / PAGE))?.[item.offset % PAGE]
        if (!r) return html`<div key=${'o:' + item.offset} class="household loading" style=${`top:${top}px`}>…</div>`
        return html`<button key=${r.id} class="household" data-testid="household" style=${`top:${top}px`} onClick=${() => onOpen(r.id)}>
          <span class="number">${r.number}</span>
          <span class="grow"><span class="line">${r.visits ? t('visited_times', { n: r.visits }) + (r.last_outcome ? ' · ' + t(outcomeKey(r.last_outcome)) : '') : t('not_visited')}</span>
            <span class="muted small-text line">${[r.name, r.members ? `${r.members} 👤` : null, ...PRIORITIES.filter((p) => r.priority[p]).map((p) => t(priorityKey(p))), r.follow_up ? '↻ ' + r.follow_up : null, r.assigned_to ? '→ ' + r.assigned_to : null].filter(Boolean).join(' · ')}</span></span>
          ${anyPriority(r.priority) && html`<span class="badge">★</span>`}
          ${isDue(r, today) && html`<span class="badge warn">!</span>`}
        </button>`
      })}
    </div>
  </div>`
}

/** A coordinator hands this household, or its whole alley, to a volunteer (names from the
 * ward's devices when this device can list them). */
function AssignTool({ id, onChange }: { id: string; onChange: () => void }) {
  const [name, setName] = useState('')
  const [names, setNames] = useState<string[]>([])
  const [note, setNote] = useState('')
  useEffect(() => {
    api.devices().then((ds) => setNames(ds.filter((d) => d.role === 'volunteer' && !d.revoked_at).map((d) => d.name))).catch(() => undefined)
  }, [])
  const assign = async (whole: boolean) => {
    try {
      const ids = await api.assign(name.trim(), id, whole)
      setNote(t('assigned_note', { n: ids.length, name: name.trim() }))
      onChange()
    } catch (e) {
      setNote(errorText(e))
    }
  }
  return html`<div class="assign" data-testid="assign-tool"><h3>${t('assign_title')}</h3>
    <label>${t('assign_name')}<input data-testid="assign-name" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
    ${names.length > 0 && html`<div class="chips">${names.map((n) => html`<button class=${n === name ? 'chip active' : 'chip'} onClick=${() => setName(n)}>${n}</button>`)}</div>`}
    <div class="actions">
      <button class="small" data-testid="assign-household" disabled=${!name.trim()} onClick=${() => assign(false)}>${t('assign_household')}</button>
      <button class="small" data-testid="assign-alley" disabled=${!name.trim()} onClick=${() => assign(true)}>${t('assign_alley')}</button>
    </div>
    ${note && html`<p class="note" data-testid="assign-note">${note}</p>`}
  </div>`
}

/** A coordinator's tools on a household: its history from the hub, and erasure at the
 * citizen's request (confirmed by a second tap). */
function CoordinatorTools({ id, onErased }: { id: string; onErased: () => void }) {
  const [history, setHistory] = useState<HistoryEntry[] | null>(null)
  const [confirming, setConfirming] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const run = async (f: () => Promise<void>) => {
    setBusy(true)
    setError('')
    try {
      await f()
    } catch (e) {
      setError(errorText(e))
    } finally {
      setBusy(false)
    }
  }
  return html`<div class="card inner" data-testid="coordinator-tools">
    <div class="actions">
      <button data-testid="history" disabled=${busy} onClick=${() => run(async () => setHistory(await api.householdHistory(id)))}>${t('history')}</button>
      ${confirming
        ? html`<button class="danger" data-testid="erase-confirm" disabled=${busy} onClick=${() => run(async () => { await api.eraseHousehold(id); setConfirming(false); onErased() })}>${t('erase_confirm')}</button>
            <button class="ghost" onClick=${() => setConfirming(false)}>${t('cancel')}</button>`
        : html`<button class="danger" data-testid="erase" disabled=${busy} onClick=${() => setConfirming(true)}>${t('erase')}</button>`}
    </div>
    ${confirming && html`<p class="note" data-testid="erase-warning">${t('erase_warning')}</p>`}
    ${history && html`<ul class="plain" data-testid="history-list">${history.map((e) => html`<li data-testid="history-entry">
      <strong>${t(historyKey(e.what))}</strong> <span class="muted">${new Date(e.at).toLocaleString()} · ${e.by}</span>
      ${e.fields.length > 0 && html`<div class="muted small-text">${e.fields.join(', ')}</div>`}</li>`)}</ul>`}
    ${error && html`<p class="error" data-testid="tools-error">${error}</p>`}
  </div>`
}

function ReviewList({ items, onBack, onOpen }: { items: ReviewItem[]; onBack: () => void; onOpen: (household: string) => void }) {
  return html`<div class="card" data-testid="review-list">
    <button class="small ghost" data-testid="back" onClick=${onBack}>← ${t('back')}</button>
    <h2>${t('reviews_title')}</h2>
    ${items.map((r) => html`<button class="review-item" data-testid="review-item" onClick=${() => onOpen(r.household_id)}>
      <strong>${t(('review_' + r.map) as Key)} · ${r.address}</strong>
      <span>${t(('review_' + r.review.state) as Key)}${r.review.comment ? ': ' + r.review.comment : ''}</span>
      <span class="muted small-text">${r.review.by} · ${new Date(r.review.at).toLocaleString()}</span>
    </button>`)}
  </div>`
}

/** A record's review on its card: its state and comment; the coordinator asks for a fix or
 * approves, the field marks it fixed (each with an optional comment). */
function ReviewPanel({ map, id, review, coordinator, onChange }: { map: string; id: string; review: ReviewItem | undefined; coordinator: boolean; onChange: () => void }) {
  const [comment, setComment] = useState('')
  const [error, setError] = useState('')
  const [open, setOpen] = useState(false)
  const set = async (state: 'needs_fix' | 'fixed' | 'approved') => {
    try {
      await api.setReview(map, id, state, comment.trim() || null)
      setComment('')
      onChange()
    } catch (e) {
      setError(errorText(e))
    }
  }
  const state = review?.review.state
  if (!coordinator && state !== 'needs_fix') return review ? html`<p class="muted small-text" data-testid="review-state">${t(('review_' + state) as Key)}</p>` : null
  if (coordinator && !review && !open) return html`<button class="small ghost" data-testid="review-open" onClick=${() => setOpen(true)}>${t('review_ask')}…</button>`
  return html`<div class="review" data-testid=${'review-' + map}>
    ${review && html`<p data-testid="review-state"><span class="badge warn">${t(('review_' + state) as Key)}</span> ${review.review.comment ?? ''} <span class="muted small-text">· ${review.review.by}</span></p>`}
    <input data-testid="review-comment" aria-label=${t('review_comment')} placeholder=${t('review_comment')} value=${comment} onInput=${(e: Event) => setComment((e.target as HTMLInputElement).value)} />
    <div class="actions">
      ${coordinator
        ? html`<button class="small" data-testid="review-ask" onClick=${() => set('needs_fix')}>${t('review_ask')}</button>
            ${state && state !== 'approved' && html`<button class="small primary" data-testid="review-approve" onClick=${() => set('approved')}>${t('review_approve')}</button>`}`
        : html`<button class="small primary" data-testid="review-fixed" onClick=${() => set('fixed')}>${t('review_mark_fixed')}</button>`}
    </div>
    ${error && html`<p class="error">${error}</p>`}
  </div>`
}

/** Voiding a record: a reason, then a confirming tap. Kept for the audit, out of every count. */
function VoidButton({ label, testid, onVoid }: { label: Key; testid: string; onVoid: (reason: string) => Promise<void> }) {
  const [open, setOpen] = useState(false)
  const [reason, setReason] = useState('')
  const [error, setError] = useState('')
  if (!open) return html`<button class="small ghost" data-testid=${testid} onClick=${() => setOpen(true)}>${t(label)}</button>`
  return html`<div class="void-form">
    <input data-testid=${testid + '-reason'} aria-label=${t('void_reason')} placeholder=${t('void_reason')} value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} />
    <div class="actions">
      <button class="danger" data-testid=${testid + '-confirm'} disabled=${reason.trim() === ''} onClick=${async () => {
        try {
          await onVoid(reason)
          setOpen(false)
        } catch (e) {
          setError(errorText(e))
        }
      }}>${t('void_confirm')}</button>
      <button class="ghost" onClick=${() => setOpen(false)}>${t('void_keep')}</button>
    </div>
    ${error && html`<p class="error">${error}</p>`}
  </div>`
}

function historyKey(what: string): Key {
  const known = ['created', 'changed', 'visit', 'erased', 'history_erased', 'retention']
  return (known.includes(what) ? `history_${what}` : 'history_changed') as Key
}

function Card({ id, coordinator, onBack, onChange, onVisit, onEdit }: { id: string; coordinator: boolean; onBack: () => void; onChange: () => void; onVisit: (c: HouseholdCard) => void; onEdit: (c: HouseholdCard) => void }) {
  const [card, setCard] = useState<HouseholdCard | null>(null)
  const [error, setError] = useState('')
  const [version, setVersion] = useState(0)
  useEffect(() => {
    api.householdCard(id).then(setCard).catch((e) => setError(errorText(e)))
  }, [id, version])
  if (error) return html`<p class="error">${error}</p>`
  if (!card) return html`<p class="muted">…</p>`
  const h = card.household
  return html`<div class="card" data-testid="household-card">
    <button class="small ghost" data-testid="back" onClick=${onBack}>← ${t('back')}</button>
    <h2>${h.alley} › ${h.number}</h2>
    <p class="muted">${card.group}${h.members ? ' · ' + h.members + ' 👤' : ''} · ${t('internet')}: ${t(`internet_${h.internet}` as Key)}</p>
    ${h.name && html`<p>${h.name}</p>`}
    ${h.phone && html`<p><a class="call" data-testid="call" href=${'tel:' + h.phone.replace(/[^\d+]/g, '')}>${t('call')} ${h.phone}</a></p>`}
    ${h.consent_record.given_at && html`<p class="muted small-text" data-testid="consent-record">${t('consent_given', { t: new Date(h.consent_record.given_at).toLocaleDateString(locale()), by: h.consent_record.given_by ?? '', v: h.consent_record.purpose ?? '' })}${h.consent_record.withdrawn_at ? ' · ' + t('consent_withdrawn', { t: new Date(h.consent_record.withdrawn_at).toLocaleDateString(locale()), by: h.consent_record.withdrawn_by ?? '' }) : ''}</p>`}
    ${h.erased_at && html`<p class="note" data-testid="erased">${t('erased_on', { t: new Date(h.erased_at).toLocaleDateString(locale()) })}</p>`}
    <p>${PRIORITIES.filter((p) => h.priority[p]).map((p) => html`<span class="chip static">${t(priorityKey(p))}</span>`)}</p>
    <div class="actions">
      <button class="primary" data-testid="record-visit" onClick=${() => onVisit(card)}>${t('record_visit')}</button>
      <button data-testid="edit-household" onClick=${() => onEdit(card)}>${t('edit_household')}</button>
    </div>
    <h3>${t('visits')}</h3>
    ${card.visits.length === 0 && html`<p class="muted">${t('no_visits')}</p>`}
    <ul class="visits" data-testid="visits">${card.visits.map((v) => html`<li key=${v.id}>
      <strong>${t(outcomeKey(v.outcome))}</strong> <span class="muted">${new Date(v.device_time).toLocaleString()} · ${v.volunteer}</span>
      ${v.assists.length > 0 && html`<div>${v.assists.map((a) => html`<span class="chip static">${t(serviceKey(a.service))} · ${t(resultKey(a.result))}</span>`)}</div>`}
      ${v.follow_up && html`<div>↻ ${v.follow_up.date} ${v.follow_up.reason ?? ''}</div>`}
      ${v.note && html`<div class="muted">${v.note}</div>`}
      <${ReviewPanel} map="visits" id=${v.id} review=${card.reviews.find((r) => r.id === v.id)} coordinator=${coordinator} onChange=${() => { setVersion((n) => n + 1); onChange() }} />
      <${VoidButton} label="void_visit" testid="void-visit" onVoid=${async (reason: string) => { await api.voidVisit(v.id, reason); setVersion((n) => n + 1); onChange() }} />
    </li>`)}</ul>
    <${ReviewPanel} map="households" id=${id} review=${card.reviews.find((r) => r.id === id)} coordinator=${coordinator} onChange=${() => { setVersion((n) => n + 1); onChange() }} />
    <${VoidButton} label="void_household" testid="void-household" onVoid=${async (reason: string) => { await api.voidHousehold(id, reason); onChange(); onBack() }} />
    ${h.state !== 'lives_here' && html`<p><span class="chip static" data-testid="household-state-chip">${t(('state_' + h.state) as Key)}</span></p>`}
    ${h.assignment && html`<p class="muted small-text" data-testid="assigned-to">→ ${h.assignment.to} (${h.assignment.by})</p>`}
    ${coordinator && html`<${AssignTool} id=${id} onChange=${() => { setVersion((n) => n + 1); onChange() }} />`}
    ${coordinator && html`<${CoordinatorTools} id=${id} onErased=${() => setVersion((n) => n + 1)} />`}
  </div>`
}

interface AssistDraft { result: AssistResult; age_band: AgeBand | null; priority: PriorityFlags }

function VisitForm({ card, onDone }: { card: HouseholdCard; onDone: (saved: boolean) => void }) {
  const h = card.household
  const [outcome, setOutcome] = useState<Outcome | null>(null)
  const [assists, setAssists] = useState<Partial<Record<Service, AssistDraft>>>({})
  const [followDate, setFollowDate] = useState('')
  const [followReason, setFollowReason] = useState('')
  const [notDone, setNotDone] = useState<NotDoneReason | null>(null)
  const [note, setNote] = useState('')
  const [error, setError] = useState('')
  const [saving, setSaving] = useState(false)
  const defaultAge: AgeBand = h.priority.elderly ? '60_plus' : '18_59'

  function toggle(s: Service) {
    const next = { ...assists }
    if (next[s]) delete next[s]
    else next[s] = { result: 'done', age_band: defaultAge, priority: { ...h.priority, elderly: defaultAge === '60_plus' } }
    setAssists(next)
  }

  async function save() {
    if (!outcome) return
    setSaving(true)
    setError('')
    try {
      await api.recordVisit({
        household_id: h.id,
        outcome,
        assists: outcome === 'assisted'
          ? (Object.entries(assists) as [Service, AssistDraft][]).map(([service, a]) => ({ service, result: a.result, age_band: a.age_band, priority: a.priority }))
          : [],
        note: note.trim() || null,
        follow_up: followDate ? { date: followDate, reason: followReason.trim() || null } : null,
        not_done_reason: notDone,
      })
      onDone(true)
    } catch (e) {
      setError(errorText(e))
      setSaving(false)
    }
  }

  return html`<div class="card" data-testid="visit-form">
    <button class="small ghost" data-testid="cancel-visit" onClick=${() => onDone(false)}>← ${t('cancel')}</button>
    <h2>${h.alley} › ${h.number}</h2>
    <h3>${t('outcome')}</h3>
    <div class="grid2">${OUTCOMES.map((o) => html`<button class=${o === outcome ? 'big active' : 'big'} data-testid=${'outcome-' + o} onClick=${() => setOutcome(o)}>${t(outcomeKey(o))}</button>`)}</div>
    ${outcome === 'assisted' && html`<h3>${t('services')}</h3>
      <div class="grid2">${SERVICES.map((s) => html`<button class=${assists[s] ? 'big active' : 'big'} data-testid=${'service-' + s} onClick=${() => toggle(s)}>${t(serviceKey(s))}</button>`)}</div>
      ${(Object.entries(assists) as [Service, AssistDraft][]).map(([s, a]) => html`<div class="assist" key=${s}>
        <strong>${t(serviceKey(s))}</strong>
        <div class="chips">${RESULTS.map((r) => html`<button class=${a.result === r ? 'chip active' : 'chip'} onClick=${() => setAssists({ ...assists, [s]: { ...a, result: r } })}>${t(resultKey(r))}</button>`)}</div>
        <div class="chips">${AGE_BANDS.map((b) => html`<button class=${a.age_band === b ? 'chip active' : 'chip'} onClick=${() => setAssists({ ...assists, [s]: { ...a, age_band: b } })}>${t(ageKey(b))}</button>`)}</div>
        <div class="chips">${PRIORITIES.map((p) => html`<button class=${a.priority[p] ? 'chip active' : 'chip'} onClick=${() => setAssists({ ...assists, [s]: { ...a, priority: { ...a.priority, [p]: !a.priority[p] } } })}>${t(priorityKey(p))}</button>`)}</div>
      </div>`)}`}
    ${outcome && outcome !== 'not_home' && html`<h3>${t('not_done_reason')}</h3>
      <div class="chips">${NOT_DONE_REASONS.map((r) => html`<button class=${notDone === r ? 'chip active' : 'chip'} data-testid=${'not-done-' + r} onClick=${() => setNotDone(notDone === r ? null : r)}>${t(('reason_' + r) as Key)}</button>`)}</div>`}
    ${outcome && outcome !== 'not_home' && html`<details><summary>${t('follow_up')}</summary>
      <label>${t('follow_up_date')}<input type="date" data-testid="follow-up-date" value=${followDate} onInput=${(e: Event) => setFollowDate((e.target as HTMLInputElement).value)} /></label>
      ${!h.erased_at && html`<label>${t('follow_up_reason')}<input value=${followReason} onInput=${(e: Event) => setFollowReason((e.target as HTMLInputElement).value)} /></label>
      <label>${t('note')}<textarea value=${note} onInput=${(e: Event) => setNote((e.target as HTMLTextAreaElement).value)}></textarea></label>`}
    </details>`}
    ${error && html`<p class="error" data-testid="error">${error}</p>`}
    <button class="primary sticky" data-testid="save-visit" disabled=${!outcome || saving} onClick=${save}>${t('save')}</button>
  </div>`
}

function HouseholdForm({ overview, card, onDone }: { overview: Overview; card: HouseholdCard | null; onDone: (id: string | null, saved: boolean) => void }) {
  const h = card?.household
  const groups = overview.groups.filter((g) => overview.my_groups.includes(g.id))
  const [groupId, setGroupId] = useState(h?.group_id ?? groups[0]?.id ?? '')
  const [alley, setAlley] = useState(h?.alley ?? '')
  const [number, setNumber] = useState(h?.number ?? '')
  const [members, setMembers] = useState(h?.members ? String(h.members) : '')
  const [purpose, setPurpose] = useState<ConsentPurpose | null>(null)
  useEffect(() => {
    api.consentPurpose().then(setPurpose).catch(() => undefined)
  }, [])
  const [priority, setPriority] = useState<PriorityFlags>(h?.priority ?? noPriority())
  const [internet, setInternet] = useState<Internet>(h?.internet ?? 'unknown')
  const [state, setState] = useState<HouseholdState>(h?.state ?? 'lives_here')
  const [consent, setConsent] = useState(h?.consent ?? false)
  const [name, setName] = useState(h?.name ?? '')
  const [phone, setPhone] = useState(h?.phone ?? '')
  const [error, setError] = useState('')
  const value = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value)

  async function save() {
    setError('')
    try {
      const saved = await api.saveHousehold({
        id: h?.id ?? null, group_id: groupId, alley, number, members: members ? Number(members) : null,
        priority, internet, consent, name: consent ? name : null, phone: consent ? phone : null, state,
      })
      onDone(saved.id, true)
    } catch (e) {
      setError(errorText(e))
    }
  }

  return html`<div class="card" data-testid="household-form">
    <button class="small ghost" data-testid="cancel-household" onClick=${() => onDone(h?.id ?? null, false)}>← ${t('cancel')}</button>
    <label>${t('group')}<select value=${groupId} disabled=${!!h} onChange=${value(setGroupId)}>${groups.map((g) => html`<option value=${g.id}>${g.name}</option>`)}</select></label>
    <label>${t('alley')}<input data-testid="alley" value=${alley} onInput=${value(setAlley)} /></label>
    <label>${t('number')}<input data-testid="number" value=${number} onInput=${value(setNumber)} /></label>
    <label>${t('address_state')}<select data-testid="household-state" value=${state} onChange=${value((v) => setState(v as HouseholdState))}>${HOUSEHOLD_STATES.map((st) => html`<option value=${st}>${t(('state_' + st) as Key)}</option>`)}</select></label>
    <label>${t('members')}<input type="number" min="1" max="60" value=${members} onInput=${value(setMembers)} /></label>
    <fieldset><legend>${t('priority')}</legend>${PRIORITIES.map((p) => html`<label class="check"><input type="checkbox" checked=${priority[p]} onChange=${() => setPriority({ ...priority, [p]: !priority[p] })} />${t(priorityKey(p))}</label>`)}</fieldset>
    <label>${t('internet')}<select value=${internet} onChange=${value((v) => setInternet(v as Internet))}>${(['yes', 'no', 'unknown'] as Internet[]).map((i) => html`<option value=${i}>${t(`internet_${i}` as Key)}</option>`)}</select></label>
    <label class="check"><input type="checkbox" data-testid="consent" checked=${consent} onChange=${() => setConsent(!consent)} />${t('consent')}</label>
    ${consent && purpose && html`<p class="note small-text" data-testid="consent-purpose">${lang() === 'vi' ? purpose.vi : purpose.en} <span class="muted">(${purpose.version})</span></p>`}
    ${consent && html`<label>${t('name')}<input value=${name} onInput=${value(setName)} /></label><label>${t('phone')}<input inputmode="tel" value=${phone} onInput=${value(setPhone)} /></label>`}
    ${error && html`<p class="error" data-testid="error">${error}</p>`}
    <button class="primary" data-testid="save-household" onClick=${save}>${t('save')}</button>
  </div>`
}
