/**
 * Per-connection rate quotas (AWS IoT: publish requests per second and throughput per
 * connection). A token bucket that holds at most one second's worth, so a client may burst up
 * to the per-second quota and then goes at the quota's rate.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  /** `perSecond` 0 means no limit. */
  constructor(
    readonly perSecond: number,
    now: number = Date.now(),
  ) {
    this.#tokens = perSecond;
    this.#last = now;
  }

  /** Takes `amount` tokens if there are enough; false (and nothing taken) otherwise. */
  take(amount: number, now: number = Date.now()): boolean {
    if (this.perSecond <= 0) return true;
    if (now > this.#last) {
      this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#last) * this.perSecond) / 1000);
      this.#last = now;
    }
    if (this.#tokens < amount) return false;
    this.#tokens -= amount;
    return true;
  }
}
