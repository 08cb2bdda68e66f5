// Paper for teams without phones and for ward meetings: a residential group's walk list or
// follow-up list as an A4 PDF (Vietnamese, fonts embedded), saved where exports go.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, errorText, type Named, type SheetKind } from './api'
import { t } from './i18n'

export function PaperCard({ groups }: { groups: Named[] }) {
  const [group, setGroup] = useState(groups[0]?.id ?? '')
  const [note, setNote] = useState('')
  const [busy, setBusy] = useState(false)
  const print = async (sheet: SheetKind) => {
    setBusy(true)
    try {
      setNote(t('paper_saved', { path: await api.printSheet(sheet, group) }))
    } catch (e) {
      setNote(errorText(e))
    } finally {
      setBusy(false)
    }
  }
  if (groups.length === 0) return null
  return html`<div class="card" data-testid="paper"><h2>${t('paper_title')}</h2>
    <label>${t('paper_group')}<select data-testid="paper-group" value=${group} onChange=${(e: Event) => setGroup((e.target as HTMLSelectElement).value)}>
      ${groups.map((g) => html`<option value=${g.id}>${g.name}</option>`)}
    </select></label>
    <div class="actions">
      <button data-testid="print-walk-list" disabled=${busy} onClick=${() => print('walk_list')}>${t('paper_walk_list')}</button>
      <button data-testid="print-follow-ups" disabled=${busy} onClick=${() => print('follow_ups')}>${t('paper_follow_ups')}</button>
    </div>
    ${note && html`<p class="note" data-testid="paper-note">${note}</p>`}
  </div>`
}
