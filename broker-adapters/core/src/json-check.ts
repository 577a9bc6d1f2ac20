/**
 * Values `JSON.stringify` changes without an error — a `Map` or `Set` becomes `{}`, `NaN` and
 * `Infinity` become `null`, a function inside an object disappears — would reach a consumer as
 * something other than what was published. The default codec refuses them instead, naming where
 * they are (docs/architecture.md#error-codes, `BK_VALIDATION`).
 */

/** Where an unrepresentable value sits in a payload, and what it is. */
export interface Unrepresentable {
  /** `payload`, `payload.items[2].tags`, `payload["a b"]`. */
  readonly path: string;
  /** `a Map`, `NaN`, `a function`, … */
  readonly what: string;
  /** What JSON would have made of it (`{}`, `null`, …); `undefined` when it throws instead. */
  readonly becomes: string | undefined;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function keyPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Objects that have no JSON form of their own, and what JSON makes of them without a `toJSON`. */
function opaqueObject(value: object): Pick<Unrepresentable, 'what' | 'becomes'> | undefined {
  if (value instanceof Map) return { what: 'a Map', becomes: '{}' };
  if (value instanceof Set) return { what: 'a Set', becomes: '{}' };
  if (ArrayBuffer.isView(value))
    return { what: `a ${value.constructor.name}`, becomes: 'an object of indices, {"0":…}' };
  if (value instanceof ArrayBuffer) return { what: 'an ArrayBuffer', becomes: '{}' };
  if (value instanceof RegExp) return { what: 'a RegExp', becomes: '{}' };
  if (value instanceof Error) return { what: `an error (${value.name})`, becomes: '{} without its message' };
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof Promise)
    return { what: `a ${value.constructor.name}`, becomes: '{}' };
  return undefined;
}

/**
 * The first value in `value` that JSON cannot represent faithfully, or `undefined`. Call it only
 * on a value `JSON.stringify` accepted: that rules out cycles (in every part it descends into),
 * so the walk needs no visited set. Objects with a `toJSON` (a `Date`) are trusted as they are.
 * `undefined` object properties are allowed: JSON omits them, and absent is what they mean.
 */
export function findUnrepresentable(
  value: unknown,
  path = 'payload',
  inArray = false,
): Unrepresentable | undefined {
  // In an array JSON writes `null` for what it cannot write; in an object it drops the key.
  const dropped = inArray ? 'null' : 'nothing (the key is dropped)';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path, what: String(value), becomes: 'null' };
    case 'bigint':
      return { path, what: 'a bigint', becomes: undefined };
    case 'function':
      return { path, what: 'a function', becomes: dropped };
    case 'symbol':
      return { path, what: 'a symbol', becomes: dropped };
    case 'undefined':
      return { path, what: 'undefined', becomes: 'null' };
  }
  if (value === null) return undefined;
  const object = value as Record<string, unknown>;
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const found = findUnrepresentable(object[i], `${path}[${i}]`, true);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof object.toJSON === 'function') return undefined;
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const opaque = opaqueObject(object);
    if (opaque) return { path, ...opaque };
  }
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const item = object[key];
    if (item === undefined) continue;
    const found = findUnrepresentable(item, keyPath(path, key));
    if (found) return found;
  }
  return undefined;
}
