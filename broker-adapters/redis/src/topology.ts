/**
 * Registering queues and groups: a name's role in the `bk:names` hash (groups and queues share
 * one namespace), a group's route in `bk:routes:<first token>`, and the consumer group on its
 * stream — each in one script, so a conflict is seen before anything changes.
 */
import type { Redis } from 'ioredis';
import { ConfigurationError, firstToken } from '@brokerkit/core/adapter';
import { mapRedisError } from './errors.js';
import { NAMES_KEY, decodeRole, encodeRole, routesKey, streamKey, type Role } from './names.js';
import { ENSURE_GROUP, ENSURE_QUEUE } from './scripts.js';

function conflict(name: string, have: unknown, wanted: Role): ConfigurationError {
  const existing = decodeRole(typeof have === 'string' ? have : undefined);
  if (existing?.kind === 'group' && wanted.kind === 'group') {
    return new ConfigurationError(
      `group "${name}" is bound to pattern "${existing.pattern}", not "${wanted.pattern}" (delete the group to re-bind it)`,
    );
  }
  const what = existing ? `a ${existing.kind}` : `registered as ${JSON.stringify(have)}`;
  return new ConfigurationError(
    `"${name}" is ${what} already, so it cannot be a ${wanted.kind}: groups and queues share one namespace`,
  );
}

/** Provisions queues and groups. */
export class Topology {
  constructor(private readonly redis: Redis) {}

  /** The queue's stream and consumer group exist (created at the stream's start), its name is a queue's. */
  async ensureQueue(queue: string): Promise<void> {
    let role: unknown;
    try {
      role = await ENSURE_QUEUE.run(this.redis, [NAMES_KEY, streamKey(queue)], [queue]);
    } catch (error) {
      throw mapRedisError(error, `provision queue ${queue}`);
    }
    if (role !== 'queue') throw conflict(queue, role, { kind: 'queue' });
  }

  /**
   * The group is registered with this pattern: publishes from now on reach its stream. A group
   * that exists keeps its stream and position (what was published while no member was connected).
   */
  async ensureGroup(group: string, pattern: string): Promise<void> {
    const wanted: Role = { kind: 'group', pattern };
    let role: unknown;
    try {
      role = await ENSURE_GROUP.run(
        this.redis,
        [NAMES_KEY, routesKey(firstToken(pattern)), streamKey(group)],
        [group, pattern],
      );
    } catch (error) {
      throw mapRedisError(error, `provision group ${group}`);
    }
    if (role !== encodeRole(wanted)) throw conflict(group, role, wanted);
  }
}
