// The coordinator's duplicates card (a count; opened, households of one group that look like
// one house, each pair with its reasons): keep one (the other is merged into it) or say they
// are two. The rules and the merge are in the store; the hub refuses a merge from anyone but a
// coordinator.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { api, errorText, type DuplicateView, type WalkRow } from './api'
import { t, type Key } from './i18n'
import { AttentionCard } from './attention'

function Side({ row, keep, busy, testid }: { row: WalkRow; keep: () => void; busy: boolean; testid: string }) {
  return html`<div class="dup-side">
    <div><b>${row.alley} ${row.number}</b>${row.name ? html` · ${row.name}` : ''}</div>
    <div class="muted">${row.group} · ${t('dup_visits', { n: row.visits })}</div>
    <button data-testid=${testid} disabled=${busy} onClick=${keep}>${t('dup_keep')}</button>
  </div>`
}

/** The duplicates: a count first; opened, each pair with its reasons and the choices. */
export function DuplicatesCard({ version, onChange }: { version: number; onChange: () => void }) {
  const [pairs, setPairs] = useState<DuplicateView[] | null>(null)
  const [busy, setBusy] = useState(false)
  const [note, setNote] = useState('')
  const [open, setOpen] = useState(false)
  const load = () => api.duplicates().then(setPairs).catch((e) => setNote(errorText(e)))
  useEffect(() => {
    void load()
  }, [version])
  const run = async (action: () => Promise<unknown>, done: string) => {
    setBusy(true)
    try {
      await action()
      setNote(done)
      await load()
      onChange()
    } catch (e) {
      setNote(errorText(e))
    } finally {
      setBusy(false)
    }
  }
  // Shown only when there is something to settle (or a merge just done to confirm).
  if (!pairs || (pairs.length === 0 && !note)) return null
  return html`<${AttentionCard} title=${t('duplicates_title')} count=${pairs.length} testid="duplicates" open=${open} onOpen=${() => setOpen(!open)}>
    ${open && pairs.length === 0 && html`<p class="muted">${t('duplicates_none')}</p>`}
    ${open && pairs.map(
      (p) => html`<div class="dup-pair" data-testid="dup-pair">
        <p class="dup-reasons">${p.reasons.map((r) => t(('dup_' + r) as Key)).join(' · ')}</p>
        <${Side} row=${p.first} busy=${busy} testid="dup-keep-first"
          keep=${() => run(() => api.mergeHouseholds(p.first.id, p.second.id), t('dup_merged'))} />
        <${Side} row=${p.second} busy=${busy} testid="dup-keep-second"
          keep=${() => run(() => api.mergeHouseholds(p.second.id, p.first.id), t('dup_merged'))} />
        <button class="ghost" data-testid="dup-not" disabled=${busy}
          onClick=${() => run(() => api.markNotDuplicate(p.first.id, p.second.id), '')}>${t('dup_not')}</button>
      </div>`,
    )}
    ${note && html`<p class="note" data-testid="dup-note">${note}</p>`}
  <//>`
}
