// Two test layers. `unit`: pure logic beside the code (*.test.ts). `lab`: tests that need the lab
// (*.lab.test.ts beside the code, and everything under e2e/tests); they run one file at a time.
const workspaces = [
  '<rootDir>/proto/src',
  '<rootDir>/common/src',
  '<rootDir>/driver/src',
  '<rootDir>/provider-aws/src',
  '<rootDir>/sync-controller/src',
  '<rootDir>/e2e/src',
  '<rootDir>/e2e/aws-gate/src',
  '<rootDir>/e2e/demo/src',
  '<rootDir>/lint/src',
];

const shared = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  // Tests run from the TypeScript sources of every workspace, no build needed for imports.
  // The linter imports the driver's and the provider's parsers through their validation entries.
  // Tests' fakes and harnesses: @sscsi/common/testing, never part of @sscsi/common's build.
  moduleNameMapper: {
    '^@sscsi/(proto|common|e2e)$': '<rootDir>/$1/src',
    '^@sscsi/common/testing$': '<rootDir>/common/src/testing',
    '^@sscsi/(aws-gate|demo)$': '<rootDir>/e2e/$1/src',
    '^secrets-store-csi-driver/validation$': '<rootDir>/driver/src/validation',
    '^secrets-store-csi-driver-provider-aws/validation$': '<rootDir>/provider-aws/src/validation',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
};

module.exports = {
  // Lab tests start processes and wait for real retries; unit tests finish long before this.
  testTimeout: 120000,
  testSequencer: '<rootDir>/e2e/test-sequencer.js',
  projects: [
    {
      ...shared,
      displayName: 'unit',
      roots: workspaces,
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['\\.lab\\.test\\.ts$', '/dist/'],
    },
    {
      ...shared,
      displayName: 'lab',
      roots: [...workspaces, '<rootDir>/e2e/tests'],
      testMatch: ['**/*.lab.test.ts', '<rootDir>/e2e/tests/**/*.test.ts'],
      testPathIgnorePatterns: ['/dist/'],
    },
  ],
};
