import { describe, expect, it } from 'vitest'
import { setLang } from './i18n'
import { progressText } from './progress'

// setLang marks the page's language; these tests run without a page.
Object.assign(globalThis, { document: { documentElement: {} } })

describe('progress bar text', () => {
  it('says a sync in documents and megabytes, Vietnamese first', () => {
    setLang('vi')
    const p = { task: 'sync', done: 1_200_000, total: 11_400_000, documents_done: 3, documents_total: 41 } as const
    expect(progressText(p)).toBe('Đang đồng bộ: 3/41 tài liệu · 1.2/11.4 MB')
    setLang('en')
    expect(progressText(p)).toBe('Syncing: 3/41 documents · 1.2/11.4 MB')
  })

  it('says the demo ward in households', () => {
    setLang('vi')
    expect(progressText({ task: 'demo', done: 250, total: 1000, documents_done: 0, documents_total: 0 })).toBe('Đang tạo phường mẫu: 250/1000 hộ')
  })
})
