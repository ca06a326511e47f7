import { ConfdError } from '../errors.ts';
import type { StoreData, StoredUser } from './schema.ts';

export function findUser(data: Readonly<StoreData>, name: string): StoredUser | undefined {
  return data.users.find((u) => u.name === name);
}

export function addUser(data: StoreData, name: string, hash: string, now: Date): StoredUser {
  if (findUser(data, name)) throw new ConfdError('conflict', `user "${name}" already exists; use "confctl user passwd ${name}" to change the password`);
  const at = now.toISOString();
  const user = { name, hash, createdAt: at, updatedAt: at };
  data.users.push(user);
  return user;
}

export function setUserHash(data: StoreData, name: string, hash: string, now: Date): void {
  const user = findUser(data, name);
  if (!user) throw new ConfdError('not_found', `no user "${name}"; "confctl user list" shows the users`);
  user.hash = hash;
  user.updatedAt = now.toISOString();
}

/** Removes the user and the authorised IPs it held, so a removed user loses host rights at once. */
export function removeUser(data: StoreData, name: string): { removedIps: number } {
  const i = data.users.findIndex((u) => u.name === name);
  if (i < 0) throw new ConfdError('not_found', `no user "${name}"; "confctl user list" shows the users`);
  data.users.splice(i, 1);
  const before = data.ips.length;
  data.ips = data.ips.filter((e) => e.user !== name);
  return { removedIps: before - data.ips.length };
}
