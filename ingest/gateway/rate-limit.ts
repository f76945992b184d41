/**
 * Rate quotas (AWS IoT: publish requests per second and throughput per connection, CONNECTs per
 * client id). A token bucket that holds at most one second's worth, so a client may burst up
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

/** One token bucket per key (a client id); a key not seen for a second is forgotten (its bucket would be full again). */
export class KeyedRate {
  readonly #buckets = new Map<string, { bucket: TokenBucket; last: number }>();
  #swept = 0;

  /** `perSecond` 0 means no limit. */
  constructor(readonly perSecond: number) {}

  take(key: string, now: number): boolean {
    if (this.perSecond <= 0) return true;
    if (now - this.#swept >= 1000) {
      for (const [k, entry] of this.#buckets) if (now - entry.last >= 1000) this.#buckets.delete(k);
      this.#swept = now;
    }
    let entry = this.#buckets.get(key);
    if (!entry) this.#buckets.set(key, (entry = { bucket: new TokenBucket(this.perSecond, now), last: now }));
    entry.last = now;
    return entry.bucket.take(1, now);
  }
}
