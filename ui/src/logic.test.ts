import { describe, expect, it } from 'vitest'
import type { ReviewItem, ReviewState } from './bindings'
import { idleExpired, listItems, listLength, megabytes, pagesOf, percent, pinProblem, reviewsWaiting, todayIso, unreachable, virtualWindow, type AlleyRun } from './logic'

function run(alley: string, count: number): AlleyRun {
  return { group_id: 'g1', group: 'Tổ 1', alley, count }
}

describe('walk list', () => {
  // What to search, filter and put first is the store's (doorstep_domain::walk, tested in
  // Rust); the screen lays out the alley runs it answers and fetches the rows in view.
  const runs = [run('Ngõ 12 Hàng Bông', 2), run('Ngách 3/14 Đường Thành', 1), run('Ngõ 5', 3)]

  it('lays out each alley run as a heading then its households, by offset', () => {
    expect(listLength(runs)).toBe(9)
    const all = listItems(runs, 0, 9)
    expect(all.map((i) => i.kind)).toEqual(['alley', 'household', 'household', 'alley', 'household', 'alley', 'household', 'household', 'household'])
    expect(all.flatMap((i) => (i.kind === 'household' ? [i.offset] : []))).toEqual([0, 1, 2, 3, 4, 5])
    expect(all[3]).toMatchObject({ kind: 'alley', run: { alley: 'Ngách 3/14 Đường Thành', count: 1 } })
  })

  it('gives a window of items alone, and the pages of rows it needs', () => {
    expect(listItems(runs, 4, 7)).toEqual([{ kind: 'household', offset: 2 }, { kind: 'alley', key: 'a:2', run: runs[2] }, { kind: 'household', offset: 3 }])
    expect(listItems(runs, 9, 20)).toEqual([])
    const big = [run('Ngõ 1', 150), run('Ngõ 2', 150)]
    expect(pagesOf(listItems(big, 95, 160), 100)).toEqual([0, 1])
    expect(pagesOf(listItems(big, 151, 153), 100)).toEqual([1])
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

describe('today', () => {
  it('is Hanoi\'s day, which begins at 17:00 UTC', () => {
    expect(todayIso(new Date('2026-11-30T16:59:59Z'))).toBe('2026-11-30')
    expect(todayIso(new Date('2026-11-30T17:00:00Z'))).toBe('2026-12-01')
  })
})

describe('reviews', () => {
  const item = (state: ReviewState): ReviewItem =>
    ({ id: state, map: 'households', group_id: 'g', household_id: 'h', address: 'Ngõ 1 › 2', review: { state, comment: null, by: 'Chị Hà', at: '2026-11-25T03:00:00Z' } })

  it('waits on the field when a fix is asked, on the coordinator when it is done', () => {
    const all = [item('needs_fix'), item('fixed'), item('approved')]
    expect(reviewsWaiting(all, false).map((r) => r.review.state)).toEqual(['needs_fix'])
    expect(reviewsWaiting(all, true).map((r) => r.review.state)).toEqual(['fixed'])
  })
})
