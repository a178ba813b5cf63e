import { goBytesMap, goString, goStringMap } from './go-json';
import type { HashSubject, Kdf } from './sync-hash';
import { computeSyncHash, hashInput, pbkdf2Sha512, SyncHashes } from './sync-hash';

const data = (entries: Record<string, string | Buffer | null>) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, typeof v === 'string' ? Buffer.from(v) : v] as const));

// Spec §3's vectors, from upstream's own function.
const VECTORS: Array<[string, Map<string, Buffer | null>, string, HashSubject, string]> = [
  [
    '1: bar → secret',
    data({ bar: 'secret' }),
    '{"bar":"c2VjcmV0"}',
    {
      spcUid: '11111111-2222-3333-4444-555555555555',
      spcGeneration: 1,
      ssUid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      ssGeneration: 1,
      forceSynchronization: '',
    },
    'v1:854a3903e2811c404f5930359f25b521dda567f62cfcf5a0b4d9e142eaaffde2',
  ],
  [
    '2: two keys, unsorted, HTML characters in a value',
    data({ username: 'admin', password: 'p<a>ss&word\n' }),
    '{"password":"cDxhPnNzJndvcmQK","username":"YWRtaW4="}',
    {
      spcUid: '0f4c3a10-7d7e-4d1b-9a2e-3c1e5a6b7c8d',
      spcGeneration: 3,
      ssUid: '9b2d7e44-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
      ssGeneration: 7,
      forceSynchronization: '2024-01-01',
    },
    'v1:b70549d35e7048e96b8bf90d7d3f05de0095833241da05cfa57c095fea8e4ab0',
  ],
  [
    '3: nil, empty and binary values',
    data({ a: null, b: Buffer.alloc(0), c: Buffer.from([0xff, 0x00, 0x10]) }),
    '{"a":null,"b":"","c":"/wAQ"}',
    { spcUid: 'spc-uid', spcGeneration: 0, ssUid: 'ss-uid', ssGeneration: 12, forceSynchronization: 'x' },
    'v1:112070bec60c9143ebef281191c873c0fde513f873cb8702e12f3503aa0748e0',
  ],
  [
    '4: short uids',
    data({ bar: 'secret' }),
    '{"bar":"c2VjcmV0"}',
    { spcUid: 'spc-uid', spcGeneration: 1, ssUid: 'ss-uid', ssGeneration: 1, forceSynchronization: '' },
    'v1:ae7fb5ff2a5fd0e439cddaaac7091303b62013f382fc8d537aa3bd4b2a606530',
  ],
  [
    '5: rotated value',
    data({ bar: 'rotated' }),
    '{"bar":"cm90YXRlZA=="}',
    { spcUid: 'spc-uid', spcGeneration: 1, ssUid: 'ss-uid', ssGeneration: 1, forceSynchronization: '' },
    'v1:c0ff7505cdba17e8d3f8523e63f226ca67b848ad1f50138cb1d735888cdd1a24',
  ],
];

describe('the sync hash', () => {
  it.each(VECTORS)("equals upstream's for vector %s", async (_name, map, json, subject, hash) => {
    expect(goBytesMap(map)).toBe(json);
    expect(await computeSyncHash(map, subject)).toBe(hash);
  });

  it('hashes exactly the password and salt upstream does', () => {
    const [, map, , subject] = VECTORS[0] as (typeof VECTORS)[0];
    const { password, salt } = hashInput(map, subject);
    expect(password.toString()).toBe(
      '18:{"bar":"c2VjcmV0"}11111111-2222-3333-4444-555555555555|1|aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee|1|',
    );
    expect(salt.toString()).toBe('aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
  });

  it('prefixes the JSON with its length in bytes, not characters', () => {
    const { password } = hashInput(data({ k: 'x' }), {
      spcUid: 'é',
      spcGeneration: 1,
      ssUid: 's',
      ssGeneration: 2,
      forceSynchronization: '',
    });
    expect(password.toString()).toBe('12:{"k":"eA=="}é|1|s|2|');
  });
});

describe('Go JSON', () => {
  it('escapes as Go does: HTML characters, line separators, control characters', () => {
    expect(goString('x<y>&z\u2028\u2029"\\\n\t\u0001\b\f')).toBe(
      '"x\\u003cy\\u003e\\u0026z\\u2028\\u2029\\"\\\\\\n\\t\\u0001\\b\\f"',
    );
  });

  it('sorts keys by their UTF-8 bytes', () => {
    // In UTF-16 code units U+1F600 comes first (surrogate 0xD83D); in UTF-8 bytes U+FF5E does (0xEF).
    expect(goStringMap({ b: '2', a: '1', '\u{1F600}': '3', '\uFF5E': '4' })).toBe(
      '{"a":"1","b":"2","\uFF5E":"4","\u{1F600}":"3"}',
    );
  });
});

describe('SyncHashes', () => {
  const subject: HashSubject = {
    spcUid: 'spc-uid',
    spcGeneration: 1,
    ssUid: 'ss-uid',
    ssGeneration: 1,
    forceSynchronization: '',
  };
  const counting = () => {
    const calls: number[] = [];
    const kdf: Kdf = (password, salt) => {
      calls.push(1);
      return pbkdf2Sha512(password, salt);
    };
    return { calls, kdf };
  };

  it('runs no PBKDF2 for an unchanged input while the status holds its hash', async () => {
    const { calls, kdf } = counting();
    const outcomes: string[] = [];
    const hashes = new SyncHashes({ kdf, counted: (o) => outcomes.push(o) });
    const first = await hashes.hashOf(data({ bar: 'secret' }), subject, undefined);
    expect(first).toBe(VECTORS[3]?.[4]);
    expect(await hashes.hashOf(data({ bar: 'secret' }), subject, first)).toBe(first);
    expect(await hashes.hashOf(data({ bar: 'secret' }), subject, first)).toBe(first);
    expect(calls).toHaveLength(1);
    expect(outcomes).toEqual(['computed', 'reused', 'reused']);
  });

  it('computes again when the data, a generation, forceSynchronization or the stored hash changed', async () => {
    const { calls, kdf } = counting();
    const hashes = new SyncHashes({ kdf });
    const first = await hashes.hashOf(data({ bar: 'secret' }), subject, undefined);
    const rotated = await hashes.hashOf(data({ bar: 'rotated' }), subject, first);
    expect(rotated).toBe(VECTORS[4]?.[4]);
    expect(calls).toHaveLength(2);
    await hashes.hashOf(data({ bar: 'rotated' }), { ...subject, ssGeneration: 2 }, rotated);
    await hashes.hashOf(
      data({ bar: 'rotated' }),
      { ...subject, ssGeneration: 2, forceSynchronization: 'a' },
      rotated,
    );
    expect(calls).toHaveLength(4);
    // The status lost the hash (someone else wrote it): PBKDF2 again, the same answer.
    const again = await hashes.hashOf(
      data({ bar: 'rotated' }),
      { ...subject, ssGeneration: 2, forceSynchronization: 'a' },
      'v1:other',
    );
    expect(calls).toHaveLength(5);
    expect(again).toBe(
      await computeSyncHash(data({ bar: 'rotated' }), {
        ...subject,
        ssGeneration: 2,
        forceSynchronization: 'a',
      }),
    );
  });

  it('keeps one entry per SecretSync and forgets a deleted one', async () => {
    const hashes = new SyncHashes({ kdf: async () => Buffer.alloc(32) });
    for (let i = 0; i < 5; i++)
      await hashes.hashOf(data({ k: String(i) }), { ...subject, ssUid: `u${i % 2}` }, '');
    expect(hashes.size).toBe(2);
    hashes.forget('u0');
    expect(hashes.size).toBe(1);
  });

  it('hands a PBKDF2 failure to the caller and remembers nothing', async () => {
    const hashes = new SyncHashes({
      kdf: async () => {
        throw new Error('out of memory');
      },
    });
    await expect(hashes.hashOf(data({ k: 'v' }), subject, undefined)).rejects.toThrow('out of memory');
    expect(hashes.size).toBe(0);
  });
});
