import t from 'tap';
import { validate, version } from 'uuid';
import { newMessageId } from '../src/ids.js';

t.test('message ids are valid UUID v7s, unique, and sort in creation order', async (t) => {
  const before = Date.now();
  const ids = Array.from({ length: 50_000 }, () => newMessageId());
  const after = Date.now();
  t.ok(
    ids.every((id) => validate(id) && version(id) === 7),
    'every id is a valid version-7 UUID',
  );
  t.ok(
    ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)),
    'RFC 9562 layout: version 7, variant 10',
  );
  t.equal(new Set(ids).size, ids.length, 'no duplicates');
  t.ok(
    ids.every((id, i) => i === 0 || id > ids[i - 1]!),
    'strictly increasing, also within one millisecond',
  );
  const ms = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
  t.ok(ms(ids[0]!) >= before && ms(ids.at(-1)!) <= after + 1, 'the first 48 bits are the creation time');
});
