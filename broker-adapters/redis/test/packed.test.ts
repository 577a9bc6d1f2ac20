// The packed command: byte for byte what ioredis itself writes for the same command, for every
// kind of argument a send carries (ASCII keys and ids, non-ASCII headers, long strings, bytes).
import t from 'tap';
import { Command } from 'ioredis';
import { PackedCommand, pack } from '../src/packed.js';

function ioredisBytes(name: string, args: (string | Buffer)[]): Buffer {
  const wire = new Command(name, [...args], { replyEncoding: 'utf8' }).toWritable({});
  return Buffer.isBuffer(wire) ? wire : Buffer.from(wire, 'utf8');
}

t.test('the same bytes as ioredis for a send', async (t) => {
  const body = Buffer.from(JSON.stringify({ t: 1, p: 'x'.repeat(1024) }));
  const args = [
    'bk:q:mail.out',
    'NOMKSTREAM',
    '*',
    'id',
    '01a23380-19ad-73ba-9bbb-41f6db7407e8',
    'type',
    'application/json',
    'h:ünï',
    'cödé ✓ 😀',
    'h:long',
    'y'.repeat(70),
    'h:long-unicode',
    'ü'.repeat(70),
    'h:empty',
    '',
    'body',
    body,
  ];
  t.same(pack('XADD', args), ioredisBytes('XADD', args));
  t.same(new PackedCommand('XADD', [...args]).toWritable(), ioredisBytes('XADD', args));
});

t.test('lengths across digit counts, empty and large bodies', async (t) => {
  for (const size of [0, 1, 9, 10, 99, 100, 999, 1_000, 9_999, 10_000, 123_456]) {
    const args = ['k', Buffer.alloc(size, 0xfe), 's'.repeat(size)];
    t.same(pack('XADD', args), ioredisBytes('XADD', args), `size ${size}`);
  }
  const many = Array.from({ length: 40 }, (_, i) => `f${i}`);
  t.same(pack('HSET', many), ioredisBytes('HSET', many), 'more arguments than the first length table');
});

t.test('sending again gives the same bytes', async (t) => {
  const command = new PackedCommand('XADD', ['k', '*', 'body', Buffer.from('a')]);
  const first = command.toWritable();
  t.equal(command.toWritable(), first);
});
