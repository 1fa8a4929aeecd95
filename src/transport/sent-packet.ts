/**
 * What the sender remembers about each packet until it is acknowledged or declared lost. Frames, not
 * packets, are retransmitted: a lost packet's STREAM/BULK ranges go back into their send queues and
 * travel again in new packets with new packet numbers (as in QUIC).
 */
import type { BulkOutbound } from "./bulk-sender.js";

export const PacketState = {
  Outstanding: 0,
  Acked: 1,
  Lost: 2,
  /** Not ack-eliciting (ACK-only): never acknowledged, kept only so packet numbers stay contiguous. */
  Untracked: 3,
} as const;
export type PacketState = (typeof PacketState)[keyof typeof PacketState];

/** A retransmittable piece of a packet: a byte range of the stream (bulk === null) or of one bulk message. */
export class SentFrame {
  constructor(
    readonly bulk: BulkOutbound | null,
    readonly offset: number,
    readonly length: number,
  ) {}
}

export class SentPacket {
  state: PacketState;
  /** Delivery-rate bookkeeping copied from the sampler at send time (see delivery-rate.ts). */
  delivered = 0;
  deliveredTime = 0;
  firstSentTime = 0;
  appLimited = false;

  constructor(
    readonly pn: number,
    readonly timeSent: number,
    /** Bytes on the wire (header, frames, protection overhead). */
    readonly size: number,
    readonly ackEliciting: boolean,
    /** Stream/bulk ranges carried, or null. */
    readonly frames: SentFrame[] | null,
    /** The packet carried a MAX_DATA frame: if lost, the current credit is re-announced. */
    readonly hasMaxData: boolean,
  ) {
    this.state = ackEliciting ? PacketState.Outstanding : PacketState.Untracked;
  }
}
