// Entry point: picks the language the person chose last time (Vietnamese by default) and
// renders the app.
import { render } from 'preact'
import { html } from 'htm/preact'
import { initLang } from './i18n'
import { App } from './app'

let stored: string | null = null
try {
  stored = localStorage.getItem('doorstep.lang')
} catch {
  stored = null
}
initLang(stored)
document.documentElement.lang = stored === 'en' ? 'en' : 'vi'
const root = document.getElementById('app')
if (root) render(html`<${App} />`, root)
