// The coordinator's daily ward report: a date range (Hanoi's days), per day, residential group
// or volunteer; the main figures on screen, every column in the CSV/XLSX the ward sends upward.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, errorText, type RangeReport, type ReportBy } from './api'
import { t, type Key } from './i18n'
import { todayIso } from './logic'

function daysBefore(iso: string, days: number): string {
  const d = new Date(`${iso}T00:00:00Z`)
  d.setUTCDate(d.getUTCDate() - days)
  return d.toISOString().slice(0, 10)
}

export function RangeReportCard() {
  const today = todayIso()
  const [from, setFrom] = useState(daysBefore(today, 6))
  const [to, setTo] = useState(today)
  const [by, setBy] = useState<ReportBy>('day')
  const [report, setReport] = useState<RangeReport | null>(null)
  const [note, setNote] = useState('')
  const show = async () => {
    try {
      setReport(await api.rangeReport(from, to, by))
      setNote('')
    } catch (e) {
      setNote(errorText(e))
    }
  }
  const exportAs = async (format: 'csv' | 'xlsx') => {
    try {
      setNote(t('exported', { path: await api.exportRangeReport(from, to, by, format) }))
    } catch (e) {
      setNote(errorText(e))
    }
  }
  const input = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value)
  return html`<div class="card" data-testid="range-report"><h2>${t('range_title')}</h2>
    <div class="range-form">
      <label>${t('range_from')}<input type="date" data-testid="range-from" value=${from} onInput=${input(setFrom)} /></label>
      <label>${t('range_to')}<input type="date" data-testid="range-to" value=${to} onInput=${input(setTo)} /></label>
      <label>${t('range_by')}<select data-testid="range-by" value=${by} onChange=${(e: Event) => setBy((e.target as HTMLSelectElement).value as ReportBy)}>
        ${(['day', 'group', 'volunteer'] as ReportBy[]).map((b) => html`<option value=${b}>${t(('range_by_' + b) as Key)}</option>`)}
      </select></label>
    </div>
    <div class="actions">
      <button class="primary" data-testid="range-show" onClick=${show}>${t('range_show')}</button>
      <button data-testid="range-csv" onClick=${() => exportAs('csv')}>CSV</button>
      <button data-testid="range-xlsx" onClick=${() => exportAs('xlsx')}>XLSX</button>
    </div>
    ${report && html`<div class="table-wrap"><table data-testid="range-table">
      <thead><tr><th></th><th>${t('visits')}</th><th>${t('range_reached')}</th><th>${t('range_people')}</th><th>VNeID</th></tr></thead>
      <tbody>${[...report.rows, { ...report.total, key: t('range_total') }].map((r) => html`<tr>
        <td>${r.key}</td><td>${r.visits}</td><td>${r.households_reached}</td><td>${r.people_assisted}</td><td>${r.vneid_activations}</td></tr>`)}</tbody>
    </table></div>`}
    ${note && html`<p class="note" data-testid="range-note">${note}</p>`}
  </div>`
}
