// The part of the SSM package the provider uses. aws-clients.ts loads this module on first use,
// by a path relative to itself, so that the bundled provider (scripts/bundle.mjs) keeps it a file of
// its own too: SSM's schemas stay out of memory where a cluster reads only Secrets Manager.
export { GetParametersByPathCommand, GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
