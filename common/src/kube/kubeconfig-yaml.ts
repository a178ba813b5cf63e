// The YAML parser, for kubeconfig files only. connection.ts loads this module on first use, by a
// path relative to itself: in a cluster, where no kubeconfig is read, YAML costs no memory, and the
// bundle (scripts/bundle.mjs) keeps it a file of its own.
export { parse } from 'yaml';
