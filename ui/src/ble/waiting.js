// The two ways the BLE client waits: for its turn (SerialQueue), and for the logger's
// answer to one message (AnswerWaiter). No Bluetooth here, so Node tests drive both alone.

/** Runs functions one at a time, in the order given, whether the one before succeeded or
 * not: GATT allows one operation in flight, and the protocol one request. */
export class SerialQueue {
  constructor() {
    this._tail = Promise.resolve();
  }

  /** fn() once every function queued before it has settled; its result or error. */
  run(fn) {
    const result = this._tail.then(() => fn());
    this._tail = result.catch(() => {});
    return result;
  }
}

/** The answer to one message: the first one `matches` accepts, offered by whoever reads
 * the logger (a notification, a status read). An answer offered between two `next` calls
 * is kept, not lost: a late answer found in the status value still counts. */
export class AnswerWaiter {
  /** matches(answer) -> boolean; onClose() when the waiter is done with. */
  constructor(matches, onClose = () => {}) {
    this._matches = matches;
    this._onClose = onClose;
    this._taken = null;
    this._failure = null;
    this._wake = null;
  }

  /** Take `answer` if it is the one awaited and none is held yet; true if taken. */
  offer(answer) {
    if (this._taken || !this._matches(answer)) return false;
    this._taken = answer;
    this._wake?.();
    return true;
  }

  /** End the wait with `err` (the link went down). */
  fail(err) {
    this._failure = err;
    this._wake?.();
  }

  /** The answer held, or null. */
  taken() {
    return this._taken;
  }

  /** Forget the answer held (it asked for the message again: E_FRAME). */
  rearm() {
    this._taken = null;
  }

  /** The answer, as soon as there is one, or null after `timeoutMs`; rejects with the
   * failure given to `fail`. */
  next(timeoutMs) {
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this._wake = null;
        if (this._failure) reject(this._failure);
        else resolve(this._taken);
      };
      const timer = setTimeout(settle, timeoutMs);
      this._wake = settle;
      if (this._taken || this._failure) settle();
    });
  }

  close() {
    this._onClose();
  }
}
