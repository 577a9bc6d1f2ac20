import t from 'tap';
import { validate, version } from 'uuid';
import { idCarriesTime, messageIdTime, newMessageId } from '../src/ids.js';

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

t.test("an id's time never runs ahead of the clock, also past 4096 ids in one millisecond", async (t) => {
  let ahead = 0;
  let most = 0;
  let perMs = 0;
  let lastMs = -1;
  for (let i = 0; i < 200_000; i++) {
    const id = newMessageId();
    const now = Date.now();
    const ms = messageIdTime(id)!;
    if (ms > now) ahead++;
    if (ms === lastMs) perMs++;
    else {
      most = Math.max(most, perMs);
      perMs = 1;
      lastMs = ms;
    }
  }
  t.equal(ahead, 0, `no id ahead of Date.now() (up to ${Math.max(most, perMs)} ids in one millisecond)`);
});

t.test('messageIdTime reads the 48-bit time of any UUID v7 and nothing else', async (t) => {
  const id = newMessageId();
  t.equal(messageIdTime(id), parseInt(id.slice(0, 8) + id.slice(9, 13), 16));
  t.equal(messageIdTime('018f3c4e-2b7a-7def-8abc-0123456789ab'), 0x018f3c4e2b7a, 'a foreign v7 id');
  t.equal(messageIdTime('018F3C4E-2B7A-7DEF-BABC-0123456789AB'), 0x018f3c4e2b7a, 'upper case');
  t.equal(messageIdTime('018f3c4e-2b7a-4def-8abc-0123456789ab'), undefined, 'v4');
  t.equal(messageIdTime('018f3c4e-2b7a-7def-cabc-0123456789ab'), undefined, 'wrong variant');
  t.equal(messageIdTime('018f3c4g-2b7a-7def-8abc-0123456789ab'), undefined, 'not hex');
  t.equal(messageIdTime('order-42'), undefined, 'a user id');
  t.equal(messageIdTime(undefined), undefined);
  t.equal(messageIdTime(''), undefined);
  t.ok(idCarriesTime(id, messageIdTime(id)!));
  t.notOk(idCarriesTime(id, messageIdTime(id)! + 1));
  t.notOk(idCarriesTime('order-42', Date.now()));
});
