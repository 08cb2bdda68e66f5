// Why this exists: a request to sync (a tap on "Đồng bộ", a saved record, the minute timer,
// the app opening) must never be lost. One sync runs at a time (the app's, which rotates the
// device's token); a request made while one runs queues exactly one more, which starts when
// the running one ends and so takes what was saved meanwhile. A saved record asks for a sync a
// moment later (a burst of saves is one sync) while the hub was last reachable; when it was
// not, the minute timer retries. Pure scheduling, no IO: the app passes in how to sync.

/** What asked for a sync. Only a tap is answered with a note ("Đã đồng bộ…"); the others are
 * automatic and quiet about success. */
export type SyncReason = 'tap' | 'save' | 'timer' | 'start'

/** What the sync bar shows: a sync running, and one more queued behind it. */
export interface SyncQueueState {
  running: boolean
  queued: boolean
}

export interface SyncQueueOptions {
  /** A save waits this long for more saves before asking for a sync. */
  debounceMs: number
  /** ...but no longer than this after the first save of a burst. */
  maxWaitMs: number
}

export const SYNC_QUEUE_DEFAULTS: SyncQueueOptions = { debounceMs: 1500, maxWaitMs: 5000 }

export class SyncQueue {
  private running = false
  /** The one sync queued behind the running one: quiet unless a tap asked for it. */
  private queued: { quiet: boolean } | null = null
  private saveTimer: ReturnType<typeof setTimeout> | null = null
  private burstStart = 0
  private disposed = false

  constructor(
    /** Runs one sync; `quiet`: nobody tapped, so success says nothing. Must not throw (a
     * thrown error is treated as that sync's end, and the queue goes on). */
    private readonly sync: (quiet: boolean) => Promise<void>,
    private readonly onState: (state: SyncQueueState) => void,
    private readonly options: SyncQueueOptions = SYNC_QUEUE_DEFAULTS,
  ) {}

  /** A sync is asked for: it starts now, or after the running one (once, however many ask). */
  request(reason: SyncReason): void {
    if (this.disposed) return
    const quiet = reason !== 'tap'
    if (this.running) {
      this.queued = { quiet: (this.queued?.quiet ?? true) && quiet }
      this.emit()
      return
    }
    void this.start(quiet)
  }

  /** A record was saved. While a sync runs the next one is queued (it takes this save); else,
   * when the hub was reachable at the last sync, a sync starts after the burst of saves. */
  saved(reachable: boolean): void {
    if (this.disposed) return
    if (this.running) {
      this.request('save')
      return
    }
    if (!reachable) return
    const now = Date.now()
    if (this.saveTimer === null) this.burstStart = now
    else clearTimeout(this.saveTimer)
    const wait = Math.max(0, Math.min(this.options.debounceMs, this.burstStart + this.options.maxWaitMs - now))
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null
      this.request('save')
    }, wait)
  }

  state(): SyncQueueState {
    return { running: this.running, queued: this.queued !== null }
  }

  /** Nothing waits any more (the app locked): a save's pending sync and the queued one are
   * dropped; a running sync ends by itself. */
  clear(): void {
    if (this.saveTimer !== null) clearTimeout(this.saveTimer)
    this.saveTimer = null
    if (this.queued !== null) {
      this.queued = null
      this.emit()
    }
  }

  /** The app is leaving: nothing more starts. */
  dispose(): void {
    this.clear()
    this.disposed = true
  }

  private async start(quiet: boolean): Promise<void> {
    // A debounced save is answered by this sync: it takes the outbox as it starts.
    if (this.saveTimer !== null) {
      clearTimeout(this.saveTimer)
      this.saveTimer = null
    }
    this.running = true
    this.emit()
    try {
      await this.sync(quiet)
    } catch {
      // The sync reports its own failures; the queue only goes on.
    } finally {
      this.running = false
      const next = this.queued
      this.queued = null
      if (next && !this.disposed) void this.start(next.quiet)
      else this.emit()
    }
  }

  private emit(): void {
    if (!this.disposed) this.onState(this.state())
  }
}
