/**
 * Datagram size choice. On loopback there is no MTU to respect (the kernel carries 64 KiB datagrams) and
 * per-datagram CPU dominates (a send or receive costs about the same at 32000 and at 65000 bytes), so
 * the largest datagram that fits loopback's 65536-byte MTU with IP and UDP headers, 65000 bytes, costs
 * the least per byte. Datagrams above 32 KiB used to cost 3–5 times more to receive: glibc kept
 * trimming the heap that Node's per-datagram buffers live in, and every datagram faulted in fresh
 * pages; allocator-priming.ts removed that. On a real network a datagram above the path MTU is
 * IP-fragmented, and losing any fragment loses the whole datagram, so 1400 bytes (1500 Ethernet MTU
 * minus IP/UDP headers and tunnel headroom) is the safe choice. See docs/PROTOCOL.md, "Packet size".
 */
import { isIPv4 } from "node:net";
import { MIN_PACKET_SIZE } from "../wire/handshake.js";
import { MAX_DATAGRAM } from "../wire/header.js";

export const LOOPBACK_PACKET_SIZE = 65000;
export const NETWORK_PACKET_SIZE = 1400;

/** Packet size for a peer: `override` if given (validated), else by whether the peer is on 127/8. */
export function defaultPacketSize(peerHost: string, override?: number): number {
  if (override !== undefined) {
    if (!Number.isInteger(override) || override < MIN_PACKET_SIZE || override > MAX_DATAGRAM) {
      throw new RangeError(`packet size must be an integer in [${MIN_PACKET_SIZE}, ${MAX_DATAGRAM}]`);
    }
    return override;
  }
  return isIPv4(peerHost) && peerHost.startsWith("127.") ? LOOPBACK_PACKET_SIZE : NETWORK_PACKET_SIZE;
}
