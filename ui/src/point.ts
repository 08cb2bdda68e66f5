// The literacy point: open a session, tap the service, the result, next person; a running
// count for the session and the day.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { api, errorText, type Overview, type Session } from './api'
import { t } from './i18n'
import { AGE_BANDS, PRIORITIES, RESULTS, SERVICES, noPriority, type AgeBand, type PriorityFlags, type Service } from './logic'
import { ageKey, priorityKey, resultKey, serviceKey } from './walk-list'

export function PointScreen({ overview, onChange }: { overview: Overview; onChange: () => void }) {
  const points = overview.points.filter((p) => overview.my_points.includes(p.id))
  const [session, setSession] = useState<Session | null>(null)
  const [pointId, setPointId] = useState(points[0]?.id ?? '')
  const [service, setService] = useState<Service | null>(null)
  const [age, setAge] = useState<AgeBand | null>(null)
  const [priority, setPriority] = useState<PriorityFlags>(noPriority())
  const [note, setNote] = useState('')
  const [error, setError] = useState('')

  useEffect(() => {
    api.session().then((s) => setSession(s && overview.my_points.includes(s.point_id) ? s : null)).catch(() => undefined)
  }, [overview])

  async function open() {
    try {
      setSession(await api.openSession(pointId))
    } catch (e) {
      setError(errorText(e))
    }
  }

  async function record(result: (typeof RESULTS)[number]) {
    if (!session || !service) return
    try {
      const s = await api.recordWalkin({ point_id: session.point_id, service, result, age_band: age, priority })
      setSession(s)
      setService(null)
      setAge(null)
      setPriority(noPriority())
      setNote(t('walkin_saved'))
      onChange()
    } catch (e) {
      setError(errorText(e))
    }
  }

  if (!session) {
    return html`<div class="card" data-testid="point-screen">
      <label>${t('point_choose')}<select data-testid="point" value=${pointId} onChange=${(e: Event) => setPointId((e.target as HTMLSelectElement).value)}>${points.map((p) => html`<option value=${p.id}>${p.name}</option>`)}</select></label>
      <button class="primary" data-testid="open-session" disabled=${!pointId} onClick=${open}>${t('open_session')}</button>
      ${error && html`<p class="error">${error}</p>`}
    </div>`
  }
  const name = overview.points.find((p) => p.id === session.point_id)?.name
  return html`<div class="card" data-testid="point-screen">
    <div class="row-between"><strong>${name}</strong>
      <button class="small ghost" data-testid="close-session" onClick=${() => api.closeSession().then(() => setSession(null))}>${t('close_session')}</button></div>
    <div class="counts"><span data-testid="session-count">${t('session_count', { n: session.session_count })}</span><span data-testid="day-count">${t('day_count', { n: session.day_count })}</span></div>
    ${note && html`<p class="ok" data-testid="walkin-note">${note}</p>`}
    <h2>${t('pick_service')}</h2>
    <div class="grid2">${SERVICES.map((s) => html`<button class=${s === service ? 'big active' : 'big'} data-testid=${'walkin-' + s} onClick=${() => { setService(s); setNote('') }}>${t(serviceKey(s))}</button>`)}</div>
    ${service && html`<h2>${t('age_band')}</h2>
      <div class="chips">${AGE_BANDS.map((b) => html`<button class=${b === age ? 'chip active' : 'chip'} onClick=${() => setAge(b === age ? null : b)}>${t(ageKey(b))}</button>`)}</div>
      <div class="chips">${PRIORITIES.map((p) => html`<button class=${priority[p] ? 'chip active' : 'chip'} onClick=${() => setPriority({ ...priority, [p]: !priority[p] })}>${t(priorityKey(p))}</button>`)}</div>
      <h2>${t('result')}</h2>
      <div class="grid3">${RESULTS.map((r) => html`<button class="big primary" data-testid=${'result-' + r} onClick=${() => record(r)}>${t(resultKey(r))}</button>`)}</div>`}
    ${error && html`<p class="error">${error}</p>`}
  </div>`
}
