import { describe, expect, it } from 'vitest'
import { assignedFirst, filterRows, fold, idleExpired, megabytes, noPriority, percent, pinProblem, unreachable, virtualWindow, withAlleyHeadings, type WalkRow } from './logic'

function row(alley: string, number: string, extra: Partial<WalkRow> = {}): WalkRow {
  return {
    id: `${alley}-${number}`, group_id: 'g1', group: 'Tổ 1', alley, number, members: 3,
    priority: noPriority(), internet: 'unknown', name: null, visits: 0, last_outcome: null,
    last_visit: null, follow_up: null, follow_up_reason: null, assigned_to: null, phone: null, ...extra,
  }
}

const rows = [
  row('Ngõ 12 Hàng Bông', '5', { visits: 2, last_outcome: 'assisted' }),
  row('Ngõ 12 Hàng Bông', '7', { priority: { ...noPriority(), elderly: true } }),
  row('Ngách 3/14 Đường Thành', '9', { visits: 1, follow_up: '2026-11-20' }),
  row('Ngách 3/14 Đường Thành', '11', { visits: 1, follow_up: '2026-12-20', group_id: 'g2', group: 'Tổ 2' }),
]

describe('walk list', () => {
  it('searches alleys without accents and house numbers', () => {
    expect(fold('Đường Thành')).toBe('duong thanh')
    expect(filterRows(rows, 'duong thanh', 'all', '2026-11-25').map((r) => r.number)).toEqual(['9', '11'])
    expect(filterRows(rows, '7', 'all', '2026-11-25').map((r) => r.number)).toEqual(['7'])
  })

  it('filters by not visited, priority and follow-ups due today', () => {
    expect(filterRows(rows, '', 'not_visited', '2026-11-25').map((r) => r.number)).toEqual(['7'])
    expect(filterRows(rows, '', 'priority', '2026-11-25').map((r) => r.number)).toEqual(['7'])
    expect(filterRows(rows, '', 'follow_up', '2026-11-25').map((r) => r.number)).toEqual(['9'])
    expect(filterRows(rows, '', 'all', '2026-11-25', new Set(['g2'])).map((r) => r.number)).toEqual(['11'])
  })

  it('groups households under their alley', () => {
    const items = withAlleyHeadings(rows)
    expect(items.map((i) => i.kind)).toEqual(['alley', 'household', 'household', 'alley', 'household', 'alley', 'household'])
    expect(items[0]).toMatchObject({ alley: 'Ngõ 12 Hàng Bông', count: 2 })
  })
})

describe('virtual list', () => {
  it('renders only the rows in view, with overscan', () => {
    expect(virtualWindow(0, 640, 64, 5000)).toEqual({ start: 0, end: 16 })
    expect(virtualWindow(64 * 1000, 640, 64, 5000)).toEqual({ start: 994, end: 1016 })
    expect(virtualWindow(64 * 4999, 640, 64, 5000)).toEqual({ start: 4993, end: 5000 })
  })
})

describe('joining', () => {
  it('rounds percentages to one decimal and survives empty wards', () => {
    expect(percent(1, 3)).toBe(33.3)
    expect(percent(0, 0)).toBe(0)
  })
})

describe('app lock', () => {
  it('sets a PIN of six or more digits, typed twice alike', () => {
    expect(pinProblem('12345', '12345')).toBe('pin_too_short')
    expect(pinProblem('12345a', '12345a')).toBe('pin_too_short')
    expect(pinProblem('123456', '123465')).toBe('pin_mismatch')
    expect(pinProblem('12345678', '12345678')).toBeNull()
  })
  it('locks once the idle time has passed, never when it is 0', () => {
    expect(idleExpired(0, 4 * 60_000, 5)).toBe(false)
    expect(idleExpired(0, 5 * 60_000, 5)).toBe(true)
    expect(idleExpired(0, 10 ** 9, 0)).toBe(false)
  })
})

describe('assignments', () => {
  it('puts what was handed to me first, each part in walk order, and filters to it', () => {
    const handed = [
      row('Ngõ 1', '1'),
      row('Ngõ 1', '3', { assigned_to: 'Lan' }),
      row('Ngõ 2', '2', { assigned_to: 'Minh' }),
      row('Ngõ 2', '4', { assigned_to: 'Lan' }),
    ]
    expect(assignedFirst(handed, 'Lan').map((r) => r.number)).toEqual(['3', '4', '1', '2'])
    expect(assignedFirst(handed, null).map((r) => r.number)).toEqual(['1', '3', '2', '4'])
    expect(filterRows(handed, '', 'mine', '2026-11-25', undefined, 'Lan').map((r) => r.number)).toEqual(['3', '4'])
    const keys = withAlleyHeadings(assignedFirst(handed, 'Lan')).map((i) => i.key)
    expect(new Set(keys).size).toBe(keys.length)
  })
})

describe('search and contact', () => {
  it('finds a household by its name without accents or by its phone', () => {
    const people = [
      row('Ngõ 1', '1', { name: 'Bà Nguyễn Thị Hoa', phone: '0912 345 678' }),
      row('Ngõ 1', '3'),
    ]
    expect(filterRows(people, 'nguyen thi hoa', 'all', '2026-11-25').map((r) => r.number)).toEqual(['1'])
    expect(filterRows(people, '345 678', 'all', '2026-11-25').map((r) => r.number)).toEqual(['1'])
    expect(filterRows(people, '091', 'all', '2026-11-25').map((r) => r.number)).toEqual(['1'])
  })
})

describe('unreachable', () => {
  it('tells a hub out of reach from a hub that refused', () => {
    expect(unreachable({ code: 'hub_unreachable', message: '' })).toBe(true)
    expect(unreachable({ code: 'request_timeout', message: '' })).toBe(true)
    expect(unreachable({ code: 'token_unknown', message: '' })).toBe(false)
    expect(unreachable({ code: 'device_revoked', message: '' })).toBe(false)
    expect(unreachable(new Error('boom'))).toBe(false)
  })
})

describe('progress', () => {
  it('says bytes as megabytes with one decimal', () => {
    expect(megabytes(0)).toBe('0.0')
    expect(megabytes(11_400_000)).toBe('11.4')
    expect(megabytes(949_999)).toBe('0.9')
  })
})
