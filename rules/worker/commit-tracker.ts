/**
 * Which offset of one partition may be committed: messages are handed out in offset order and
 * finish in any order; the commit point is the offset after the longest finished prefix. A
 * message that was aborted (the worker stopped before its actions finished) stops the commit
 * point for good, so it is delivered again to whoever reads the partition next.
 */
export class CommitTracker {
  #offsets: number[] = [];
  #done: boolean[] = [];
  #head = 0;
  /** The offset of the next record to read once everything before it is handled. */
  #commitPoint: number | undefined;
  #blocked = false;
  #drainWaiters: (() => void)[] = [];

  /** Offsets handed out and not yet finished (counting those behind an unfinished one). */
  get pending(): number {
    return this.#offsets.length - this.#head;
  }

  get commitPoint(): number | undefined {
    return this.#commitPoint;
  }

  /** Registers a message; returns its slot for `finish`. */
  begin(offset: number): number {
    if (this.pending === 0 && this.#head > 0) this.#reset();
    this.#offsets.push(offset);
    this.#done.push(false);
    return this.#offsets.length - 1 + this.#base;
  }

  /** A message that needs no work: finished at once (cheaper than begin + finish). */
  skip(offset: number): void {
    if (this.pending === 0) {
      if (!this.#blocked) this.#commitPoint = offset + 1;
      return;
    }
    this.#done[this.begin(offset) - this.#base] = true;
  }

  /** Marks a slot finished; `ok` false (aborted) blocks the commit point. Returns true when it moved. */
  finish(slot: number, ok: boolean): boolean {
    const i = slot - this.#base;
    if (!ok) this.#blocked = true;
    this.#done[i] = true;
    if (i !== this.#head) return false;
    while (this.#head < this.#offsets.length && this.#done[this.#head]) this.#head++;
    const moved = !this.#blocked;
    if (moved) this.#commitPoint = this.#offsets[this.#head - 1]! + 1;
    if (this.pending === 0) this.#notifyDrained();
    else if (this.#head > 4096 && this.#head * 2 > this.#offsets.length) this.#compact();
    return moved;
  }

  /** Resolves once nothing is pending. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Slots handed out so far are numbered from here (advances when the arrays are compacted). */
  #base = 0;

  #compact(): void {
    this.#base += this.#head;
    this.#offsets = this.#offsets.slice(this.#head);
    this.#done = this.#done.slice(this.#head);
    this.#head = 0;
  }

  #reset(): void {
    this.#base += this.#offsets.length;
    this.#offsets = [];
    this.#done = [];
    this.#head = 0;
  }

  #notifyDrained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }
}
