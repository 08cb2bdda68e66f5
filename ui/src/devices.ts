// Devices: invite one (code, join link and QR code), list them, revoke one.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { api, errorText, type DeviceInfo, type InviteView, type Overview } from './api'
import { t, type Key } from './i18n'
import type { Role } from './logic'

const ROLES: Role[] = ['volunteer', 'student', 'coordinator']

export function DevicesScreen({ overview }: { overview: Overview }) {
  const [role, setRole] = useState<Role>('volunteer')
  const [name, setName] = useState('')
  const [group, setGroup] = useState(overview.groups[0]?.name ?? '')
  const [point, setPoint] = useState(overview.points[0]?.name ?? '')
  const [invite, setInvite] = useState<InviteView | null>(null)
  const [devices, setDevices] = useState<DeviceInfo[]>([])
  const [error, setError] = useState('')

  useEffect(() => {
    api.devices().then(setDevices).catch((e) => setError(errorText(e)))
  }, [invite])

  async function make() {
    setError('')
    try {
      setInvite(await api.invite({ role, name, groups: role === 'volunteer' ? [group] : [], point: role === 'student' ? point : null, expires_hours: null }))
    } catch (e) {
      setError(errorText(e))
    }
  }

  return html`<div data-testid="devices-screen">
    <div class="card"><h2>${t('invite')}</h2>
      <label>${t('role')}<select data-testid="invite-role" value=${role} onChange=${(e: Event) => setRole((e.target as HTMLSelectElement).value as Role)}>${ROLES.map((r) => html`<option value=${r}>${t(`role_${r}` as Key)}</option>`)}</select></label>
      <label>${t('invite_for')}<input data-testid="invite-name" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
      ${role === 'volunteer' && html`<label>${t('group')}<select value=${group} onChange=${(e: Event) => setGroup((e.target as HTMLSelectElement).value)}>${overview.groups.map((g) => html`<option value=${g.name}>${g.name}</option>`)}</select></label>`}
      ${role === 'student' && html`<label>${t('tab_point')}<select value=${point} onChange=${(e: Event) => setPoint((e.target as HTMLSelectElement).value)}>${overview.points.map((p) => html`<option value=${p.name}>${p.name}</option>`)}</select></label>`}
      <button class="primary" data-testid="make-invite" onClick=${make}>${t('make_invite')}</button>
      ${invite && html`<div class="invite" data-testid="invite">
        <p class="code" data-testid="invite-code-shown">${t('invite_code_is', { code: invite.invite.code })}</p>
        <p class="muted small-text">${t('expires', { t: new Date(invite.invite.expires_at).toLocaleString() })}</p>
        <div class="qr" dangerouslySetInnerHTML=${{ __html: invite.qr_svg }}></div>
        <p class="muted small-text break">${invite.link}</p></div>`}
      ${error && html`<p class="error">${error}</p>`}
    </div>
    <div class="card"><h2>${t('devices')}</h2>
      <ul class="devices">${devices.map((d) => html`<li key=${d.device_id}><span class="grow">${d.name} <span class="muted">· ${t(`role_${d.role}` as Key)}</span></span>
        ${d.revoked_at ? html`<span class="muted">${t('revoked')}</span>` : html`<button class="small" onClick=${() => api.revoke(d.device_id).then(setDevices).catch((e) => setError(errorText(e)))}>${t('revoke')}</button>`}</li>`)}</ul>
    </div>
  </div>`
}
