// Hybrid logical clock (SYNC.md, "Clocks and merge"): `TTTTTTTTTTTTTTT-CCCCC-NODE`, 15-digit
// Unix milliseconds, 5-digit counter (never above 99999), then the node id, which on a phone
// must be its client_id (SYNC-STORAGE.md: the server rejects any other node). HLC strings
// compare as plain strings, so every part is zero-padded.
//
// Pure: the wall clock comes in as an argument, so the merge rules can be unit-tested.

export const MAX_COUNTER = 99_999;

export interface HlcParts {
  ms: number;
  counter: number;
  node: string;
}

export function formatHlc(p: HlcParts): string {
  return `${String(p.ms).padStart(15, '0')}-${String(p.counter).padStart(5, '0')}-${p.node}`;
}

export function parseHlc(s: string): HlcParts | null {
  const m = /^(\d{15})-(\d{5})-(.+)$/.exec(s);
  if (!m) return null;
  return { ms: Number(m[1]), counter: Number(m[2]), node: m[3]! };
}

/**
 * One device's clock. `offsetMs` is added to the phone's own clock so that stamps follow the
 * server's time (phones are often minutes off; the server refuses HLCs more than 10 minutes
 * ahead with clock_skew).
 */
export class Hlc {
  private lastMs = 0;
  private lastCounter = 0;

  constructor(
    readonly node: string,
    public offsetMs = 0,
    last: string | null = null,
  ) {
    if (last) this.observe(last);
  }

  /** A new stamp, greater than every stamp made or observed before. */
  now(wallMs: number = Date.now()): string {
    const wall = Math.floor(wallMs + this.offsetMs);
    if (wall > this.lastMs) {
      this.lastMs = wall;
      this.lastCounter = 0;
    } else if (this.lastCounter >= MAX_COUNTER) {
      // The counter may not overflow: move to the next millisecond instead.
      this.lastMs += 1;
      this.lastCounter = 0;
    } else {
      this.lastCounter += 1;
    }
    return formatHlc({ ms: this.lastMs, counter: this.lastCounter, node: this.node });
  }

  /**
   * Takes in a stamp seen elsewhere (pulled records), so that an edit made after seeing a value
   * always wins over it, even if this phone's clock is behind the writer's.
   */
  observe(stamp: string): void {
    const p = parseHlc(stamp);
    if (!p) return;
    if (p.ms > this.lastMs || (p.ms === this.lastMs && p.counter > this.lastCounter)) {
      this.lastMs = p.ms;
      this.lastCounter = p.counter;
    }
  }

  /**
   * Forgets stamps ahead of `limitMs` (after a clock_skew answer): the next stamp starts from
   * the corrected wall clock instead of the skewed past maximum.
   */
  rewind(limitMs: number): void {
    if (this.lastMs > limitMs) {
      this.lastMs = limitMs;
      this.lastCounter = 0;
    }
  }

  /** The greatest stamp so far (kept in meta so that a reload keeps counting upwards). */
  last(): string {
    return formatHlc({ ms: this.lastMs, counter: this.lastCounter, node: this.node });
  }
}
