// jsonKeysAsFiles and parametersUnderPath: objects written as a directory of files.
import { thrownBy } from '@sscsi/common/testing';

import { MountError } from '../errors';
import type { DescriptorContext } from './descriptors';
import { parseObjects } from './descriptors';

const ctx: DescriptorContext = { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined };
const withFailover: DescriptorContext = { ...ctx, failoverRegion: 'us-west-2' };

describe('objects written as many files: what the fields mean', () => {
  it.each<[string, string, DescriptorContext, { fileName: string; tree: unknown; writesFile: boolean }]>([
    [
      'a JSON secret split into keys, in the directory of its name',
      '- {objectName: db-creds, objectType: secretsmanager, jsonKeysAsFiles: "true"}',
      ctx,
      { fileName: 'db-creds', tree: { kind: 'jsonKeys', pathTranslation: '_' }, writesFile: false },
    ],
    [
      'field names and values in any case',
      '- {objectName: db-creds, objectType: secretsmanager, JSONKeysAsFiles: "TRUE"}',
      ctx,
      { fileName: 'db-creds', tree: { kind: 'jsonKeys', pathTranslation: '_' }, writesFile: false },
    ],
    [
      'jsonKeysAsFiles false: one file as usual',
      '- {objectName: db-creds, objectType: secretsmanager, jsonKeysAsFiles: "false"}',
      ctx,
      { fileName: 'db-creds', tree: undefined, writesFile: true },
    ],
    [
      'a JSON SSM parameter split into keys, in its alias',
      '- {objectName: /app/config, objectType: ssmparameter, objectAlias: config, jsonKeysAsFiles: "true"}',
      ctx,
      { fileName: 'config', tree: { kind: 'jsonKeys', pathTranslation: '_' }, writesFile: false },
    ],
    [
      'the parameters directly under a path',
      '- {objectName: /app/prod, objectType: ssmparameter, parametersUnderPath: direct}',
      ctx,
      {
        fileName: '_app_prod',
        tree: { kind: 'parametersUnderPath', recursive: false, pathTranslation: '_' },
        writesFile: false,
      },
    ],
    [
      'every parameter under a path, translation off',
      '- {objectName: /app/prod, objectType: ssmparameter, parametersUnderPath: Recursive}',
      { ...ctx, pathTranslation: '' },
      {
        fileName: 'app/prod',
        tree: { kind: 'parametersUnderPath', recursive: true, pathTranslation: '' },
        writesFile: false,
      },
    ],
    [
      'a tree with a failover path',
      '- {objectName: /app/prod, objectType: ssmparameter, objectAlias: prod, parametersUnderPath: recursive, failoverObject: {objectName: /app/prod-dr}}',
      withFailover,
      {
        fileName: 'prod',
        tree: { kind: 'parametersUnderPath', recursive: true, pathTranslation: '_' },
        writesFile: false,
      },
    ],
  ])('%s', (_name, objects, context, expected) => {
    const [d] = parseObjects(objects, context);
    expect(d).toMatchObject(expected);
  });

  it('keeps a jmesPath file next to the keys of the same secret', () => {
    const [d] = parseObjects(
      '- {objectName: db, objectType: secretsmanager, jsonKeysAsFiles: "true", jmesPath: [{path: username, objectAlias: user}]}',
      ctx,
    );
    expect(d?.jmesPath).toEqual([{ path: 'username', fileName: 'user', mode: undefined }]);
  });
});

describe('objects written as many files: one clear error per rule', () => {
  it.each<[string, string, RegExp, DescriptorContext?]>([
    [
      'jsonKeysAsFiles that is not a boolean',
      '- {objectName: db, objectType: secretsmanager, jsonKeysAsFiles: yes}',
      /object "db": jsonKeysAsFiles must be true or false, got "yes"/,
    ],
    [
      'an unknown parametersUnderPath',
      '- {objectName: /app, objectType: ssmparameter, parametersUnderPath: "true"}',
      /object "\/app": parametersUnderPath must be "direct" \(the parameters one level under the path\) or "recursive" \(all of them\), got "true"/,
    ],
    [
      'parametersUnderPath on a secret',
      '- {objectName: db, objectType: secretsmanager, parametersUnderPath: direct}',
      /object "db": parametersUnderPath cannot be used with a Secrets Manager object/,
    ],
    [
      'parametersUnderPath with jsonKeysAsFiles',
      '- {objectName: /app, objectType: ssmparameter, parametersUnderPath: direct, jsonKeysAsFiles: "true"}',
      /parametersUnderPath cannot be used with jsonKeysAsFiles/,
    ],
    [
      'parametersUnderPath with jmesPath',
      '- {objectName: /app, objectType: ssmparameter, parametersUnderPath: direct, jmesPath: [{path: a, objectAlias: b}]}',
      /parametersUnderPath cannot be used with jmesPath/,
    ],
    [
      'parametersUnderPath with a version',
      '- {objectName: /app, objectType: ssmparameter, parametersUnderPath: direct, objectVersionLabel: prod}',
      /parametersUnderPath cannot be used with objectVersion or objectVersionLabel/,
    ],
    [
      'a path without its leading slash',
      '- {objectName: app/prod, objectType: ssmparameter, parametersUnderPath: direct}',
      /object "app\/prod": objectName must be a parameter path starting with "\/" \(such as \/app\/prod\) when parametersUnderPath is set, got "app\/prod"/,
    ],
    [
      'a parameter ARN for a path',
      '- {objectName: "arn:aws:ssm:us-east-1:111122223333:parameter/app", parametersUnderPath: direct}',
      /objectName must be a parameter path starting with "\/"/,
    ],
    [
      'a failover path without its leading slash',
      '- {objectName: /app, objectAlias: app, objectType: ssmparameter, parametersUnderPath: direct, failoverObject: {objectName: app-dr}}',
      /failoverObject objectName must be a parameter path starting with "\/"/,
      withFailover,
    ],
    [
      'two trees in one directory',
      '- {objectName: /a/x, objectType: ssmparameter, objectAlias: d, parametersUnderPath: direct}\n- {objectName: db, objectType: secretsmanager, objectAlias: d, jsonKeysAsFiles: "true"}',
      /directory "d" is filled by both "\/a\/x" and "db": give one an objectAlias/,
    ],
    [
      'a file where a tree writes its directory',
      '- {objectName: /a/x, objectType: ssmparameter, objectAlias: d, parametersUnderPath: direct}\n- {objectName: db, objectType: secretsmanager, objectAlias: d}',
      /file name "d" would be in the directory "d" that "\/a\/x" fills with its files/,
    ],
    [
      'a file inside the directory of a tree',
      '- {objectName: db, objectType: secretsmanager, objectAlias: creds, jsonKeysAsFiles: "true"}\n- {objectName: other, objectType: secretsmanager, objectAlias: creds/extra}',
      /file name "creds\/extra" would be in the directory "creds" that "db" fills with its files/,
      { ...ctx, pathTranslation: '' },
    ],
    [
      'a jmesPath file inside the directory of its own keys',
      '- {objectName: db, objectType: secretsmanager, jsonKeysAsFiles: "true", jmesPath: [{path: a, objectAlias: db/a}]}',
      /file name "db\/a" would be in the directory "db" that "db" fills/,
      { ...ctx, pathTranslation: '' },
    ],
    [
      'a tree inside the directory of another',
      '- {objectName: /a, objectType: ssmparameter, objectAlias: d, parametersUnderPath: direct}\n- {objectName: /b, objectType: ssmparameter, objectAlias: d/b, parametersUnderPath: direct}',
      /directory "d\/b" would be in the directory "d" that "\/a" fills with its files/,
      { ...ctx, pathTranslation: '' },
    ],
    [
      'a tree inside a file',
      '- {objectName: db, objectType: secretsmanager, objectAlias: d}\n- {objectName: /b, objectType: ssmparameter, objectAlias: d/b, parametersUnderPath: direct}',
      /directory "d\/b" would be inside "d", which is a file/,
      { ...ctx, pathTranslation: '' },
    ],
  ])('refuses %s', (_name, objects, message, context = ctx) => {
    const caught = thrownBy(() => parseObjects(objects, context), MountError);
    expect(caught).toMatchObject({ reason: 'InvalidParameters', message: expect.stringMatching(message) });
  });
});
