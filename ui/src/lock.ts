// The lock screen: the PIN set at first run (typed twice), asked at every start and after the
// idle time; wrong PINs wait as the app says; a forgotten PIN is replaced with the recovery
// code. The recovery code a first unlock makes is shown once, to be written down.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { api, errorText, type LockState, type Unlocked } from './api'
import { t } from './i18n'
import { pinProblem } from './logic'

type Mode = 'unlock' | 'recover'

export function LockScreen({ state, onUnlocked }: { state: LockState; onUnlocked: (u: Unlocked) => void }) {
  const [mode, setMode] = useState<Mode>('unlock')
  const [pin, setPin] = useState('')
  const [again, setAgain] = useState('')
  const [code, setCode] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const [wait, setWait] = useState(state.wait_seconds)
  const setting = !state.has_pin || mode === 'recover'

  useEffect(() => {
    if (wait <= 0) return
    const timer = setTimeout(() => setWait(wait - 1), 1000)
    return () => clearTimeout(timer)
  }, [wait])

  async function submit(e: Event) {
    e.preventDefault()
    const problem = setting ? pinProblem(pin, again) : null
    if (problem) {
      setError(t(problem))
      setPin('')
      setAgain('')
      return
    }
    setBusy(true)
    setError('')
    try {
      onUnlocked(mode === 'recover' ? await api.recoverPin(code, pin) : await api.unlock(pin))
    } catch (err) {
      setError(errorText(err))
      setPin('')
      setAgain('')
      const s = await api.lockState().catch(() => null)
      if (s) setWait(s.wait_seconds)
    } finally {
      setBusy(false)
    }
  }

  const input = (testid: string, value: string, set: (v: string) => void, label: string) =>
    html`<label>${label}<input data-testid=${testid} type="password" inputmode="numeric" autocomplete="off" value=${value} onInput=${(e: Event) => set((e.target as HTMLInputElement).value)} /></label>`

  return html`<form class="card lock" data-testid="lock-screen" onSubmit=${submit}>
    <h2>${!state.has_pin ? t('pin_set_title') : mode === 'recover' ? t('pin_recover_title') : t('pin_title')}</h2>
    <p class="muted">${!state.has_pin ? t('pin_set_intro') : mode === 'recover' ? t('pin_recover_intro') : t('pin_intro')}</p>
    ${mode === 'recover' && html`<label>${t('recovery_code')}<input data-testid="recovery-code-input" autocapitalize="characters" value=${code} onInput=${(e: Event) => setCode((e.target as HTMLInputElement).value)} /></label>`}
    ${input('pin', pin, setPin, setting ? t('pin_new') : t('pin'))}
    ${setting && input('pin-again', again, setAgain, t('pin_again'))}
    <button class="primary" data-testid="unlock" type="submit" disabled=${busy || wait > 0}>${wait > 0 ? t('pin_wait', { s: wait }) : busy ? t('unlocking') : t('unlock')}</button>
    ${state.has_pin && html`<button type="button" class="ghost" data-testid="forgot-pin" onClick=${() => { setMode(mode === 'recover' ? 'unlock' : 'recover'); setError('') }}>${mode === 'recover' ? t('pin_back') : t('pin_forgot')}</button>`}
    ${error && html`<p class="error" data-testid="lock-error">${error}</p>`}
  </form>`
}

export function RecoveryCode({ code, onDone }: { code: string; onDone: () => void }) {
  return html`<div class="card lock" data-testid="recovery-card">
    <h2>${t('recovery_title')}</h2>
    <p>${t('recovery_intro')}</p>
    <p class="code" data-testid="recovery-code">${code}</p>
    <button class="primary" data-testid="recovery-done" onClick=${onDone}>${t('recovery_done')}</button>
  </div>`
}
