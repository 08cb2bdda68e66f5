// First run: join a ward with an invite code (typed or pasted from a QR link), or the demo.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, errorText, type Overview } from './api'
import { t } from './i18n'
import { parseJoinInput } from './logic'

export function FirstRun({ onJoined }: { onJoined: (o: Overview) => void }) {
  const [hub, setHub] = useState('')
  const [code, setCode] = useState('')
  const [busy, setBusy] = useState<'' | 'join' | 'demo'>('')
  const [error, setError] = useState('')

  async function run(kind: 'join' | 'demo') {
    setBusy(kind)
    setError('')
    try {
      const input = parseJoinInput(hub, code)
      onJoined(kind === 'join' ? await api.join(input.hub, input.code) : await api.tryDemo())
    } catch (e) {
      setError(errorText(e))
    } finally {
      setBusy('')
    }
  }

  return html`<div class="card" data-testid="first-run">
    <h2>${t('first_title')}</h2>
    <p class="muted">${t('first_intro')}</p>
    <label>${t('hub_url')}<input data-testid="hub-url" inputmode="url" placeholder="http://192.168.1.10:7300" value=${hub} onInput=${(e: Event) => setHub((e.target as HTMLInputElement).value)} /></label>
    <label>${t('invite_code')}<input data-testid="invite-code" autocapitalize="characters" placeholder="K7P2Q-9XMTR" value=${code} onInput=${(e: Event) => setCode((e.target as HTMLInputElement).value)} /></label>
    <button class="primary" data-testid="join" disabled=${busy !== ''} onClick=${() => run('join')}>${busy === 'join' ? t('joining') : t('join')}</button>
    <p class="center muted">${t('or')}</p>
    <button data-testid="try-demo" disabled=${busy !== ''} onClick=${() => run('demo')}>${busy === 'demo' ? t('demo_loading') : t('try_demo')}</button>
    ${error && html`<p class="error" data-testid="error">${error}</p>`}
  </div>`
}
