import { parseObjects } from '../parameters/descriptors';
import { NameBatch, parameterBatches, parameterNameOf, parametersByName, selectorOf } from './ssm-names';

const ctx = { pathTranslation: '_', region: 'us-east-1', failoverRegion: 'us-west-2' };

describe('parameterBatches', () => {
  const param = (name: string, extra = '') => `- {objectName: "${name}", objectType: ssmparameter${extra}}`;

  it('puts at most ten parameters in a call', () => {
    const ds = parseObjects(Array.from({ length: 23 }, (_, i) => param(`/p${i}`)).join('\n'), ctx);
    expect(parameterBatches(ds).map((b) => b.length)).toEqual([10, 10, 3]);
  });

  it('never asks for one name twice in a call', () => {
    const ds = parseObjects(
      [param('/a'), param('/a', ', objectAlias: a1, objectVersion: "1"'), param('/b')].join('\n'),
      ctx,
    );
    const batches = parameterBatches(ds);
    expect(batches).toHaveLength(2);
    for (const b of batches) expect(new Set(b.map((d) => d.objectName)).size).toBe(b.length);
  });

  it("counts an object's failover name as one of its names", () => {
    const ds = parseObjects(
      [param('/a', ', objectAlias: a, failoverObject: {objectName: /b}'), param('/b')].join('\n'),
      ctx,
    );
    expect(parameterBatches(ds).map((b) => b.map((d) => d.objectName))).toEqual([['/a'], ['/b']]);
  });
});

describe('NameBatch', () => {
  it('takes ten items, none with a name already in it', () => {
    const batch = new NameBatch<string>();
    for (let i = 0; i < 9; i++) batch.add(`/p/${i}:2`, [`/p/${i}`]);
    expect(batch.fits(['/p/3'])).toBe(false);
    expect(batch.fits(['/q', '/p/8'])).toBe(false);
    expect(batch.fits(['/q'])).toBe(true);
    batch.add('/q', ['/q']);
    expect(batch.fits(['/r'])).toBe(false);
    expect(batch.items).toHaveLength(10);
  });
});

describe('selectors', () => {
  it.each([
    [{ name: '/a', version: undefined, label: undefined }, '/a'],
    [{ name: '/a', version: '3', label: undefined }, '/a:3'],
    [{ name: '/a', version: undefined, label: 'prod' }, '/a:prod'],
  ])('%j is sent as %s, and its name is found again', (req, selector) => {
    expect(selectorOf(req)).toBe(selector);
    expect(parameterNameOf(selector)).toBe(req.name);
  });

  it.each([
    ['/app/db/password', '/app/db/password'],
    ['/app/db/password:3', '/app/db/password'],
    ['name:label', 'name'],
    [
      'arn:aws:ssm:us-east-1:111122223333:parameter/app/x',
      'arn:aws:ssm:us-east-1:111122223333:parameter/app/x',
    ],
    [
      'arn:aws:ssm:us-east-1:111122223333:parameter/app/x:7',
      'arn:aws:ssm:us-east-1:111122223333:parameter/app/x',
    ],
  ])('the name of %s is %s', (selector, name) => {
    expect(parameterNameOf(selector)).toBe(name);
  });
});

describe('parametersByName', () => {
  it('finds an answer by its Name or its ARN, whatever the Selector field says', () => {
    const arn = 'arn:aws:ssm:us-east-1:111122223333:parameter/app/x';
    const byName = parametersByName([
      { Name: '/app/x', ARN: arn, Value: 'x', Version: 3 },
      { Name: '/app/y', Value: 'y' },
    ]);
    expect(byName.get('/app/x')?.Value).toBe('x');
    expect(byName.get(arn)?.Value).toBe('x');
    expect(byName.get('/app/y')?.Value).toBe('y');
    expect(byName.get('/app/x:3')).toBeUndefined();
    expect(parametersByName(undefined).size).toBe(0);
  });
});
