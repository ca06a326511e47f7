/**
 * A page on another site must not open sessions with the visitor's cookies or IP: same origin only.
 * The public URL's origin counts too, as a proxy may pass on the name without the port (nginx's $host),
 * and so may others the caller vouches for (the other nodes of a cluster).
 */
export type OriginCheck = (origin: string, hostHeader: string | undefined) => boolean;

export function createOriginCheck(publicOrigin: string | null, alsoOk: (origin: string) => boolean = () => false): OriginCheck {
  return (origin, hostHeader) => {
    try {
      const o = new URL(origin);
      return o.host === hostHeader || o.origin === publicOrigin || alsoOk(o.origin);
    } catch {
      return false;
    }
  };
}
