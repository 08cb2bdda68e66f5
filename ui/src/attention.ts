// The dashboard's attention cards: what needs a coordinator (duplicates, reviews, sync
// problems), each a title, a count and a button to the list, below the ward's figures.
import { html } from 'htm/preact'
import { t } from './i18n'

/** What needs a coordinator's attention, as a short card: a title, a count, and a button that
 * opens the list (in place, or on another screen). */
export function AttentionCard({ title, count, testid, open, onOpen, children }: { title: string; count: number; testid: string; open?: boolean; onOpen: () => void; children?: unknown }) {
  return html`<div class=${open ? 'card attention open' : 'card attention'} data-testid=${testid}>
    <div class="row-between"><h2>${title}</h2><b class="count" data-testid=${testid + '-count'}>${count}</b></div>
    <button class="small" data-testid=${'open-' + testid} aria-expanded=${open === undefined ? undefined : open} onClick=${onOpen}>${open ? t('attention_hide') : t('attention_open')}</button>
    ${children}
  </div>`
}
