/** A UDP port free on every demo address, so that a second LEFT (or a test suite) on this machine does not collide. */
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";

/** The range LEFT's ports must come from (see `left --help`). */
const FIRST = 20000;
const LAST = 30000;
const ATTEMPTS = 50;

function freeOn(host: string, port: number): Promise<boolean> {
  const socket = createSocket("udp4");
  return new Promise<boolean>((resolve) => {
    socket.once("error", () => resolve(false));
    socket.bind(port, host, () => resolve(true));
  }).finally(() => socket.close());
}

export async function freePort(hosts: readonly string[]): Promise<number> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = randomInt(FIRST, LAST + 1);
    const free = await Promise.all(hosts.map((h) => freeOn(h, port)));
    if (free.every(Boolean)) return port;
  }
  throw new Error(`no UDP port in ${FIRST}-${LAST} is free on ${hosts.join(", ")}`);
}
