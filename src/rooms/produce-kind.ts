/**
 * The kind a client declares in `produce` decides which host mute applies and how the others receive
 * the stream; the codecs decide what it is. They must agree, or muted audio could come back as "video".
 */

/** Why the declared kind contradicts the codecs (a message for the client), or null when they agree. */
export function kindMismatch(kind: 'audio' | 'video', rtpParameters: unknown): string | null {
  const codecs = (rtpParameters as { codecs?: unknown } | null)?.codecs;
  for (const c of Array.isArray(codecs) ? codecs : []) {
    const mime = String((c as { mimeType?: unknown } | null)?.mimeType ?? '');
    if (!mime.toLowerCase().startsWith(`${kind}/`)) return `produce: codec ${mime || '(none)'} is not ${kind}; send each kind with its own codecs`;
  }
  return null;
}
