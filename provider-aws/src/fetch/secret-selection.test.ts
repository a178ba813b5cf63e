// Listing the secrets an entry selects: filters sent to AWS, the exact check after them, pages,
// the limit, and the names of the files.
import { rejectionOf } from '@sscsi/common/testing';

import { FakeAws } from '../testing/fake-aws';
import { listSelectedSecrets, nameInSelection, selectionFilters, selects } from './secret-selection';

const REGION = 'us-east-1';
const current = (value: string, id = 'v1') => ({ [id]: { value, stages: ['AWSCURRENT'] } });

function aws(): FakeAws {
  const fake = new FakeAws();
  fake.putSecret(REGION, 'prod/app/db', current('d', 'db-1'), { team: 'payments' });
  fake.putSecret(REGION, 'prod/app/api', current('a', 'api-1'), { team: 'payments', env: 'prod' });
  fake.putSecret(REGION, 'prod/application', current('x'), { team: 'payments' });
  fake.putSecret(REGION, 'Prod/app/upper', current('u'), { team: 'payments' });
  fake.putSecret(REGION, 'prod/other', current('o'), { team: 'paymentsX', teamX: 'payments' });
  return fake;
}

const client = (fake: FakeAws) => fake.clients.secretsManager(REGION, {} as never);
const request = (
  namePrefix: string | undefined,
  tags: Record<string, string> = {},
  maxMatches = 100,
  maxListed = 1000,
) => ({
  namePrefix,
  tags,
  maxMatches,
  tooMany: () => new Error('too many'),
  maxListed,
  tooManyListed: () => new Error('too many listed'),
});

describe('listSelectedSecrets', () => {
  it('selects by prefix, case-sensitive, in name order, with each current version', async () => {
    const matches = await listSelectedSecrets(client(aws()), request('prod/app/'));
    expect(matches).toEqual([
      { name: 'prod/app/api', currentVersion: 'api-1' },
      { name: 'prod/app/db', currentVersion: 'db-1' },
    ]);
  });

  it('selects by tags exactly, although AWS matches tag keys and values as prefixes, on any tag', async () => {
    const matches = await listSelectedSecrets(client(aws()), request(undefined, { team: 'payments' }));
    expect(matches.map((m) => m.name)).toEqual([
      'Prod/app/upper',
      'prod/app/api',
      'prod/app/db',
      'prod/application',
    ]);
    const both = await listSelectedSecrets(
      client(aws()),
      request('prod/', { team: 'payments', env: 'prod' }),
    );
    expect(both.map((m) => m.name)).toEqual(['prod/app/api']);
  });

  it('sends the prefix and one tag as filters, and asks for full pages', async () => {
    const fake = aws();
    await listSelectedSecrets(client(fake), request('prod/', { team: 'payments', env: 'prod' }));
    expect(fake.calls[0]?.input).toEqual({
      Filters: [
        { Key: 'name', Values: ['prod/'] },
        { Key: 'tag-key', Values: ['team'] },
        { Key: 'tag-value', Values: ['payments'] },
      ],
      MaxResults: 100,
      NextToken: undefined,
    });
  });

  it('never sends a tag a filter cannot hold, or would read as a negation', () => {
    expect(selectionFilters({ namePrefix: undefined, tags: { équipe: 'a', team: '!x' } })).toEqual([
      { Key: 'tag-key', Values: ['team'] },
    ]);
    expect(selectionFilters({ namePrefix: undefined, tags: { '!team': 'a' } })).toEqual([]);
  });

  it('checks what AWS lists: a tag key and value on two different tags do not select', () => {
    const entry = {
      Name: 'x',
      Tags: [
        { Key: 'team', Value: 'b' },
        { Key: 'other', Value: 'a' },
      ],
    };
    expect(selects({ namePrefix: undefined, tags: { team: 'a' } }, entry)).toBe(false);
    expect(selects({ namePrefix: undefined, tags: { team: 'b' } }, entry)).toBe(true);
  });

  it('reads page after page', async () => {
    const fake = aws();
    fake.listPageSize = 1;
    const matches = await listSelectedSecrets(client(fake), request('prod/app/'));
    expect(matches).toHaveLength(2);
    expect(fake.count('ListSecrets')).toBe(2);
  });

  it('stops as soon as more secrets match than the limit', async () => {
    const fake = aws();
    fake.listPageSize = 1;
    const err = await rejectionOf(
      listSelectedSecrets(client(fake), request(undefined, { team: 'payments' }, 1)),
      Error,
    );
    expect(err.message).toBe('too many');
    // Two of the five pages AWS would list: the second one's match is one too many.
    expect(fake.count('ListSecrets')).toBe(2);
  });

  it('stops before listing more secrets than its bound, matches or not', async () => {
    const fake = aws();
    fake.listPageSize = 1;
    // The filters let through four secrets ("prod/..."; no filter carries the tag), none matches.
    const err = await rejectionOf(
      listSelectedSecrets(client(fake), request('prod/', { équipe: 'x' }, 100, 2)),
      Error,
    );
    expect(err.message).toBe('too many listed');
    expect(fake.count('ListSecrets')).toBe(2);
    // Exactly the bound listed, nothing more to list: no error.
    fake.listPageSize = 100;
    expect(await listSelectedSecrets(client(fake), request('prod/app/', {}, 100, 2))).toHaveLength(2);
  });

  it('fails as the listing fails', async () => {
    const fake = aws();
    fake.failNext('ListSecrets', () => Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    expect((await rejectionOf(listSelectedSecrets(client(fake), request('prod/')), Error)).name).toBe(
      'AccessDeniedException',
    );
  });
});

describe('nameInSelection', () => {
  it.each<[string | undefined, string, string]>([
    ['prod/app/', 'prod/app/db', 'db'],
    ['prod/app/', 'prod/app/db/main', 'db/main'],
    ['prod/app', 'prod/application', 'application'],
    ['prod/app', 'prod/app', 'app'],
    ['db-', 'db-main', 'db-main'],
    [undefined, 'prod/app/db', 'prod/app/db'],
  ])('prefix %j, secret %j: %j', (prefix, name, expected) => {
    expect(nameInSelection(prefix, name)).toBe(expected);
  });
});
