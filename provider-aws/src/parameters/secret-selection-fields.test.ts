// objectNamePrefix and objectTags: an objects entry without objectName that selects Secrets
// Manager secrets, written as a directory with one file per match.
import { thrownBy } from '@sscsi/common/testing';

import { MountError } from '../errors';
import type { DescriptorContext } from './descriptors';
import { objectLabel, parseObjects } from './descriptors';

const ctx: DescriptorContext = { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined };

describe('secrets selected by name prefix and tags: what the fields mean', () => {
  it.each<[string, string, DescriptorContext, { fileName: string; tree: unknown }]>([
    [
      'a prefix: the directory is the prefix without its last /, after path translation',
      '- {objectNamePrefix: prod/app/}',
      ctx,
      {
        fileName: 'prod_app',
        tree: { kind: 'secretsSelected', namePrefix: 'prod/app/', tags: {}, pathTranslation: '_' },
      },
    ],
    [
      'a prefix with translation off',
      '- {objectNamePrefix: prod/app/, objectType: secretsmanager}',
      { ...ctx, pathTranslation: '' },
      {
        fileName: 'prod/app',
        tree: { kind: 'secretsSelected', namePrefix: 'prod/app/', tags: {}, pathTranslation: '' },
      },
    ],
    [
      'tags and an alias, field names in any case',
      '- {OBJECTTAGS: {team: payments, env: prod}, objectalias: payments, objectType: SecretsManager}',
      ctx,
      {
        fileName: 'payments',
        tree: {
          kind: 'secretsSelected',
          namePrefix: undefined,
          tags: { team: 'payments', env: 'prod' },
          pathTranslation: '_',
        },
      },
    ],
    [
      'both, and a tag with an empty value',
      '- {objectNamePrefix: db-, objectTags: {rotated: ""}}',
      ctx,
      {
        fileName: 'db-',
        tree: { kind: 'secretsSelected', namePrefix: 'db-', tags: { rotated: '' }, pathTranslation: '_' },
      },
    ],
  ])('%s', (_name, objects, context, expected) => {
    const [d] = parseObjects(objects, context);
    expect(d).toMatchObject({ ...expected, writesFile: false, objectType: 'secretsmanager', jmesPath: [] });
  });

  it('applies filePermission to every match', () => {
    const [d] = parseObjects('- {objectNamePrefix: prod/, filePermission: "0600"}', ctx);
    expect(d?.mode).toBe(0o600);
  });

  it('names a selection in messages by what it selects', () => {
    const [d] = parseObjects('- {objectNamePrefix: prod/, objectTags: {team: a}, objectAlias: x}', ctx);
    expect(objectLabel(d!)).toBe(
      'the secrets selected by objectNamePrefix "prod/" and objectTags {"team":"a"}',
    );
  });
});

describe('secrets selected by name prefix and tags: what is refused, and the message', () => {
  it.each<[string, string, RegExp]>([
    [
      'objectName with a prefix',
      '- {objectName: a, objectType: secretsmanager, objectNamePrefix: a/}',
      /give one or the other/,
    ],
    [
      'an SSM type',
      '- {objectNamePrefix: a/, objectType: ssmparameter}',
      /objectType must be secretsmanager/,
    ],
    ['an empty selection', '- {objectTags: {}}', /give objectNamePrefix, objectTags, or both/],
    [
      'tags without an alias',
      '- {objectTags: {team: a}}',
      /objectAlias, the directory the matches are written in, is required without objectNamePrefix/,
    ],
    [
      'tags alone, none a ListSecrets filter can carry (the whole account listed at every mount)',
      '- {objectTags: {équipe: paiements, "!team": a}, objectAlias: x}',
      /^objects entry 1 \(the secrets selected by objectTags \{"équipe":"paiements","!team":"a"\}\): no tag key of objectTags can be sent to ListSecrets as a filter .* so the provider would list every secret of the account at every mount: add objectNamePrefix, or a tag whose key a filter can carry$/,
    ],
    ['a negating prefix', '- {objectNamePrefix: "!prod"}', /start of a secret name/],
    ['a prefix with a character no name has', '- {objectNamePrefix: "prod app"}', /start of a secret name/],
    ['a prefix too long', `- {objectNamePrefix: ${'a'.repeat(513)}}`, /start of a secret name/],
    ['tags as a list', '- {objectNamePrefix: a/, objectTags: [team]}', /objectTags must be a mapping/],
    [
      'a tag whose value is a mapping',
      '- {objectNamePrefix: a/, objectTags: {team: {x: y}}}',
      /must have a string value/,
    ],
    [
      'too many tags',
      `- {objectAlias: x, objectTags: {${Array.from({ length: 11 }, (_, i) => `k${i}: v`).join(', ')}}}`,
      /more than 10 tags/,
    ],
    [
      'a version',
      '- {objectNamePrefix: a/, objectVersion: v1}',
      /objectVersion cannot be used with objectNamePrefix/,
    ],
    [
      'a version label',
      '- {objectNamePrefix: a/, objectVersionLabel: AWSPREVIOUS}',
      /objectVersionLabel cannot be used/,
    ],
    [
      'jmesPath',
      '- {objectNamePrefix: a/, jmesPath: [{path: x, objectAlias: y}]}',
      /jmesPath cannot be used/,
    ],
    [
      'jsonKeysAsFiles',
      '- {objectNamePrefix: a/, jsonKeysAsFiles: "true"}',
      /jsonKeysAsFiles cannot be used/,
    ],
    [
      'a failoverObject',
      '- {objectNamePrefix: a/, failoverObject: {objectName: b}}',
      /failoverObject cannot be used/,
    ],
    [
      'a prefix naming no file',
      '- {objectNamePrefix: /}',
      /objectAlias.* is required when the prefix names no directory/,
    ],
    ['an alias leaving the mount', '- {objectNamePrefix: a/, objectAlias: ..}', /would leave the mount/],
  ])('%s', (_name, objects, message) => {
    const err = thrownBy(() => parseObjects(objects, ctx), MountError);
    expect(err.reason).toBe('InvalidParameters');
    expect(err.message).toMatch(message);
  });

  it('names the entry in the message', () => {
    const err = thrownBy(
      () => parseObjects('- {objectName: a, objectType: secretsmanager}\n- {objectNamePrefix: "!x"}', ctx),
      MountError,
    );
    expect(err.message).toMatch(/^objects entry 2 \(the secrets selected by objectNamePrefix "!x"\)/);
  });

  it('keeps the directory to the selection: no other object writes into it', () => {
    const objects =
      '- {objectNamePrefix: prod/app/, objectAlias: app}\n- {objectName: x, objectType: secretsmanager, objectAlias: app/x}';
    const err = thrownBy(() => parseObjects(objects, { ...ctx, pathTranslation: '' }), MountError);
    expect(err.message).toMatch(
      /would be in the directory "app" that the secrets selected by objectNamePrefix "prod\/app\/" fills/,
    );
  });

  it('refuses two selections filling one directory', () => {
    const objects = '- {objectNamePrefix: a/, objectAlias: d}\n- {objectTags: {t: v}, objectAlias: d}';
    expect(thrownBy(() => parseObjects(objects, ctx), MountError).message).toBe(
      'directory "d" is filled by both the secrets selected by objectNamePrefix "a/" and the secrets selected by objectTags {"t":"v"}: give one an objectAlias',
    );
  });
});

describe('an optional selection', () => {
  it('takes optional as any object does: true or false, nothing else', () => {
    const [optional] = parseObjects('- {objectNamePrefix: prod/app/, optional: true}', ctx);
    expect(optional?.optional).toBe(true);
    const [required] = parseObjects('- {objectNamePrefix: prod/app/}', ctx);
    expect(required?.optional).toBe(false);
    expect(
      thrownBy(
        () => parseObjects('- {objectTags: {team: a}, objectAlias: a, optional: yes}', ctx),
        MountError,
      ).message,
    ).toBe(
      'objects entry 1 (the secrets selected by objectTags {"team":"a"}): optional must be true or false, got "yes"',
    );
  });
});
