import { describe, expect, it } from 'vitest'
import { dictionaries, t } from './i18n'

describe('translations', () => {
  it('has every key in both languages, never empty', () => {
    const vi = Object.keys(dictionaries.vi).sort()
    const en = Object.keys(dictionaries.en).sort()
    expect(en).toEqual(vi)
    for (const lang of ['vi', 'en'] as const) {
      for (const [key, text] of Object.entries(dictionaries[lang])) {
        expect(text.trim(), `${lang}.${key}`).not.toBe('')
      }
    }
  })

  it('keeps the same placeholders in both languages', () => {
    const names = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort().join()
    for (const key of Object.keys(dictionaries.vi) as (keyof typeof dictionaries.vi)[]) {
      expect(names(dictionaries.en[key]), key).toBe(names(dictionaries.vi[key]))
    }
  })

  it('fills placeholders', () => {
    expect(t('outbox', { n: 3 }, 'vi')).toBe('Chờ gửi: 3')
    expect(t('outbox', { n: 3 }, 'en')).toBe('To send: 3')
  })
})
