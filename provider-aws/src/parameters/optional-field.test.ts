// `optional`: an object whose absence does not fail the mount. Only true or false is accepted.
import { thrownBy } from '@sscsi/common/testing';

import { MountError } from '../errors';
import type { DescriptorContext } from './descriptors';
import { parseObjects } from './descriptors';

const ctx: DescriptorContext = { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined };

describe('optional: what the field means', () => {
  it.each<[string, string, boolean]>([
    ['no field: required, as upstream', '- {objectName: db, objectType: secretsmanager}', false],
    ['true', '- {objectName: db, objectType: secretsmanager, optional: true}', true],
    ['quoted, in any case', '- {objectName: db, objectType: secretsmanager, optional: "TRUE"}', true],
    ['the field name in any case', '- {objectName: db, objectType: secretsmanager, Optional: True}', true],
    ['false', '- {objectName: db, objectType: secretsmanager, optional: false}', false],
    ['empty: not set', '- {objectName: db, objectType: secretsmanager, optional: ""}', false],
    ['on an SSM parameter', '- {objectName: /app/flag, objectType: ssmparameter, optional: true}', true],
  ])('%s', (_, objects, optional) => {
    expect(parseObjects(objects, ctx)[0]?.optional).toBe(optional);
  });

  it('goes with every other field: jmesPath, a tree, a failover object', () => {
    const ds = parseObjects(
      `
      - objectName: db
        objectType: secretsmanager
        optional: true
        jmesPath: [{path: username, objectAlias: user}]
      - {objectName: config, objectType: secretsmanager, jsonKeysAsFiles: "true", optional: true}
      - {objectName: /app/prod, objectType: ssmparameter, parametersUnderPath: direct, optional: true}
      - {objectName: api, objectType: secretsmanager, objectAlias: api, optional: true, failoverObject: {objectName: api-dr}}
    `,
      { ...ctx, failoverRegion: 'us-west-2' },
    );
    expect(ds.map((d) => d.optional)).toEqual([true, true, true, true]);
    expect(ds[0]?.jmesPath.map((j) => j.fileName)).toEqual(['user']);
    expect(ds[2]?.tree?.kind).toBe('parametersUnderPath');
    expect(ds[3]?.failover?.objectName).toBe('api-dr');
  });
});

describe('optional: refused when it is not true or false', () => {
  it.each<[string, string]>([
    ['yes', 'optional: "yes"'],
    ['a number', 'optional: 1'],
    ['a list', 'optional: [true]'],
    ['a mapping', 'optional: {value: true}'],
  ])('%s', (_, field) => {
    const err = thrownBy(
      () => parseObjects(`- {objectName: db, objectType: secretsmanager, ${field}}`, ctx),
      MountError,
    );
    expect(err.reason).toBe('InvalidParameters');
    expect(err.message).toMatch(/^object "db": optional must be true or false, got /);
  });
});
