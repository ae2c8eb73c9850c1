// Per-connection limits: a token bucket for chat messages, and a count of
// recent errors that decides when a client is misbehaving enough to be closed.

/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  constructor(rate, burst, now = Date.now()) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.at = now;
  }

  /** Takes a token if there is one. */
  take(now = Date.now()) {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Counts events in a sliding window of `windowMs`; `hit()` says whether `max` were reached. */
export class ErrorWindow {
  constructor(max, windowMs) {
    this.max = max;
    this.windowMs = windowMs;
    this.times = [];
  }

  hit(now = Date.now()) {
    const t = this.times;
    while (t.length > 0 && t[0] <= now - this.windowMs) t.shift();
    t.push(now);
    return t.length >= this.max;
  }
}
