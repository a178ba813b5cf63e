import fs from 'node:fs';
import path from 'node:path';

import type * as Validation from './validation';

/** The AWS SDK packages the provider depends on: every way into the SDK goes through one of them. */
function awsSdkPackages(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  return Object.keys(pkg.dependencies).filter((name) => name.startsWith('@aws-sdk/'));
}

describe('the validation entry (secrets-store-csi-driver-provider-aws/validation)', () => {
  it('loads no AWS SDK package, and parses a mount as the provider does', () => {
    const packages = awsSdkPackages();
    expect(packages).toEqual(
      expect.arrayContaining(['@aws-sdk/client-sts', '@aws-sdk/client-secrets-manager']),
    );
    const loads: string[] = [];
    jest.isolateModules(() => {
      for (const name of packages) {
        jest.doMock(name, () => {
          loads.push(name);
          return jest.requireActual<object>(name);
        });
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- inside isolateModules
      const validation = require('./validation') as typeof Validation;
      const objects = validation.parseObjects('- {objectName: MyDBSecret, objectType: secretsmanager}', {
        pathTranslation: '_',
        region: 'eu-west-1',
        failoverRegion: undefined,
      });
      expect(objects.map((o) => o.fileName)).toEqual(['MyDBSecret']);
    });
    expect(loads).toEqual([]);
  });

  it('is the package export the linter imports', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
      exports: Record<string, string>;
    };
    expect(pkg.exports['./validation']).toBe('./dist/validation.js');
  });
});
