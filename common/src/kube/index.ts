export * from './api';
export * from './client';
export * from './connection';
export * from './errors';
export * from './informer';
export * from './resources';
export * from './types';
