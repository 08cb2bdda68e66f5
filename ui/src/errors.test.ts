import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from './bindings'
import { errorMessages, errorText } from './errors'

describe('error messages', () => {
  it('has a Vietnamese and an English message for every code Rust can send', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(50)
    for (const code of ERROR_CODES) {
      for (const lang of ['vi', 'en'] as const) {
        expect(errorMessages[lang][code]?.trim(), `${lang}.${code}`).toBeTruthy()
      }
    }
    expect(Object.keys(errorMessages.vi).sort()).toEqual([...ERROR_CODES].sort())
    expect(Object.keys(errorMessages.en).sort()).toEqual([...ERROR_CODES].sort())
  })

  it('shows the message for the code, never the raw Rust text', () => {
    const refused = { code: 'id_number', message: 'note looks like it contains a citizen ID number' }
    expect(errorText(refused, 'vi')).toBe(errorMessages.vi.id_number)
    expect(errorText(refused, 'en')).toBe(errorMessages.en.id_number)
    expect(errorText('a bare string', 'en')).toBe(errorMessages.en.internal)
    expect(errorText({ code: 'no_such_code', message: 'x' }, 'vi')).toBe(errorMessages.vi.internal)
  })
})
