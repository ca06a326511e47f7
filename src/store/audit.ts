import type { AuditEvent, StoreData } from './schema.ts';

/** The trail keeps the newest events only, so the database (rewritten whole on each change) stays small. */
export const AUDIT_MAX_EVENTS = 5000;

export function appendAudit(
  data: StoreData,
  now: Date,
  type: string,
  actor: string,
  details: Record<string, string | number | boolean | null> = {},
): AuditEvent {
  const event: AuditEvent = { ...details, at: now.toISOString(), type, actor };
  data.audit.push(event);
  if (data.audit.length > AUDIT_MAX_EVENTS) data.audit.splice(0, data.audit.length - AUDIT_MAX_EVENTS);
  return event;
}
