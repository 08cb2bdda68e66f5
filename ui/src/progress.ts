// A long task's progress bar: a sync (documents and bytes, of how many) or building the demo
// ward (households). The app keeps the figures (`progress`); the bar polls them while the task
// runs.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { api, type Progress } from './api'
import { t } from './i18n'
import { megabytes, percent } from './logic'

const POLL_MS = 250

/// The progress of the task under way, polled while `active`.
export function useProgress(active: boolean): Progress | null {
  const [progress, setProgress] = useState<Progress | null>(null)
  useEffect(() => {
    if (!active) {
      setProgress(null)
      return
    }
    const poll = () => api.progress().then(setProgress).catch(() => undefined)
    void poll()
    const timer = setInterval(poll, POLL_MS)
    return () => clearInterval(timer)
  }, [active])
  return progress
}

export function progressText(p: Progress): string {
  return p.task === 'sync'
    ? t('progress_sync', {
        docs: p.documents_done,
        docs_total: p.documents_total,
        done: megabytes(p.done),
        total: megabytes(p.total),
      })
    : t('progress_demo', { done: p.done, total: p.total })
}

export function ProgressBar({ progress }: { progress: Progress | null }) {
  if (!progress || progress.total === 0) return null
  return html`<div class="progressbar" data-testid="progress" role="status">
    <progress max=${progress.total} value=${progress.done} aria-label=${progressText(progress)}>${percent(progress.done, progress.total)}%</progress>
    <span class="small-text">${progressText(progress)}</span>
  </div>`
}
