export * from './cluster';
export * from './kubelet-standin';
export * from './lab';
export * from './processes';
export * from './test-provider';
export * from './environment';
