// The coordinator's dashboard: the merged ward's figures first, then what needs the
// coordinator's attention (duplicates, reviews, sync problems: a short card each, a count and a
// button to the list), charts where people would rather look than read, progress against the
// targets the coordinator sets, where a literacy point is most needed, and the exports the
// city asks for.
import { html } from 'htm/preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js'
import { api, errorText, type Dashboard, type Overview, type ReviewItem, type Targets } from './api'
import { t, type Key } from './i18n'
import { SERVICES, percent, reviewsWaiting } from './logic'
import { serviceKey } from './walk-list'
import { AttentionCard } from './attention'
import { DuplicatesCard } from './duplicates'
import { RangeReportCard } from './range-report'
import { PaperCard } from './paper'

const IDLE_CHOICES = [1, 2, 5, 10, 15, 30, 60]
const TARGET_LABEL: Record<keyof Targets, Key> = { visited_percent: 'target_visited', online_percent: 'target_online', vneid_activated_percent: 'target_vneid' }

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip)

function BarChart({ labels, values, max, testid }: { labels: string[]; values: number[]; max?: number; testid: string }) {
  const canvas = useRef<HTMLCanvasElement>(null)
  useEffect(() => {
    if (!canvas.current) return
    const chart = new Chart(canvas.current, {
      type: 'bar',
      data: { labels, datasets: [{ data: values, backgroundColor: '#0b6e4f' }] },
      options: { indexAxis: 'y', animation: false, maintainAspectRatio: false, scales: { x: { beginAtZero: true, max } }, plugins: { tooltip: { enabled: true } } },
    })
    return () => chart.destroy()
  }, [labels.join('|'), values.join('|')])
  return html`<div class="chart" style=${`height:${Math.max(120, labels.length * 26)}px`}><canvas ref=${canvas} data-testid=${testid}></canvas></div>`
}

function Progress({ label, value, target }: { label: string; value: number; target: number }) {
  return html`<div class="progress"><div class="row-between"><span>${label}</span><span>${value.toFixed(1)}% / ${target}%</span></div>
    <div class="bar"><div style=${`width:${Math.min(100, value)}%`}></div><i style=${`left:${Math.min(100, target)}%`}></i></div></div>`
}

/** Where the dashboard's attention cards lead: the review list (the walk list's), the sync
 * bar's list of refused documents. */
export interface DashboardLinks {
  syncProblems: number
  openReviews: () => void
  showSyncProblems: () => void
}

export function DashboardScreen({ overview, version, links }: { overview: Overview; version: number; links: DashboardLinks }) {
  const [d, setD] = useState<Dashboard | null>(null)
  const [reviews, setReviews] = useState<ReviewItem[]>([])
  const [error, setError] = useState('')
  const [note, setNote] = useState('')
  const [editing, setEditing] = useState<Targets | null>(null)
  const [idle, setIdle] = useState<number | null>(null)

  useEffect(() => {
    api.dashboard().then(setD).catch((e) => setError(errorText(e)))
    api.reviews().then(setReviews).catch(() => undefined)
  }, [version])
  const toApprove = reviewsWaiting(reviews, true).length
  useEffect(() => {
    api.lockState().then((s) => setIdle(s.idle_lock_minutes)).catch(() => undefined)
  }, [])

  if (error) return html`<p class="error">${error}</p>`
  if (!d) return html`<p class="muted">…</p>`
  const r = d.report
  const exportAs = async (format: 'csv' | 'xlsx') => {
    try {
      setNote(t('exported', { path: await api.exportReport(format) }))
    } catch (e) {
      setNote(errorText(e))
    }
  }
  const saveTargets = async () => {
    if (!editing) return
    await api.setTargets(editing)
    setEditing(null)
    setD(await api.dashboard())
  }
  return html`<div class="dashboard" data-testid="dashboard">
    ${overview.hosting && html`<p class="muted small-text" data-testid="hosting">${t('hosting', { url: overview.hosting })}</p>`}
    <h2 class="visually-hidden">${t('dash_figures')}</h2>
    <div class="kpis">
      <div class="kpi"><b data-testid="kpi-households">${r.households}</b><span>${t('dash_households')}</span></div>
      <div class="kpi"><b data-testid="kpi-visited">${r.households_visited}</b><span>${t('dash_visited')} (${percent(r.households_visited, r.households)}%)</span></div>
      <div class="kpi"><b>${r.priority_households_visited}/${r.priority_households}</b><span>${t('dash_priority')}</span></div>
      <div class="kpi"><b data-testid="kpi-visits">${r.visits}</b><span>${t('visits')}</span></div>
      <div class="kpi"><b>${r.follow_ups_due}</b><span>${t('dash_follow_ups')}</span></div>
      <div class="kpi"><b data-testid="kpi-walkins">${r.walkins}</b><span>${t('dash_walkins')}</span></div>
    </div>
    <div class="attention-row" data-testid="attention">
      <${DuplicatesCard} version=${version} onChange=${() => api.dashboard().then(setD).catch((e) => setError(errorText(e)))} />
      ${toApprove > 0 && html`<${AttentionCard} title=${t('reviews_title')} count=${toApprove} testid="reviews-attention" onOpen=${links.openReviews} />`}
      ${links.syncProblems > 0 && html`<${AttentionCard} title=${t('sync_problems_title')} count=${links.syncProblems} testid="sync-problems-attention" onOpen=${links.showSyncProblems} />`}
    </div>
    <div class="card"><h2>${t('targets')}</h2>
      <${Progress} label=${t('target_visited')} value=${d.progress.visited_percent} target=${d.targets.visited_percent} />
      <${Progress} label=${t('target_online')} value=${d.progress.online_percent} target=${d.targets.online_percent} />
      <${Progress} label=${t('target_vneid')} value=${d.progress.vneid_activated_percent} target=${d.targets.vneid_activated_percent} />
      ${editing
        ? html`<div class="grid3">${(['visited_percent', 'online_percent', 'vneid_activated_percent'] as (keyof Targets)[]).map((k) => html`<input type="number" min="0" max="100" aria-label=${t(TARGET_LABEL[k])} value=${editing[k]} onInput=${(e: Event) => setEditing({ ...editing, [k]: Number((e.target as HTMLInputElement).value) })} />`)}</div>
          <button class="primary" onClick=${saveTargets}>${t('save')}</button>`
        : html`<button class="small" data-testid="edit-targets" onClick=${() => setEditing(d.targets)}>${t('targets')} ✎</button>`}
    </div>
    <div class="card"><h2>${t('coverage_by_group')}</h2>
      <${BarChart} testid="coverage-chart" labels=${r.by_group.map((g) => g.group)} values=${r.by_group.map((g) => percent(g.visited, g.households))} max=${100} /></div>
    <div class="card"><h2>${t('assists_by_service')}</h2>
      <${BarChart} testid="service-chart" labels=${SERVICES.map((s) => t(serviceKey(s)))} values=${SERVICES.map((s) => r.assists_by_service[s] ?? 0)} /></div>
    ${r.walkins_by_point.length > 0 && html`<div class="card"><h2>${t('walkins_by_point')}</h2>
      <ul class="plain">${r.walkins_by_point.map((p) => html`<li class="row-between"><span>${p.point}</span><b>${p.walkins}</b></li>`)}</ul></div>`}
    ${d.overdue_by_volunteer.length > 0 && html`<div class="card" data-testid="overdue-by-volunteer"><h2>${t('overdue_title')}</h2>
      <ol class="needs">${d.overdue_by_volunteer.map((o) => html`<li>${o.volunteer}: ${o.overdue}</li>`)}</ol></div>`}
    <div class="card"><h2>${t('needs_point')}</h2>
      <ol class="needs">${d.needs_point.slice(0, 5).map((n) => html`<li>${n.group}: ${n.unvisited}/${n.households} · ★ ${n.priority_unvisited}</li>`)}</ol></div>
    ${idle !== null && html`<div class="card"><label>${t('idle_lock')}
      <select data-testid="idle-lock" value=${idle} onChange=${async (e: Event) => setIdle((await api.setIdleLock(Number((e.target as HTMLSelectElement).value))).idle_lock_minutes)}>
        ${IDLE_CHOICES.map((m) => html`<option value=${m}>${m}</option>`)}
      </select></label></div>`}
    <${RangeReportCard} />
    <${PaperCard} groups=${overview.groups} />
    <div class="actions">
      <button data-testid="export-csv" onClick=${() => exportAs('csv')}>${t('export_csv')}</button>
      <button data-testid="export-xlsx" onClick=${() => exportAs('xlsx')}>${t('export_xlsx')}</button>
    </div>
    ${note && html`<p class="note" data-testid="export-note">${note}</p>`}
  </div>`
}
