/**
 * Receiver flow control constants, shared by both ends (they are part of protocol version 1: each side
 * starts out assuming the other's initial credit without a round trip).
 *
 * Stream credit is an offset: the sender may send stream bytes below `streamLimit`. The receiver moves
 * the limit as bytes reach the message assembler, so out-of-order stream data held back is at most
 * `STREAM_WINDOW`.
 *
 * Bulk credit is cumulative: starting a message consumes its length plus `BULK_MESSAGE_CHARGE` (so that
 * even tiny messages are counted); the receiver raises `bulkLimit` as messages are delivered. Partially
 * received bulk messages are thus bounded by `BULK_WINDOW`. The window exceeds the largest message plus
 * its charge, so one message can always start once all earlier ones are delivered: no deadlock.
 */
import { MAX_BULK_MESSAGE } from "../wire/frames.js";

export const STREAM_WINDOW = 8 * 1024 * 1024;
/**
 * Largest stream message. The receiver must hold a whole message before delivering it, so this bounds
 * what one authenticated peer can make us allocate; a larger length prefix is a protocol violation.
 */
export const MAX_MESSAGE = 256 * 1024 * 1024;
export const BULK_WINDOW = 2 * MAX_BULK_MESSAGE;
export const BULK_MESSAGE_CHARGE = 64;
/** The receiver announces new credit once it has grown by this fraction of the window. */
export const CREDIT_UPDATE_FRACTION = 1 / 4;
