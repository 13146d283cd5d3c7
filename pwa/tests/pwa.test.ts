import { describe, expect, it, vi } from 'vitest';

vi.mock('virtual:pwa-register', () => ({ registerSW: () => async () => {} }));

describe('update prompt gate', () => {
  it('canOfferUpdate follows the gate the app sets (outbox empty, no unsaved form)', async () => {
    const { canOfferUpdate, setUpdateGate } = await import('../src/lib/pwa');
    let pending = 2;
    let dirty = false;
    setUpdateGate(async () => pending === 0 && !dirty);
    expect(await canOfferUpdate()).toBe(false);
    pending = 0;
    expect(await canOfferUpdate()).toBe(true);
    dirty = true;
    expect(await canOfferUpdate()).toBe(false);
    setUpdateGate(() => {
      throw new Error('db closed');
    });
    expect(await canOfferUpdate()).toBe(false);
  });
});
