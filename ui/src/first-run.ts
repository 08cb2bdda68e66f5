// First run: join a ward with an invite code and the hub's pin (typed), or a join link pasted
// in place of the code (what a QR code carries), or try the demo.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, errorText, type Overview } from './api'
import { t } from './i18n'
import { ProgressBar, useProgress } from './progress'

export function FirstRun({ onJoined }: { onJoined: (o: Overview) => void }) {
  const [hub, setHub] = useState('')
  const [code, setCode] = useState('')
  const [pin, setPin] = useState('')
  const [busy, setBusy] = useState<'' | 'join' | 'demo'>('')
  const [error, setError] = useState('')
  const progress = useProgress(busy === 'demo')

  async function run(kind: 'join' | 'demo') {
    setBusy(kind)
    setError('')
    try {
      onJoined(kind === 'join' ? await api.join(hub, code, pin.trim() || null) : await api.tryDemo())
    } catch (e) {
      setError(errorText(e))
    } finally {
      setBusy('')
    }
  }

  return html`<div class="card" data-testid="first-run">
    <h2>${t('first_title')}</h2>
    <p class="muted">${t('first_intro')}</p>
    <label>${t('hub_url')}<input data-testid="hub-url" inputmode="url" placeholder="https://192.168.1.10:7300" value=${hub} onInput=${(e: Event) => setHub((e.target as HTMLInputElement).value)} /></label>
    <label>${t('invite_code')}<input data-testid="invite-code" autocapitalize="characters" placeholder="K7P2Q-9XMTR" value=${code} onInput=${(e: Event) => setCode((e.target as HTMLInputElement).value)} /></label>
    <label>${t('hub_pin')}<input data-testid="hub-pin" autocapitalize="none" spellcheck=${false} value=${pin} onInput=${(e: Event) => setPin((e.target as HTMLInputElement).value)} /></label>
    <button class="primary" data-testid="join" disabled=${busy !== ''} onClick=${() => run('join')}>${busy === 'join' ? t('joining') : t('join')}</button>
    <p class="center muted">${t('or')}</p>
    <button data-testid="try-demo" disabled=${busy !== ''} onClick=${() => run('demo')}>${busy === 'demo' ? t('demo_loading') : t('try_demo')}</button>
    <${ProgressBar} progress=${progress} />
    ${error && html`<p class="error" data-testid="error">${error}</p>`}
  </div>`
}
