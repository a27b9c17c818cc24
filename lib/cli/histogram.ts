// An HDR-style log-linear histogram: values below 2^M are counted exactly; above, every power of
// two [2^e, 2^(e+1)) is split into 2^(M-1) equal sub-buckets, so any recorded value is known to
// within 1 part in 2^(M-1) >= 10^digits (HdrHistogram's "significant digits"). Counts grow on
// demand (no highest trackable value); min, max, mean and standard deviation are exact.
//
// By convention the benchmark records microseconds, but any non-negative integer unit works.

export interface Summary {
  count: number;
  min: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class Histogram {
  /** Significant decimal digits every recorded value keeps (1 to 5). */
  readonly digits: number;
  /** log2 of the number of values counted exactly (the first "bucket"). */
  private readonly magnitude: number;
  private readonly linear: number; // 2^magnitude
  private readonly half: number; // 2^(magnitude - 1): sub-buckets per power of two above
  private counts: Float64Array;
  private total = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;
  private sum = 0;
  private sumSquares = 0;

  constructor(digits = 3) {
    if (!Number.isInteger(digits) || digits < 1 || digits > 5)
      throw new RangeError(`histogram digits must be an integer from 1 to 5, not ${digits}`);
    this.digits = digits;
    this.magnitude = Math.ceil(Math.log2(2 * 10 ** digits));
    this.linear = 2 ** this.magnitude;
    this.half = this.linear / 2;
    this.counts = new Float64Array(this.linear + 8 * this.half);
  }

  get count(): number {
    return this.total;
  }

  get min(): number {
    return this.total === 0 ? 0 : this.minValue;
  }

  get max(): number {
    return this.total === 0 ? 0 : this.maxValue;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  get stddev(): number {
    if (this.total === 0) return 0;
    const mean = this.sum / this.total;
    return Math.sqrt(Math.max(0, this.sumSquares / this.total - mean * mean));
  }

  /** Records `value` (rounded to an integer, negatives as 0) `count` times. */
  record(value: number, count = 1): void {
    if (!Number.isFinite(value)) throw new RangeError(`cannot record ${value}`);
    if (count <= 0) return;
    const v = Math.max(0, Math.round(value));
    const index = this.indexOf(v);
    if (index >= this.counts.length) this.grow(index);
    this.counts[index]! += count;
    this.total += count;
    this.sum += v * count;
    this.sumSquares += v * v * count;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  /**
   * The value at percentile `p` (0 to 100): the highest value equivalent to the recorded value
   * at that rank (as HdrHistogram reports it), clamped to [min, max]; 0 when empty.
   */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    if (p <= 0) return this.minValue;
    if (p >= 100) return this.maxValue;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total - 1e-9));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const [, high] = this.rangeOf(i);
        return Math.min(this.maxValue, Math.max(this.minValue, high));
      }
    }
    return this.maxValue;
  }

  summary(): Summary {
    return {
      count: this.total,
      min: this.min,
      mean: this.mean,
      stddev: this.stddev,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max,
    };
  }

  /** Adds every count of `other` to this histogram. */
  merge(other: Histogram): this {
    if (other.total === 0) return this;
    if (other.digits === this.digits) {
      if (other.counts.length > this.counts.length) this.grow(other.counts.length - 1);
      for (let i = 0; i < other.counts.length; i++) this.counts[i]! += other.counts[i]!;
      this.total += other.total;
    } else {
      // Different resolutions: re-record each of other's buckets at its midpoint.
      for (let i = 0; i < other.counts.length; i++) {
        const n = other.counts[i]!;
        if (n === 0) continue;
        const [low, high] = other.rangeOf(i);
        const index = this.indexOf(Math.floor((low + high) / 2));
        if (index >= this.counts.length) this.grow(index);
        this.counts[index]! += n;
        this.total += n;
      }
    }
    this.sum += other.sum;
    this.sumSquares += other.sumSquares;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
    return this;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.minValue = Infinity;
    this.maxValue = -Infinity;
    this.sum = 0;
    this.sumSquares = 0;
  }

  /** Non-empty buckets as [lowest equivalent value, highest equivalent value, count]. */
  buckets(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) {
      if (this.counts[i] !== 0) out.push([...this.rangeOf(i), this.counts[i]!]);
    }
    return out;
  }

  /** The values `value` is indistinguishable from: [lowest, highest]. */
  equivalentRange(value: number): [number, number] {
    return this.rangeOf(this.indexOf(Math.max(0, Math.round(value))));
  }

  private indexOf(v: number): number {
    if (v < this.linear) return v;
    let e = Math.floor(Math.log2(v));
    // log2 of a double can be off by one next to a power of two.
    if (2 ** e > v) e--;
    else if (2 ** (e + 1) <= v) e++;
    const shift = e - this.magnitude + 1; // >= 1
    const sub = Math.floor(v / 2 ** shift); // in [half, linear)
    return this.linear + (shift - 1) * this.half + (sub - this.half);
  }

  private rangeOf(index: number): [number, number] {
    if (index < this.linear) return [index, index];
    const j = index - this.linear;
    const shift = Math.floor(j / this.half) + 1;
    const width = 2 ** shift;
    const low = (this.half + (j % this.half)) * width;
    return [low, low + width - 1];
  }

  private grow(index: number): void {
    let size = this.counts.length;
    while (size <= index) size += 4 * this.half;
    const bigger = new Float64Array(size);
    bigger.set(this.counts);
    this.counts = bigger;
  }
}
