/**
 * Commands issued in one tick leave in one write. ioredis writes every command to its socket at
 * once, and a socket that is not busy makes each write its own syscall: with many publishes in
 * flight that was the largest single cost of a publish (a sixth of its CPU). Corking the socket
 * until the next tick lets Node send them together (`writev`). `redis.stream` is ioredis' typed,
 * public socket; it is replaced on reconnect, so the socket corked is the one written to now.
 */
import type { Redis } from 'ioredis';

const corked = new WeakSet<object>();

/** Hold what `redis` writes during the rest of this tick and send it in one go. */
export function corkForTick(redis: Redis): void {
  const socket = redis.stream;
  if (socket === undefined || socket === null || corked.has(socket) || redis.status !== 'ready') return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
