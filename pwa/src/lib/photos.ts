// Photos: compressed on the phone, kept as Blobs in IndexedDB, named by the SHA-256 of the
// compressed bytes, uploaded later and separately from record sync (SYNC.md "Photos"). A record
// carries only digests, so saving never waits for an upload.

import type { Api } from './api';
import { isApiError } from './api';
import type { LocalStore } from './store';

export const LONG_EDGE = 1600;
export const JPEG_QUALITY = 0.7;

/**
 * Scales the image so its long edge is at most 1600 px and re-encodes it as JPEG q≈0.7.
 * Re-encoding through a canvas also drops EXIF (GPS) from what leaves the phone.
 */
export async function compressImage(file: Blob, longEdge = LONG_EDGE, quality = JPEG_QUALITY): Promise<Blob> {
  const bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  try {
    const scale = Math.min(1, longEdge / Math.max(bmp.width, bmp.height));
    const w = Math.max(1, Math.round(bmp.width * scale));
    const h = Math.max(1, Math.round(bmp.height * scale));
    if (typeof OffscreenCanvas !== 'undefined') {
      const canvas = new OffscreenCanvas(w, h);
      const ctx = canvas.getContext('2d');
      if (!ctx) throw new Error('no 2d context');
      ctx.drawImage(bmp, 0, 0, w, h);
      return await canvas.convertToBlob({ type: 'image/jpeg', quality });
    }
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2d context');
    ctx.drawImage(bmp, 0, 0, w, h);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('toBlob failed'))), 'image/jpeg', quality),
    );
  } finally {
    bmp.close();
  }
}

/** Lowercase hex SHA-256 of the bytes. */
export async function sha256Hex(blob: Blob): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Compresses, digests and stores a photo; returns its digest for the record's `photos`. */
export async function addPhoto(store: LocalStore, file: Blob): Promise<string> {
  const blob = await compressImage(file);
  const digest = await sha256Hex(blob);
  await store.addPhoto({ digest, blob, type: blob.type || 'image/jpeg', state: 'pending', createdAt: Date.now() });
  return digest;
}

export type UploadOutcome = { uploaded: number; failed: number; unsupported: boolean };

/**
 * Uploads the photos the server says it is missing, one at a time, with tus (resumable: a
 * connection lost half-way resumes where it stopped). tus-js-client is loaded only when there
 * is something to upload, so it stays out of the first load.
 */
export class PhotoUploader {
  private running: Promise<UploadOutcome> | null = null;
  /** The server answered 404 to /api/blobs/missing: it has no photo service (yet). */
  unsupported = false;

  constructor(
    private readonly store: LocalStore,
    private readonly api: Api,
    private readonly accessToken: () => Promise<string | null>,
    /** How one photo travels (tus by default; tests pass their own). */
    private readonly send: (blob: Blob, digest: string) => Promise<void> = (b, d) => this.tus(b, d),
  ) {}

  uploadPending(): Promise<UploadOutcome> {
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<UploadOutcome> {
    const out: UploadOutcome = { uploaded: 0, failed: 0, unsupported: false };
    const pending = await this.store.pendingPhotos();
    if (pending.length === 0) return out;
    let missing: string[];
    try {
      const res = await this.api.postJson<{ missing: string[] }>('/api/blobs/missing', {
        hashes: pending.map((p) => p.digest),
      });
      missing = res.missing ?? [];
      this.unsupported = false;
    } catch (e) {
      // A server without the photo service answers 404: keep the photos for later.
      if (isApiError(e) && e.status === 404) {
        this.unsupported = true;
        return { ...out, unsupported: true };
      }
      return { ...out, failed: pending.length };
    }
    const todo = new Set(missing);
    for (const p of pending) {
      if (!todo.has(p.digest)) {
        await this.store.markUploaded(p.digest);
        continue;
      }
      try {
        await this.send(p.blob, p.digest);
        await this.store.markUploaded(p.digest);
        out.uploaded++;
      } catch (e) {
        console.warn('photo upload failed', p.digest, e);
        out.failed++;
      }
    }
    return out;
  }

  private async tus(blob: Blob, digest: string): Promise<void> {
    const { Upload } = await import('tus-js-client');
    await new Promise<void>((resolve, reject) => {
      const upload = new Upload(blob, {
        endpoint: '/api/blobs/tus',
        metadata: { sha256: digest, filetype: blob.type || 'image/jpeg' },
        retryDelays: [0, 2000, 5000, 10000],
        chunkSize: 512 * 1024,
        removeFingerprintOnSuccess: true,
        onBeforeRequest: async (req) => {
          const token = await this.accessToken();
          if (token) req.setHeader('Authorization', `Bearer ${token}`);
        },
        onError: reject,
        onSuccess: () => resolve(),
      });
      void upload.findPreviousUploads().then((previous) => {
        if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
    });
  }
}
