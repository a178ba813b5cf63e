// What tests of every program share: the fake Kubernetes API and test loggers. Imported as
// @sscsi/common/testing, which no program's build includes (see the workspaces' tsconfig.json).
export * from './fake-kube';
export * from './fake-provider-server';
export * from './logger';
export * from './loopback-server';
export * from './held-call';
export * from './openssl';
export * from './thrown';
export * from './until';
