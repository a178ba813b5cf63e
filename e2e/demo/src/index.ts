// The walkthroughs `make demo` prints (main.ts runs them), for the end-to-end tests that run the
// same steps, and the article's material (manifests, policies), which the linter's tests read too.
export * from './article';
export * from './node-walkthrough';
export * from './steps';
export * from './walkthrough';
export * from './secret-syncs';
