import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { SyncQueue, type SyncQueueState } from './sync-queue'

/** A sync that ends when the test says so, recording each start's `quiet`. */
function harness() {
  const runs: boolean[] = []
  const ends: (() => void)[] = []
  const states: SyncQueueState[] = []
  const queue = new SyncQueue(
    (quiet) => {
      runs.push(quiet)
      return new Promise<void>((resolve) => ends.push(resolve))
    },
    (s) => states.push(s),
    { debounceMs: 1500, maxWaitMs: 5000 },
  )
  /** Ends the running sync and lets the queue start the next one. */
  const finish = async () => {
    ends.shift()?.()
    for (let i = 0; i < 5; i++) await Promise.resolve()
    await vi.advanceTimersByTimeAsync(0)
  }
  return { queue, runs, states, finish }
}

describe('sync queue', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('starts a request at once when idle', () => {
    const { queue, runs } = harness()
    queue.request('tap')
    expect(runs).toEqual([false])
    expect(queue.state()).toEqual({ running: true, queued: false })
  })

  it('queues exactly one more sync for any number of requests while one runs', async () => {
    const { queue, runs, finish } = harness()
    queue.request('start')
    queue.request('tap')
    queue.request('tap')
    queue.request('timer')
    expect(queue.state()).toEqual({ running: true, queued: true })
    await finish()
    expect(runs).toEqual([true, false])
    expect(queue.state()).toEqual({ running: true, queued: false })
    await finish()
    expect(runs).toEqual([true, false])
    expect(queue.state()).toEqual({ running: false, queued: false })
  })

  it('answers a tap queued behind an automatic sync with a note; automatic ones stay quiet', async () => {
    const { queue, runs, finish } = harness()
    queue.request('timer')
    queue.request('timer')
    await finish()
    expect(runs).toEqual([true, true])
  })

  it('goes on to the queued sync when the running one fails', async () => {
    const runs: boolean[] = []
    let fail = true
    const queue = new SyncQueue(
      async (quiet) => {
        runs.push(quiet)
        if (fail) {
          fail = false
          throw new Error('hub unreachable')
        }
      },
      () => undefined,
    )
    queue.request('start')
    queue.request('tap')
    await vi.advanceTimersByTimeAsync(0)
    expect(runs).toEqual([true, false])
    expect(queue.state()).toEqual({ running: false, queued: false })
  })

  it('syncs a burst of saves once, shortly after the last one', async () => {
    const { queue, runs } = harness()
    queue.saved(true)
    await vi.advanceTimersByTimeAsync(1000)
    queue.saved(true)
    await vi.advanceTimersByTimeAsync(1000)
    queue.saved(true)
    await vi.advanceTimersByTimeAsync(1499)
    expect(runs).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(runs).toEqual([true])
  })

  it('syncs within 5 s of the first save however long the burst goes on', async () => {
    const { queue, runs } = harness()
    for (let i = 0; i < 10; i++) {
      queue.saved(true)
      await vi.advanceTimersByTimeAsync(500)
    }
    // 10 saves over 5 s: the sync started at 5 s, not 1.5 s after the last save.
    expect(runs).toEqual([true])
  })

  it('leaves saves to the minute timer while the hub is out of reach', async () => {
    const { queue, runs } = harness()
    queue.saved(false)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(runs).toEqual([])
  })

  it('queues a save made while a sync runs, reachable or not: the running sync did not take it', async () => {
    const { queue, runs, finish } = harness()
    queue.request('start')
    queue.saved(false)
    expect(queue.state().queued).toBe(true)
    await finish()
    expect(runs).toEqual([true, true])
  })

  it('drops a pending save timer when a tap starts a sync (that sync takes the save)', async () => {
    const { queue, runs, finish } = harness()
    queue.saved(true)
    queue.request('tap')
    await finish()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(runs).toEqual([false])
  })

  it('tells the sync bar each change of state', async () => {
    const { queue, states, finish } = harness()
    queue.request('start')
    queue.request('tap')
    await finish()
    await finish()
    expect(states).toEqual([
      { running: true, queued: false },
      { running: true, queued: true },
      { running: true, queued: false },
      { running: false, queued: false },
    ])
  })

  it('drops what waits when cleared (the app locked), and goes on afterwards', async () => {
    const { queue, runs, finish } = harness()
    queue.saved(true)
    queue.clear()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(runs).toEqual([])
    queue.request('start')
    queue.request('tap')
    queue.clear()
    expect(queue.state()).toEqual({ running: true, queued: false })
    await finish()
    expect(runs).toEqual([true])
    queue.request('tap')
    expect(runs).toEqual([true, false])
  })

  it('starts nothing once disposed', async () => {
    const { queue, runs, finish } = harness()
    queue.request('start')
    queue.request('tap')
    queue.dispose()
    await finish()
    queue.request('tap')
    queue.saved(true)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(runs).toEqual([true])
  })
})
