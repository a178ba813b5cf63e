export * from './grpc-server';
export * from './logger';
export * from './metrics';
export * from './status-error';
export * from './kube';
export * from './flags';
export * from './shutdown';
export * from './program';
